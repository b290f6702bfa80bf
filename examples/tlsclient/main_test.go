package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
)

// The example against a local HTTPS server that requires client
// certificates from the SIM's factory CA.
func TestTLSClient(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	caDER, err := a.ReadFile(context.Background(), iotsafe.ByLabel("ca-cert"))
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(dir, "server-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)

	var out bytes.Buffer
	if err := run([]string{"--sim", "emulator:" + state, "--url", srv.URL, "--ca", caFile}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "200 OK") || !strings.Contains(out.String(), "hello go-iotsafe emulator device") {
		t.Fatalf("output %q", out.String())
	}
	if err := run([]string{"--sim", "emulator:" + state, "--url", srv.URL, "--ca", caFile, "--label", "ztp-key"}, &out); err == nil {
		t.Fatal("a key without certificate was accepted")
	}
}
