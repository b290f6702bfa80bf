package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/estserver"
)

// newESTAdminCmd is `iotsafe est-admin`: the EST server's admin endpoints.
func newESTAdminCmd(g *globals) *cobra.Command {
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
		tok, err := os.ReadFile(tokenFile)
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
			return g.emit(certs, func(w io.Writer) {
				for _, c := range certs {
					state := "valid"
					if c.Revoked {
						state = "revoked"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Serial, c.CommonName, c.NotAfter.UTC().Format(time.RFC3339), state)
				}
			})
		},
	}, &cobra.Command{
		Use: "revoke SERIAL", Short: "Revoke a certificate (serial in decimal, or hex after 0x); the next CRL lists it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := do(cmd.Context(), http.MethodPost, "/admin/revoke", url.Values{"serial": {args[0]}})
			if err != nil {
				return err
			}
			fmt.Fprint(g.out, string(b))
			return nil
		},
	}, &cobra.Command{
		Use: "crl", Short: "Have the CA sign a new CRL now and write it (DER) to standard output or --out", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := do(cmd.Context(), http.MethodPost, "/admin/crl", nil)
			if err != nil {
				return err
			}
			_, err = g.out.Write(b)
			return err
		},
	})
	return cmd
}
