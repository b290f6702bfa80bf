// Package estcli holds the EST server's commands, shared by the full
// iotsafe CLI (iotsafe est-server, iotsafe est-admin) and the server's own
// binary, iotsafe-est-server (package iotsafe-est-server). The device CLI
// of the packages is built without them (tag noestserver): the server's
// database drivers are half of the CLI's size.
package estcli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/internal/secretarg"
)

// LongRunning is the annotation of commands that serve until stopped: the
// CLI's --timeout does not apply to them (the CLI uses the same key).
const LongRunning = "iotsafe/long-running"

// EnvAdminToken is the environment variable that may give the admin token
// instead of --admin-token-file.
const EnvAdminToken = "IOTSAFE_EST_ADMIN_TOKEN"

// Server is the EST server's command (`iotsafe est-server`, and the root of
// `iotsafe-est-server`): it serves until its context ends. Its output (the
// URL it serves on) goes to out.
func Server(out io.Writer) *cobra.Command {
	var dir, listen, user, password, passwordFile, readyFile, bootstrapCA, cnTemplate, uriPrefix string
	var names []string
	var orgs []string
	var requirePoP bool
	var keyType string
	var connsPerClient int
	var bootstrapCRLs []string
	var adminTokenFile string
	var store string
	cmd := &cobra.Command{
		Use:         "est-server",
		Annotations: map[string]string{LongRunning: "yes"},
		Short:       "Run a local EST (RFC 7030) server with its own CA, for tests, demos and small fleets",
		Long: "Serves /.well-known/est/{cacerts,simpleenroll,simplereenroll} and /crl over TLS. The CA's key and records live " +
			"in a database: SQLite in --dir (ca.db, the default; a file store of earlier versions there is migrated into it " +
			"once), or PostgreSQL with --store postgres://USER@HOST/DB, which several est-server replicas share (the CA is " +
			"created once, uniqueness and CRL numbers are the database's). --dir also gets ca.pem, which devices trust as the " +
			"server's anchor. Enrollment takes the " +
			"bootstrap credentials --user and a password (--password-file, $IOTSAFE_EST_PASSWORD, or --password, which " +
			"other local users can read in the process list), or a factory certificate chaining to --bootstrap-ca; " +
			"it refuses to start with neither. Failed authentications are throttled per client address. " +
			"Re-enrollment takes a current certificate of this CA.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: %w", listen, err)
			}
			var ca *estserver.CA
			if store == "" {
				ca, err = estserver.LoadOrCreateCA(dir, "go-iotsafe local CA")
			} else if ca, err = estserver.OpenCA(cmd.Context(), store, "go-iotsafe local CA"); err == nil {
				err = ca.WriteCertPEM(filepath.Join(dir, "ca.pem"))
			}
			if err != nil {
				return err
			}
			defer ca.Close()
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			cert, err := ca.IssueServer(key.Public(), serverNames(names, host)...)
			if err != nil {
				return err
			}
			tcp, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			// One client address holds at most its share of connections.
			ln := tls.NewListener(estserver.LimitListener(tcp, connsPerClient, 0), &tls.Config{
				Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
				ClientAuth:   tls.RequestClientCert, MinVersion: tls.VersionTLS12})
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			pw, err := secretarg.Resolve(password, passwordFile)
			if err != nil {
				return err
			}
			h := &estserver.Server{CA: ca, Username: user, Password: pw, Logger: logger,
				Policy: estserver.Policy{CommonName: cnTemplate, Organization: orgs, URIPrefix: uriPrefix, RequirePoP: requirePoP, KeyType: keyType}}
			if adminTokenFile != "" {
				tok, err := secretarg.ReadFile(adminTokenFile)
				if err != nil {
					return fmt.Errorf("--admin-token-file: %w", err)
				}
				if h.AdminToken = strings.TrimSpace(string(tok)); len(h.AdminToken) < 16 {
					return fmt.Errorf("--admin-token-file %s: the token must have at least 16 characters", adminTokenFile)
				}
			} else if tok := strings.TrimSpace(os.Getenv(EnvAdminToken)); tok != "" {
				// The systemd unit's way (its environment file is root's).
				if h.AdminToken = tok; len(tok) < 16 {
					return fmt.Errorf("$%s: the token must have at least 16 characters", EnvAdminToken)
				}
			}
			if bootstrapCA != "" {
				b, err := os.ReadFile(bootstrapCA)
				if err != nil {
					return err
				}
				h.BootstrapRoots = x509.NewCertPool()
				if !h.BootstrapRoots.AppendCertsFromPEM(b) {
					return fmt.Errorf("--bootstrap-ca %s holds no PEM certificate", bootstrapCA)
				}
				for _, f := range bootstrapCRLs {
					crl, err := ReadCRL(f)
					if err != nil {
						return fmt.Errorf("--bootstrap-crl %s: %w", f, err)
					}
					h.BootstrapCRLs = append(h.BootstrapCRLs, crl)
				}
			}
			if err := h.Check(); err != nil {
				ln.Close()
				if h.Username == "" && h.BootstrapRoots == nil || h.Username != "" && h.Password == "" {
					return fmt.Errorf("%w: give --user with a password, or --bootstrap-ca", err)
				}
				return err
			}
			srv := estserver.HTTPServer(h)
			url := "https://" + ln.Addr().String()
			fmt.Fprintf(out, "EST server on %s; trust anchor %s\n", url, filepath.Join(dir, "ca.pem"))
			if readyFile != "" {
				if err := os.WriteFile(readyFile, []byte(url+"\n"), 0o644); err != nil {
					return err
				}
			}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory of the CA: its SQLite database ca.db (created if empty) and ca.pem for clients")
	f.StringVar(&store, "store", "", "the CA's database instead of --dir/ca.db: postgres://USER@HOST/DB (shared by replicas) or sqlite:PATH")
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	f.StringSliceVar(&names, "name", nil, "DNS name or IP address the devices reach the server by, put in its TLS certificate (repeatable; default: the --listen host unless it is a wildcard, and localhost)")
	f.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the token that opens the admin endpoints (iotsafe est-admin), else $"+EnvAdminToken+"; without either they stay closed")
	f.StringArrayVar(&bootstrapCRLs, "bootstrap-crl", nil, "a CRL (PEM or DER) of the factory CA: factory certificates it lists no longer enrol (repeatable)")
	f.IntVar(&connsPerClient, "conns-per-client", estserver.DefaultConnsPerClient, "connections one client address may hold at once (more are closed at once)")
	f.StringVar(&user, "user", "", "bootstrap user for /simpleenroll")
	f.StringVar(&password, "password", "", "bootstrap password (visible to other local users in the process list: prefer --password-file or $IOTSAFE_EST_PASSWORD)")
	f.StringVar(&passwordFile, "password-file", "", "file holding the bootstrap password (first line)")
	f.StringVar(&bootstrapCA, "bootstrap-ca", "", "PEM roots of factory certificates accepted for /simpleenroll (TLS client authentication)")
	f.StringVar(&cnTemplate, "cn-template", "{cn}", "common name a device may receive: {cn} (what it asks for, checked and unique), {user}, {factory-cn}, {factory-serial}")
	f.StringSliceVar(&orgs, "org", nil, "organization (O) of issued certificates; requests may ask for exactly this or none")
	f.BoolVar(&requirePoP, "require-pop", false, "require proof of possession by tls-unique (RFC 7030 §3.5; clients enrol over TLS 1.2)")
	f.StringVar(&uriPrefix, "uri-prefix", "", "allow URI SANs PREFIX+common name (e.g. spiffe://fleet/); default: none")
	f.StringVar(&readyFile, "ready-file", "", "write the server URL to this file once listening")
	f.StringVar(&keyType, "key-type", "p256", "key type the CSR attributes ask devices for: "+strings.Join(estserver.KeyTypes, ", ")+" (every one is certified)")
	return cmd
}

// Admin is the command that talks to a running server's admin endpoints
// (`iotsafe est-admin`, `iotsafe-est-server admin`): list the certificates,
// revoke one, sign a new CRL. Its output goes to out; the listing is JSON
// when *jsonOut is true when it runs.
func Admin(out io.Writer, jsonOut *bool) *cobra.Command {
	var server, caFile, tokenFile string
	cmd := &cobra.Command{
		Use:   "est-admin",
		Short: "Administer a running est-server: list certificates, revoke one, sign a new CRL",
		Long: "Talks to the admin endpoints of an est-server started with --admin-token-file, over TLS verified " +
			"against --ca (the server's ca.pem), with the same token (read from --token-file, never an argument).",
		Example: "  iotsafe est-admin --server https://est.example:8443 --ca ca.pem --token-file admin.token list\n" +
			"  iotsafe est-admin --server https://est.example:8443 --ca ca.pem --token-file admin.token revoke 0x1F2E",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&server, "server", "", "the EST server's URL (https://host:port)")
	pf.StringVar(&caFile, "ca", "", "the server's trust anchor (its CA's ca.pem)")
	pf.StringVar(&tokenFile, "token-file", "", "file holding the admin token")
	do := func(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
		if server == "" || caFile == "" || tokenFile == "" {
			return nil, errors.New("--server, --ca and --token-file are required")
		}
		pemCA, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", caFile)
		}
		tok, err := secretarg.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(server, "/")+path, body)
		if err != nil {
			return nil, fmt.Errorf("--server: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return b, nil
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the certificates the CA issued (serial, common name, expiry, revoked)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := do(cmd.Context(), http.MethodGet, "/admin/certificates", nil)
			if err != nil {
				return err
			}
			var certs []estserver.AdminCertificate
			if err := json.Unmarshal(b, &certs); err != nil {
				return fmt.Errorf("the server's listing: %w", err)
			}
			if *jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(certs)
			}
			for _, c := range certs {
				state := "valid"
				if c.Revoked {
					state = "revoked"
				}
				fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", c.Serial, c.CommonName, c.NotAfter.UTC().Format(time.RFC3339), state)
			}
			return nil
		},
	}, &cobra.Command{
		Use: "revoke SERIAL", Short: "Revoke a certificate (serial in decimal, or hex after 0x); the next CRL lists it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := do(cmd.Context(), http.MethodPost, "/admin/revoke", url.Values{"serial": {args[0]}})
			if err != nil {
				return err
			}
			fmt.Fprint(out, string(b))
			return nil
		},
	}, &cobra.Command{
		Use: "crl", Short: "Have the CA sign a new CRL now and write it (DER) to standard output or --out", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := do(cmd.Context(), http.MethodPost, "/admin/crl", nil)
			if err != nil {
				return err
			}
			_, err = out.Write(b)
			return err
		},
	})
	return cmd
}

// ReadCRL reads a certificate revocation list, PEM or DER.
func ReadCRL(path string) (*x509.RevocationList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q, want X509 CRL", blk.Type)
		}
		b = blk.Bytes
	}
	return x509.ParseRevocationList(b)
}

// serverNames are the names the server's TLS certificate carries: those
// given with --name, else the host it listens on (unless a wildcard, which
// no client connects to) and localhost.
func serverNames(names []string, listenHost string) []string {
	if len(names) > 0 {
		return names
	}
	if ip := net.ParseIP(strings.Trim(listenHost, "[]")); listenHost == "" || listenHost == "localhost" || ip != nil && ip.IsUnspecified() {
		return []string{"localhost"}
	}
	return []string{listenHost, "localhost"}
}
