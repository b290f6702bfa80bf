package estcli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// A server that listens on every address (--listen 0.0.0.0:8443, as the
// packaged unit does) has no host in its address that a device connects
// to: its TLS certificate then carries what --name gives (and localhost
// without it), never the wildcard.
func TestServerNames(t *testing.T) {
	for _, c := range []struct {
		names []string
		host  string
		want  []string
	}{
		{nil, "127.0.0.1", []string{"127.0.0.1", "localhost"}},
		{nil, "est.example.com", []string{"est.example.com", "localhost"}},
		{nil, "0.0.0.0", []string{"localhost"}},
		{nil, "", []string{"localhost"}},
		{nil, "::", []string{"localhost"}},
		{nil, "::0", []string{"localhost"}},
		{nil, "0:0:0:0:0:0:0:0", []string{"localhost"}},
		{nil, "localhost", []string{"localhost"}},
		{[]string{"est.example.com", "192.0.2.7"}, "0.0.0.0", []string{"est.example.com", "192.0.2.7"}},
	} {
		if got := serverNames(c.names, c.host); !slices.Equal(got, c.want) {
			t.Errorf("names %v, listen host %q: %v, want %v", c.names, c.host, got, c.want)
		}
	}
}

// --name puts the names devices use in the certificate the server
// presents: a client that verifies est.test (here resolved to 127.0.0.1
// by dialing the address itself) accepts it.
func TestServerCertificateNames(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "url")
	t.Setenv("IOTSAFE_EST_PASSWORD", "bootstrap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := Server(io.Discard)
	cmd.SetArgs([]string{"--dir", filepath.Join(dir, "ca"), "--listen", "127.0.0.1:0", "--user", "device",
		"--name", "est.test", "--name", "192.0.2.7", "--ready-file", ready})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	url := testtool.WaitLine(ready, 5*time.Second)
	if url == "" {
		t.Fatal("the server did not start")
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca", "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	addr := strings.TrimPrefix(url, "https://")
	for _, name := range []string{"est.test", "192.0.2.7"} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("a client verifying %s: %v", name, err)
		}
		conn.Close()
	}
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err == nil {
		conn.Close()
		t.Fatal("the certificate names the listen address although --name was given")
	}
}
