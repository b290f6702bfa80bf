// Command ztp runs the zero-touch provisioning story end to end on the
// software SIM, on 127.0.0.1 only: a device whose SIM generates a key pair,
// enrolls it over EST with a local CA, receives its certificate on the SIM
// through the operator, connects to its cloud with mutual TLS, renews the
// certificate without an outage, and is cut off when the operator revokes
// the certificate and removes the credential from the SIM.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/examples/internal/mosquitto"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/provision"
	"github.com/go-iotsafe/iotsafe/provision/est"
	"github.com/go-iotsafe/iotsafe/signer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ztp:", err)
		os.Exit(1)
	}
}

// step prints one numbered step of the story.
type stepper struct {
	w io.Writer
	n int
}

func (s *stepper) say(format string, args ...any) {
	s.n++
	fmt.Fprintf(s.w, "%2d. %s\n", s.n, fmt.Sprintf(format, args...))
}

func (s *stepper) detail(format string, args ...any) {
	fmt.Fprintf(s.w, "    %s\n", fmt.Sprintf(format, args...))
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ztp", flag.ContinueOnError)
	dir := fs.String("dir", "", "working directory (default: a new temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "iotsafe-ztp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := &stepper{w: out}

	// The SIM.
	state := filepath.Join(*dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		return err
	}
	applet, err := iotsafe.Open(ctx, card, nil)
	if err != nil {
		return err
	}
	defer applet.Close()
	st.say("SIM created: IoT SAFE applet %X on logical channel %d (software SIM %s)", applet.AID(), applet.Channel(), state)

	// The CA with its EST server, and the cloud, on 127.0.0.1.
	ca, err := estserver.LoadOrCreateCA(filepath.Join(*dir, "ca"), "go-iotsafe demo device CA")
	if err != nil {
		return err
	}
	// The SIM maker's factory CA reaches the operator's CA out of band; here
	// it is read off the SIM. Devices enrol with their factory credential; a
	// bootstrap password remains the fallback for SIMs without one.
	factoryCADER, err := applet.ReadFile(ctx, iotsafe.ByLabel("ca-cert"))
	if err != nil {
		return err
	}
	factoryCA, err := x509.ParseCertificate(factoryCADER)
	if err != nil {
		return err
	}
	bootstrapRoots := x509.NewCertPool()
	bootstrapRoots.AddCert(factoryCA)
	estURL, stopEST, err := serveTLS(ca, &estserver.Server{CA: ca, BootstrapRoots: bootstrapRoots,
		Username: "factory", Password: "bootstrap-secret",
		Policy: estserver.Policy{Organization: []string{"Example Utility"}}})
	if err != nil {
		return err
	}
	defer stopEST()
	var cloudRefusal atomic.Value // the cloud's last reason to refuse a device
	cloudURL, stopCloud, err := serveTLS(ca, cloudHandler(), func(c *tls.Config) {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
		// Revocation is checked at every connection, resumed ones too
		// (VerifyPeerCertificate is not called when a session resumes).
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			err := ca.VerifyPeer(nil, [][]*x509.Certificate{cs.PeerCertificates})
			if err != nil {
				cloudRefusal.Store(err.Error())
			}
			return err
		}
	})
	if err != nil {
		return err
	}
	defer stopCloud()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	st.say("EST server %s and cloud %s started (local CA %q)", estURL, cloudURL, ca.Cert.Subject.CommonName)

	creds := signer.NewClientCertificates(applet, iotsafe.ByLabel("ztp-key"))
	// Reconnections resume their TLS session (no SIM signature); the
	// sessions go when the SIM changes. The story polls the SIM before
	// every resumption, so an operator's change shows at once (the default,
	// every 30 s, trades that delay for one command less per connection).
	creds.SessionPollInterval = -1
	sessions := creds.SessionCache(0)
	connect := func() (string, error) { return get(ctx, cloudURL, roots, creds, sessions) }

	factoryKey, err := signer.New(ctx, applet, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		return err
	}
	factoryCred, err := factoryKey.TLSCertificate(ctx)
	if err != nil {
		return err
	}
	st.say("factory credential on the SIM: %q, issued by %q", factoryCred.Leaf.Subject.CommonName, factoryCA.Subject.CommonName)
	cfg := &provision.Config{
		Applet:   applet,
		Subject:  pkix.Name{CommonName: "meter-{key}", Organization: []string{"Example Utility"}},
		EST:      &est.Client{Server: estURL, Roots: roots, Certificate: factoryCred},
		Operator: &operator.Emulator{Path: state},
		Check: func(ctx context.Context, c *tls.Certificate) error {
			_, err := get(ctx, cloudURL, roots, fixedCert{c}, nil)
			return err
		},
	}
	res, err := provision.Provision(ctx, cfg)
	if err != nil {
		return err
	}
	st.say("key pair generated on the SIM in container %X (the private key never leaves it)", res.Key.ID())
	st.say("certificate request signed by the SIM key, enrolled over EST with the factory credential (no shared password): %q, serial %s", res.Certificate.Subject.CommonName, res.Certificate.SerialNumber)
	st.say("certificate delivered to the SIM (file %X) by the operator; the device saw 63CF and re-read it", res.CertFile)

	body, err := connect()
	if err != nil {
		return fmt.Errorf("mutual TLS with the provisioned credential: %w", err)
	}
	st.say("mutual TLS to the cloud OK: %s", strings.TrimSpace(body))

	// The broker checks the CA's revocation list; it reads it when it
	// starts, so publish restarts it with the current list.
	mqttCfg := &tls.Config{RootCAs: roots, GetClientCertificate: creds.GetClientCertificate, ClientSessionCache: sessions}
	publish := func(cfg *tls.Config) (bool, error) {
		crl, err := ca.CRL()
		if err != nil {
			return false, err
		}
		broker, err := mosquitto.Start(filepath.Join(*dir, "broker"), ca, ca.Cert, crl)
		if errors.Is(err, mosquitto.ErrNotInstalled) {
			return false, err
		}
		if err != nil {
			return true, err
		}
		defer broker.Stop()
		if err := mosquitto.Publish(ctx, broker.URL, cfg, "meter", "meters/telemetry", []byte("kWh=1234.5")); err != nil {
			return true, fmt.Errorf("MQTT publish to %s: %w", broker.URL, err)
		}
		return true, nil
	}
	haveMQTT, err := publish(mqttCfg)
	switch {
	case !haveMQTT:
		st.say("MQTT skipped: %v", err)
	case err != nil:
		return err
	default:
		st.say("MQTT publish OK to mosquitto over mutual TLS with the SIM key (the broker checks the CA's CRL)")
	}

	res2, err := provision.Renew(ctx, cfg, res)
	if err != nil {
		return err
	}
	st.say("certificate renewed over EST /simplereenroll (serial %s -> %s, file %X -> %X); old one retired only after the new one worked",
		res.Certificate.SerialNumber, res2.Certificate.SerialNumber, res.CertFile, res2.CertFile)
	if body, err = connect(); err != nil {
		return fmt.Errorf("mutual TLS after renewal: %w", err)
	}
	st.detail("cloud: %s", strings.TrimSpace(body))
	// The renewed certificate is in use: the CA revoked the one it replaced,
	// so the same SIM key is not trusted twice.
	oldCert := &tls.Certificate{Certificate: [][]byte{res.Certificate.Raw}, PrivateKey: res.Key, Leaf: res.Certificate}
	if _, err := get(ctx, cloudURL, roots, fixedCert{oldCert}, nil); err == nil {
		return errors.New("the cloud still accepts the certificate the renewal replaced")
	}
	st.say("the previous certificate (serial %s) was revoked once the renewed one was in use: the cloud refuses it", res.Certificate.SerialNumber)

	// The device is suspected compromised.
	if err := ca.Revoke(res2.Certificate.SerialNumber); err != nil {
		return err
	}
	st.say("operator revokes the certificate at the CA")
	_, err = connect()
	if err == nil {
		return errors.New("the cloud accepted a revoked certificate")
	}
	st.detail("connection refused by the cloud: %v", err)
	if why, ok := cloudRefusal.Load().(string); ok {
		st.detail("cloud's reason: %s", why)
	}
	if haveMQTT {
		if _, err := publish(mqttCfg); err == nil {
			return errors.New("mosquitto accepted a revoked certificate")
		}
		st.say("mosquitto, started with the new CRL, refuses the revoked certificate too")
		// The previous certificate, revoked at renewal, is refused as well.
		if _, err := publish(&tls.Config{RootCAs: roots, GetClientCertificate: fixedCert{oldCert}.GetClientCertificate}); err == nil {
			return errors.New("mosquitto accepted the certificate the renewal replaced")
		}
		st.detail("and the certificate the renewal replaced")
	}
	if err := (&operator.Emulator{Path: state}).RemoveCredential(ctx, res2.Key.ID(), res2.CertFile); err != nil {
		return err
	}
	st.say("operator removes the credential from the SIM over the air")
	_, err = connect()
	if !errors.Is(err, signer.ErrCredentialRemoved) {
		return fmt.Errorf("after removal the device should say the credential was removed, got: %v", err)
	}
	st.detail("connection refused: %v", err)
	fmt.Fprintln(out, "zero-touch provisioning story complete")
	return nil
}

type fixedCert struct{ c *tls.Certificate }

func (f fixedCert) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return f.c, nil
}

type certGetter interface {
	GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error)
}

// get fetches url with mutual TLS.
func get(ctx context.Context, url string, roots *x509.CertPool, cg certGetter, sessions tls.ClientSessionCache) (string, error) {
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, GetClientCertificate: cg.GetClientCertificate, ClientSessionCache: sessions},
		DisableKeepAlives: true,
	}, Timeout: 20 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cloud answered %s", resp.Status)
	}
	return string(b), err
}

func cloudHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		fmt.Fprintf(w, "hello %s (certificate serial %s)\n", c.Subject.CommonName, c.SerialNumber)
	})
}

// serveTLS serves h over TLS on 127.0.0.1 with a certificate from ca.
func serveTLS(ca *estserver.CA, h http.Handler, mods ...func(*tls.Config)) (string, func(), error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	cert, err := ca.IssueServer(key.Public(), "127.0.0.1")
	if err != nil {
		return "", nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	for _, m := range mods {
		m(cfg)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		return "", nil, err
	}
	// Handshake refusals are reported by the story itself.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(ln)
	return "https://" + ln.Addr().(*net.TCPAddr).String(), func() { srv.Close() }, nil
}
