package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/spec"
)

// newCSRCmd is `iotsafe csr`: a PKCS#10 request signed on the card, for
// a CA the device reaches by other means than EST.
func newCSRCmd(g *globals) *cobra.Command {
	var key refFlags
	var cn, out string
	var orgs, dns, uris []string
	var pss bool
	cmd := &cobra.Command{
		Use:   "csr",
		Short: "Make a certificate signing request (PKCS#10, PEM) signed on the card by a SIM key (P-256, brainpoolP256r1 or RSA-2048)",
		Long: "Writes a PKCS#10 request for the public key of the named key pair, signed on the card: ECDSA with " +
			"SHA-256 for an EC key, RSA PKCS#1 v1.5 with SHA-256 for an RSA key (--pss: RSASSA-PSS, salt 32). The " +
			"private key never leaves the SIM; hand the request to any CA (provision does the whole EST enrolment).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			if cn == "" && len(dns) == 0 && len(uris) == 0 {
				return errors.New("give --cn, --dns or --uri: a request must name someone")
			}
			tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dns}
			for _, u := range uris {
				p, err := url.Parse(u)
				if err != nil || p.Scheme == "" {
					return errors.New("--uri " + u + ": not an absolute URI")
				}
				tmpl.URIs = append(tmpl.URIs, p)
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				k, err := signer.New(cmd.Context(), a, ref, nil)
				if err != nil {
					return explainEmpty(cmd.Context(), a, spec.KindPrivateKey, ref, err)
				}
				if pss {
					if k.KeyKind() != spec.KeyKindRSA2048 {
						return errors.New("--pss needs an RSA key")
					}
					tmpl.SignatureAlgorithm = x509.SHA256WithRSAPSS
				}
				der, err := signer.CreateCSR(k, tmpl)
				if err != nil {
					return err
				}
				p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
				if g.json {
					v := map[string]any{"subject": tmpl.Subject.String(), "key_id": fmt.Sprintf("%X", k.ID())}
					if out == "" || out == "-" {
						v["csr"] = string(p)
					} else {
						if err := g.writeOutput(out, p); err != nil {
							return err
						}
						v["out"] = out
					}
					return g.emit(v, nil)
				}
				return g.writeOutput(out, p)
			})
		},
	}
	key.register(cmd, "key", "private key", "01")
	f := cmd.Flags()
	f.StringVar(&cn, "cn", "", "subject common name")
	f.StringSliceVar(&orgs, "org", nil, "subject organization (O)")
	f.StringSliceVar(&dns, "dns", nil, "DNS subject alternative names")
	f.StringSliceVar(&uris, "uri", nil, "URI subject alternative names")
	f.BoolVar(&pss, "pss", false, "RSA keys: sign with RSASSA-PSS instead of PKCS#1 v1.5")
	f.StringVar(&out, "out", "-", "where to write the PEM request (- for stdout)")
	return cmd
}
