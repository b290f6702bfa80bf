package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/examples/internal/mosquitto"
)

func startBroker(t *testing.T, dir string, serverCA *estserver.CA, clientCA *x509.Certificate) *mosquitto.Broker {
	t.Helper()
	b, err := mosquitto.Start(dir, serverCA, clientCA, nil)
	if errors.Is(err, mosquitto.ErrNotInstalled) && os.Getenv("IOTSAFE_REQUIRE_TOOLS") != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

func TestPublishToMosquitto(t *testing.T) {
	dir := t.TempDir()
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	caDER, _ := a.ReadFile(context.Background(), iotsafe.ByLabel("ca-cert"))
	simCA, _ := x509.ParseCertificate(caDER)
	serverCA, _ := estserver.NewCA("broker CA")
	br := startBroker(t, filepath.Join(dir, "one"), serverCA, simCA)
	broker, logFile := br.URL, br.LogFile
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Publish(ctx, a, broker, roots, "dev-1", "devices/dev-1/telemetry", []byte("temp=21.5")); err != nil {
		t.Fatal(err)
	}
	// The broker logged the client by its certificate identity, and the publish.
	time.Sleep(100 * time.Millisecond)
	f, _ := os.Open(logFile)
	defer f.Close()
	var sawConnect, sawPublish bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		sawConnect = sawConnect || (strings.Contains(l, "New client connected") && strings.Contains(l, "go-iotsafe emulator device"))
		sawPublish = sawPublish || strings.Contains(l, "Received PUBLISH from dev-1")
	}
	if !sawConnect || !sawPublish {
		t.Fatalf("broker log lacks the certificate-authenticated connection or the publish (connect %v, publish %v)", sawConnect, sawPublish)
	}
	// A broker that trusts another CA refuses the device.
	other, _ := estserver.NewCA("other")
	br2 := startBroker(t, filepath.Join(dir, "two"), serverCA, other.Cert)
	if err := Publish(ctx, a, br2.URL, roots, "dev-1", "t", []byte("x")); err == nil {
		t.Fatal("a broker trusting another CA accepted the device")
	}
}
