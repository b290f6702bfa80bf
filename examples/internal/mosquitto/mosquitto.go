// Package mosquitto starts a local mosquitto broker on 127.0.0.1 that
// requires TLS client certificates, for the examples and their tests.
package mosquitto

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/go-iotsafe/iotsafe/estserver"
)

// ErrNotInstalled means there is no mosquitto program on PATH.
var ErrNotInstalled = errors.New("mosquitto is not installed (apt-get install mosquitto)")

// Broker is a running mosquitto.
type Broker struct {
	URL     string // ssl://127.0.0.1:PORT
	LogFile string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
}

// Start runs mosquitto in dir with a server certificate issued by serverCA,
// accepting only clients whose certificates chain to clientCA (the client's
// certificate subject becomes its user name). With crl (DER, from the
// client CA), mosquitto also refuses the certificates it lists; it reads the
// list when it starts, so a new list takes a restart.
func Start(dir string, serverCA *estserver.CA, clientCA *x509.Certificate, crl []byte) (*Broker, error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		return nil, ErrNotInstalled
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := serverCA.IssueServer(key.Public(), "127.0.0.1")
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	var werr error
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil && werr == nil {
			werr = err
		}
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// Started as root, mosquitto drops to user "mosquitto", which cannot
	// read a private directory: keep the current user.
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	b := &Broker{URL: fmt.Sprintf("ssl://127.0.0.1:%d", port), LogFile: filepath.Join(dir, "mosquitto.log")}
	conf := write("mosquitto.conf", fmt.Appendf(nil, `per_listener_settings true
user %s
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
allow_anonymous false
log_dest file %s
log_type all
`, u.Username, port,
		write("clientca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientCA.Raw})),
		write("server.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		write("server.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		b.LogFile))
	if crl != nil {
		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(f, "crlfile %s\n", write("clients.crl", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})))
		f.Close()
	}
	if werr != nil {
		return nil, werr
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cmd, b.cancel = exec.CommandContext(ctx, bin, "-c", conf), cancel
	var stderr bytes.Buffer
	b.cmd.Stderr = &stderr
	if err := b.cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	for i := 0; i < 100; i++ { // up to 5 s
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return b, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Stop()
	return nil, fmt.Errorf("mosquitto did not start: %s", stderr.String())
}

// Stop ends the broker.
func (b *Broker) Stop() {
	b.cancel()
	b.cmd.Wait()
}

// Publish connects to broker (ssl://host:port) with tlsConfig (its client
// certificate authenticates the device) and publishes payload to topic with
// QoS 1, within ctx's deadline (15 s without one).
func Publish(ctx context.Context, broker string, tlsConfig *tls.Config, clientID, topic string, payload []byte) error {
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetTLSConfig(tlsConfig).
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(false).SetConnectRetry(false)
	client := paho.NewClient(opts)
	wait := func(t paho.Token) error {
		d := 15 * time.Second
		if deadline, ok := ctx.Deadline(); ok {
			d = time.Until(deadline)
		}
		if !t.WaitTimeout(d) {
			return errors.New("timed out")
		}
		return t.Error()
	}
	if err := wait(client.Connect()); err != nil {
		return fmt.Errorf("connecting to %s: %w", broker, err)
	}
	defer client.Disconnect(250)
	if err := wait(client.Publish(topic, 1, false, payload)); err != nil {
		return fmt.Errorf("publishing to %s: %w", topic, err)
	}
	return nil
}
