package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
)

func TestLauncher(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The operator puts the vendor's key on the SIM.
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := vendor.PublicKey.Bytes()
	s, _ := card.BeginAdmin()
	if err := s.PutPublicKey([]byte{0x30}, "vendor", point); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	card.Close()

	app := filepath.Join(dir, "app.sh")
	os.WriteFile(app, []byte("#!/bin/sh\necho started with \"$@\"\n"), 0o755)
	sign := func() string {
		b, _ := os.ReadFile(app)
		d := sha256.Sum256(b)
		sig, _ := ecdsa.SignASN1(rand.Reader, vendor, d[:])
		p := filepath.Join(dir, "app.sig")
		os.WriteFile(p, sig, 0o644)
		return p
	}
	sig := sign()
	var out, errOut bytes.Buffer
	code, err := run([]string{"--sim", "emulator:" + state, "--sig", sig, "--", app, "fast"}, &out, &errOut)
	if err != nil || code != 0 || out.String() != "started with fast\n" {
		t.Fatalf("genuine program: code %d, %v, %q %q", code, err, out.String(), errOut.String())
	}
	// Tampered: refused, never run.
	os.WriteFile(app, []byte("#!/bin/sh\necho evil\n"), 0o755)
	out.Reset()
	code, err = run([]string{"--sim", "emulator:" + state, "--sig", sig, "--", app}, &out, &errOut)
	if !errors.Is(err, errRefused) || code == 0 || strings.Contains(out.String(), "evil") {
		t.Fatalf("tampered program: code %d, %v, output %q", code, err, out.String())
	}
}
