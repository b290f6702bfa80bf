package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// The packaged server as its systemd unit runs it: the bootstrap password
// and the admin token from the environment (the unit's root-only
// environment file), the CA in a private --dir. A device enrols; `admin
// list` (with --json) sees the certificate; the server ends when its
// context does (SIGTERM).
func TestPackagedServer(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "url")
	t.Setenv("IOTSAFE_EST_PASSWORD", "bootstrap-from-env")
	t.Setenv("IOTSAFE_EST_ADMIN_TOKEN", "0123456789abcdef-from-env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newRootCmd(io.Discard)
	srv.SetArgs([]string{"--dir", filepath.Join(dir, "ca"), "--listen", "127.0.0.1:0", "--user", "device", "--ready-file", ready})
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	url := testtool.WaitLine(ready, 5*time.Second)
	if url == "" {
		cancel()
		t.Fatalf("the server did not start: %v", <-done)
	}
	server := url
	caFile := filepath.Join(dir, "ca", "ca.pem")
	caPEM, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-9"}}, key)
	certs, err := (&est.Client{Server: server, Roots: roots, Username: "device", Password: "bootstrap-from-env"}).SimpleEnroll(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}

	token := filepath.Join(dir, "admin.token")
	os.WriteFile(token, []byte("0123456789abcdef-from-env\n"), 0o600)
	var out bytes.Buffer
	admin := newRootCmd(&out)
	admin.SetArgs([]string{"admin", "--json", "--server", server, "--ca", caFile, "--token-file", token, "list"})
	if err := admin.ExecuteContext(ctx); err != nil {
		t.Fatalf("admin list: %v", err)
	}
	var list []struct {
		Serial     string `json:"serial"`
		CommonName string `json:"common_name"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list) != 1 || list[0].Serial != certs[0].SerialNumber.String() || list[0].CommonName != "meter-9" {
		t.Fatalf("admin --json list: %v %q", err, out.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the server ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not end with its context")
	}
}

// A token shorter than 16 characters in the environment is refused at
// start, as one in --admin-token-file is.
func TestShortAdminTokenRefused(t *testing.T) {
	t.Setenv("IOTSAFE_EST_PASSWORD", "bootstrap")
	t.Setenv("IOTSAFE_EST_ADMIN_TOKEN", "short")
	srv := newRootCmd(io.Discard)
	srv.SetArgs([]string{"--dir", filepath.Join(t.TempDir(), "ca"), "--listen", "127.0.0.1:0", "--user", "device"})
	if err := srv.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "IOTSAFE_EST_ADMIN_TOKEN") {
		t.Fatalf("a 5-character admin token: %v", err)
	}
}
