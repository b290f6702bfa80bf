package signer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/signer"
)

// requireTool finds a program (testtool.Need).
func requireTool(t *testing.T, name string) string { t.Helper(); return testtool.Need(t, name) }

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sServerPage runs openssl s_server -www on a free port of 127.0.0.1 (its
// certificate and key srv.pem and srv.key in dir, a client certificate
// required and checked against ca.pem in dir), with the extra args,
// connects with cfg (retrying while the server is not listening yet, at
// most 5 s), and returns the status page the server writes: what it saw of
// the handshake.
func sServerPage(t *testing.T, openssl, dir string, cfg *tls.Config, args ...string) string {
	t.Helper()
	addr := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"s_server", "-accept", addr, "-cert", filepath.Join(dir, "srv.pem"),
		"-key", filepath.Join(dir, "srv.key"), "-CAfile", filepath.Join(dir, "ca.pem"), "-Verify", "1",
		"-verify_return_error", "-www"}, args...)
	srv := exec.CommandContext(ctx, openssl, argv...)
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var conn *tls.Conn
	var err error
	for i := 0; i < 50; i++ {
		conn, err = tls.Dial("tcp", addr, cfg)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		srv.Process.Kill()
		srv.Wait()
		t.Fatalf("handshake: %v\nserver: %s", err, log.String())
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	page, _ := io.ReadAll(conn)
	return string(page)
}

// TLS 1.2 with ECDHE-ECDSA against openssl s_server asking the client for
// ECDSA with SHA-384 (and, separately, SHA-256): the SIM key signs the
// handshake with the hash the server demands.
func TestOpenSSLServerTLS12(t *testing.T) {
	openssl := requireTool(t, "openssl")
	f := newFixture(t, emulator.Options{})
	dir := t.TempDir()
	srvCert, _ := newServerCert(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvCert.PrivateKey)
	os.WriteFile(filepath.Join(dir, "srv.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvCert.Certificate[0]}), 0o600)
	os.WriteFile(filepath.Join(dir, "srv.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Raw}), 0o600)
	roots := x509.NewCertPool()
	roots.AddCert(srvCert.Leaf)
	cc := signer.NewClientCertificates(f.applet)

	for _, tc := range []struct {
		sigalgs, digest string
	}{{"ECDSA+SHA384", "SHA384"}, {"ECDSA+SHA256", "SHA256"}} {
		t.Run(tc.sigalgs, func(t *testing.T) {
			page := sServerPage(t, openssl, dir, &tls.Config{RootCAs: roots, GetClientCertificate: cc.GetClientCertificate,
				MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
				"-tls1_2", "-client_sigalgs", tc.sigalgs)
			if !strings.Contains(page, "Client certificate") && !strings.Contains(page, "go-iotsafe emulator device") {
				t.Fatalf("s_server did not see the client certificate:\n%s", page)
			}
			if want := "Peer signing digest: " + tc.digest; !strings.Contains(page, want) {
				t.Fatalf("s_server page lacks %q:\n%s", want, page)
			}
		})
	}
}
