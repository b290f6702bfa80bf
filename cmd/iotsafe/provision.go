package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/secretarg"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/pkcs11mod"
	"github.com/go-iotsafe/iotsafe/provision"
	"github.com/go-iotsafe/iotsafe/provision/est"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/spec"
)

// enrolFlags are what provision and renew share: the EST server and its
// anchor, the enrolment credential, and where certificates are delivered.
type enrolFlags struct {
	server, anchor, user, password, passwordFile, factoryKey, deliver, storeDir string
	waitPending                                                                 time.Duration
	pop                                                                         bool
	certFiles                                                                   []string
}

func (e *enrolFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.server, "est", "", "EST server URL (https://host:port)")
	f.StringVar(&e.anchor, "est-ca", "", "PEM trust anchor for the EST server")
	f.StringVar(&e.deliver, "deliver", "sim", "where the certificate goes: sim (operator administration) or pkcs11-store (the PKCS#11 library's host-side store)")
	f.BoolVar(&e.pop, "pop", false, "bind the request to its TLS 1.2 connection (tls-unique proof of possession, RFC 7030 §3.5) even when the server's CSR attributes do not ask for it")
	f.DurationVar(&e.waitPending, "wait-pending", 0, "when the EST server answers 202 (pending approval), keep asking, as its Retry-After says, for this long (raise --timeout to match)")
	f.StringVar(&e.storeDir, "store", "", "with --deliver pkcs11-store: the store directory (default: the PKCS#11 library's, see "+pkcs11mod.EnvStore+")")
	f.StringSliceVar(&e.certFiles, "cert-files", nil, "the two SIM files (hex IDs) this credential's certificate alternates between at renewal (default 20,21; give each credential of a SIM its own pair)")
}

func (e *enrolFlags) registerBootstrap(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.factoryKey, "factory-key", "", "authenticate with the SIM's factory credential: the key (ID in hex, or label) whose certificate is on the SIM")
	f.StringVar(&e.user, "user", "", "bootstrap user (HTTP basic), when not --factory-key")
	f.StringVar(&e.password, "password", "", "bootstrap password (visible in the process list: prefer --password-file or $IOTSAFE_EST_PASSWORD)")
	f.StringVar(&e.passwordFile, "password-file", "", "file holding the bootstrap password (first line)")
}

// setup reads the anchor and the password, and prepares the delivery path.
func (e *enrolFlags) setup(g *globals) (*x509.CertPool, provision.Operator, *pkcs11mod.CertStore, error) {
	pw, err := secretarg.Resolve(e.password, e.passwordFile)
	if err != nil {
		return nil, nil, nil, err
	}
	e.password = pw
	if e.server == "" || e.anchor == "" {
		return nil, nil, nil, errors.New("--est URL and --est-ca FILE are required")
	}
	pemBytes, err := os.ReadFile(e.anchor)
	if err != nil {
		return nil, nil, nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, nil, nil, fmt.Errorf("%s holds no PEM certificate", e.anchor)
	}
	u, err := simuri.Parse(g.sim)
	if err != nil {
		return nil, nil, nil, err
	}
	switch e.deliver {
	case "sim":
		if u.Scheme != "emulator" {
			return nil, nil, nil, errors.New("delivery to a real SIM goes through your operator's OTA platform, which this build cannot reach; use --sim emulator:PATH, or --deliver pkcs11-store")
		}
		path, err := simuri.EmulatorPath(u)
		if err != nil {
			return nil, nil, nil, err
		}
		return roots, &operator.Emulator{Path: path}, nil, nil
	case "pkcs11-store":
		dir := e.storeDir
		if dir == "" {
			cfg, err := pkcs11mod.LoadConfig()
			if err != nil {
				return nil, nil, nil, fmt.Errorf("PKCS#11 configuration: %w", err)
			}
			dir = cfg.Store
		}
		return roots, nil, &pkcs11mod.CertStore{Root: dir}, nil
	}
	return nil, nil, nil, fmt.Errorf("--deliver %q: want sim or pkcs11-store", e.deliver)
}

// config builds the provisioning configuration for the applet.
func (e *enrolFlags) config(a *iotsafe.Applet, roots *x509.CertPool, op provision.Operator, store *pkcs11mod.CertStore) (*provision.Config, error) {
	pc := &provision.Config{Applet: a, EST: &est.Client{Server: e.server, Roots: roots, WaitPending: e.waitPending}, Operator: op,
		ProofOfPossession: e.pop}
	if len(e.certFiles) > 0 {
		if len(e.certFiles) != 2 {
			return nil, fmt.Errorf("--cert-files takes two file IDs, got %d", len(e.certFiles))
		}
		for i, f := range e.certFiles {
			id, err := parseID(f)
			if err != nil {
				return nil, fmt.Errorf("--cert-files %q: %w", f, err)
			}
			pc.CertFiles[i] = id
		}
		if bytes.Equal(pc.CertFiles[0], pc.CertFiles[1]) {
			return nil, errors.New("--cert-files: the two files must differ (renewal writes one while the other is in use)")
		}
	}
	if store != nil {
		store.Applet = a
		pc.Store = store
	}
	return pc, nil
}

func newProvisionCmd(g *globals) *cobra.Command {
	var e enrolFlags
	var cn, out, container string
	var dns []string
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Zero-touch provisioning: key pair on the SIM, CSR, EST enrollment, certificate delivered to the SIM",
		Long: "Generates a key pair on the SIM (in --key, or the first free container), sends a CSR signed by it to the " +
			"EST server (--est, trusted through --est-ca), and has the certificate delivered to the SIM. Delivery " +
			"goes through the operator's over-the-air administration: for the software SIM (--sim emulator:PATH) " +
			"this program plays the operator (--deliver sim, the default). --deliver pkcs11-store keeps the " +
			"certificate in the PKCS#11 library's host-side store instead (any SIM), where OpenSSL, curl and " +
			"the other PKCS#11 consumers find it next to the SIM key. In --cn and --dns, {key} is replaced by " +
			"a hash of the new public key and {applet} by the applet identifier.\n\n" +
			"Enrolment is authenticated by the SIM's factory credential with --factory-key ID|LABEL (the factory " +
			"certificate on the SIM, presented as the TLS client certificate, RFC 7030 §3.3.2; its key never leaves " +
			"the SIM), or by a bootstrap user and password (--user with --password-file, $IOTSAFE_EST_PASSWORD or " +
			"--password). Renew the credential later with `iotsafe renew`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			roots, op, store, err := e.setup(g)
			if err != nil {
				return err
			}
			var ref iotsafe.Ref
			if container != "" {
				id, err := parseID(container)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				ref = iotsafe.ByID(id...)
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				pc, err := e.config(a, roots, op, store)
				if err != nil {
					return err
				}
				pc.Container, pc.Subject, pc.DNSNames = ref, pkix.Name{CommonName: cn}, dns
				pc.EST.Username, pc.EST.Password = e.user, e.password
				if e.factoryKey != "" {
					fc, err := factoryCredential(cmd.Context(), a, e.factoryKey)
					if err != nil {
						return err
					}
					pc.EST.Certificate = fc
				} else if e.user == "" {
					return errors.New("no enrolment credential: give --factory-key ID|LABEL (the SIM's factory certificate) or --user with a password")
				}
				res, err := provision.Provision(cmd.Context(), pc)
				if err != nil {
					return err
				}
				return emitCredential(g, res, store, out, "generated on the SIM")
			})
		},
	}
	e.register(cmd)
	e.registerBootstrap(cmd)
	f := cmd.Flags()
	f.StringVar(&cn, "cn", "iotsafe-{key}", "certificate common name")
	f.StringSliceVar(&dns, "dns", nil, "DNS subject alternative names")
	f.StringVar(&container, "key", "", "key container ID (hex); default: the first free one")
	f.StringVar(&out, "out", "", "also write the certificate (PEM) here")
	return cmd
}

func newRenewCmd(g *globals) *cobra.Command {
	var e enrolFlags
	var out string
	var key refFlags
	var within time.Duration
	cmd := &cobra.Command{
		Use:   "renew",
		Short: "Renew a SIM credential over EST /simplereenroll, authenticated by the credential itself",
		Long: "Re-enrols the credential of the SIM key --key (or --label): a CSR signed by the SIM key, sent to " +
			"/simplereenroll over TLS authenticated by the current certificate (RFC 7030 §4.2.2). The new " +
			"certificate goes to the other certificate file (or replaces the one in the PKCS#11 host-side store); " +
			"the old one is retired only after the new one is read back and works. The CA revokes the old " +
			"certificate once the new one is in use. Servers that want HTTP authentication on top of the certificate " +
			"(Cisco libest's by default) get --user and the password too.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			roots, op, store, err := e.setup(g)
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				pc, err := e.config(a, roots, op, store)
				if err != nil {
					return err
				}
				pc.EST.Username, pc.EST.Password = e.user, e.password
				cur, err := provision.Current(cmd.Context(), pc, ref)
				if err != nil {
					return err
				}
				if left := time.Until(cur.Certificate.NotAfter); within > 0 && left > within {
					fmt.Fprintf(g.out, "not due: certificate serial %s expires %s, more than %s from now\n",
						cur.Certificate.SerialNumber, cur.Certificate.NotAfter.UTC().Format(time.RFC3339), within)
					return nil
				}
				// The CSR keeps the current names: re-enrolment must not change them.
				pc.Subject = cur.Certificate.Subject
				pc.DNSNames, pc.URIs = cur.Certificate.DNSNames, cur.Certificate.URIs
				res, err := provision.Renew(cmd.Context(), pc, cur)
				if err != nil {
					return err
				}
				return emitCredential(g, res, store, out, "renewed (serial "+cur.Certificate.SerialNumber.String()+" retired)")
			})
		},
	}
	e.register(cmd)
	f := cmd.Flags()
	f.StringVar(&e.user, "user", "", "HTTP user, for servers that want HTTP authentication besides the certificate")
	f.StringVar(&e.password, "password", "", "HTTP password (visible in the process list: prefer --password-file or $IOTSAFE_EST_PASSWORD)")
	f.StringVar(&e.passwordFile, "password-file", "", "file holding the HTTP password (first line)")
	key.register(cmd, "key", "private key", "")
	cmd.Flags().StringVar(&out, "out", "", "also write the new certificate (PEM) here")
	cmd.Flags().DurationVar(&within, "within", 0, "renew only when the current certificate expires within this long (e.g. 720h; 0: always), so that a daily timer renews once, near the end")
	return cmd
}

// emitCredential prints a provisioned or renewed credential.
func emitCredential(g *globals, res *provision.Result, store *pkcs11mod.CertStore, out, what string) error {
	if out != "" {
		if err := os.WriteFile(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: res.Certificate.Raw}), 0o644); err != nil {
			return err
		}
	}
	return g.emit(map[string]string{"key": hex.EncodeToString(res.Key.ID()), "certificate_file": hex.EncodeToString(res.CertFile),
		"subject": res.Certificate.Subject.String(), "serial": res.Certificate.SerialNumber.String()}, func(w io.Writer) {
		if store != nil {
			fmt.Fprintf(w, "key %X %s, certificate %q (serial %s) stored for PKCS#11 in %s\n",
				res.Key.ID(), what, res.Certificate.Subject.CommonName, res.Certificate.SerialNumber, store.Root)
			return
		}
		fmt.Fprintf(w, "key %X %s, certificate %q (serial %s) delivered to SIM file %X\n",
			res.Key.ID(), what, res.Certificate.Subject.CommonName, res.Certificate.SerialNumber, res.CertFile)
	})
}

// factoryCredential returns the SIM's factory credential as a TLS client
// certificate: the certificate on the SIM for the key named by ID (hex) or
// label, with the SIM key as its private key.
func factoryCredential(ctx context.Context, a *iotsafe.Applet, name string) (*tls.Certificate, error) {
	ref := iotsafe.ByLabel(name)
	if id, err := parseID(name); err == nil {
		if _, ferr := a.Find(ctx, spec.KindPrivateKey, iotsafe.ByID(id...)); ferr == nil {
			ref = iotsafe.ByID(id...)
		}
	}
	k, err := signer.New(ctx, a, ref, nil)
	if err != nil {
		return nil, fmt.Errorf("--factory-key %s: %w", name, err)
	}
	c, err := k.TLSCertificate(ctx)
	if err != nil {
		return nil, fmt.Errorf("--factory-key %s: no certificate for that key on the SIM: %w", name, err)
	}
	return c, nil
}
