// Command tlsclient is an HTTPS client that authenticates with a key held
// on a SIM's IoT SAFE applet: mutual TLS where the private key never leaves
// the SIM. See docs/go.md.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/signer"
	"github.com/go-iotsafe/iotsafe/simuri"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tlsclient:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tlsclient", flag.ContinueOnError)
	sim := fs.String("sim", os.Getenv(simuri.EnvVar), "SIM URI (emulator:PATH, ...)")
	target := fs.String("url", "", "HTTPS URL to GET")
	caFile := fs.String("ca", "", "PEM file of the CA that signed the server's certificate")
	key := fs.String("label", "", "label of the SIM key to use (default: any SIM credential the server accepts)")
	timeout := fs.Duration("timeout", 30*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *caFile == "" {
		return fmt.Errorf("--url and --ca are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no PEM certificate", *caFile)
	}
	t, err := simuri.Open(ctx, *sim)
	if err != nil {
		return err
	}
	applet, err := iotsafe.Open(ctx, t, nil)
	if err != nil {
		t.Close()
		return err
	}
	defer applet.Close()

	var keys []iotsafe.Ref
	if *key != "" {
		keys = append(keys, iotsafe.ByLabel(*key))
	}
	creds := signer.NewClientCertificates(applet, keys...)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:              roots,
		GetClientCertificate: creds.GetClientCertificate,
		// Reconnections resume their TLS session: no SIM signature.
		ClientSessionCache: creds.SessionCache(0),
		MinVersion:         tls.VersionTLS12,
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s\n%s", resp.Proto, resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return nil
}
