package main

import (
	"fmt"
	"time"

	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"github.com/go-iotsafe/iotsafe/imageverify"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/spec"
)

func TestLauncher(t *testing.T) {
	state, sign := vendorSIM(t)
	app := filepath.Join(t.TempDir(), "app.sh")
	os.WriteFile(app, []byte("#!/bin/sh\necho started with \"$@\"\n"), 0o755)
	sig := sign(app)
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

// vendorSIM makes a SIM with the vendor key on it and returns its state
// file and a signing function for files.
func vendorSIM(t *testing.T) (string, func(path string) string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
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
	return state, func(path string) string {
		b, _ := os.ReadFile(path)
		d := sha256.Sum256(b)
		sig, _ := ecdsa.SignASN1(rand.Reader, vendor, d[:])
		p := path + ".sig"
		os.WriteFile(p, sig, 0o644)
		return p
	}
}

// The attack of the security review: the file is replaced while the card
// verifies (the SIM timing model makes that take a SIM's time). The
// launcher must run what it verified, or nothing, never the replacement.
func TestLauncherSwapDuringVerification(t *testing.T) {
	state, sign := vendorSIM(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "app.sh")
	genuine := []byte("#!/bin/sh\necho genuine\n")
	evil := filepath.Join(dir, "evil.sh")
	for i := 0; i < 5; i++ {
		os.WriteFile(app, genuine, 0o755)
		sig := sign(app)
		os.WriteFile(evil, []byte("#!/bin/sh\necho evil\n"), 0o755)
		var out, errOut bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			run([]string{"--sim", "emulator:" + state + "?timing=1", "--sig", sig, "--", app}, &out, &errOut)
		}()
		time.Sleep(time.Duration(20+10*i) * time.Millisecond)
		if err := os.Rename(evil, app); err != nil {
			t.Fatal(err)
		}
		<-done
		if strings.Contains(out.String(), "evil") {
			t.Fatalf("try %d: the replacement ran: %q", i, out.String())
		}
	}
}

// A bare name is resolved once, through $PATH, and that file is the one
// verified and run: a signed file of that name in the working directory
// does not vouch for the one $PATH finds.
func TestLauncherBareNameIsResolvedOnce(t *testing.T) {
	state, sign := vendorSIM(t)
	cwd, bin := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(cwd, "app"), []byte("#!/bin/sh\necho genuine\n"), 0o755)
	sig := sign(filepath.Join(cwd, "app"))
	os.WriteFile(filepath.Join(bin, "app"), []byte("#!/bin/sh\necho evil\n"), 0o755)
	t.Chdir(cwd)
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	var out, errOut bytes.Buffer
	code, err := run([]string{"--sim", "emulator:" + state, "--sig", sig, "--", "app"}, &out, &errOut)
	if strings.Contains(out.String(), "evil") || code == 0 || !errors.Is(err, errRefused) {
		t.Fatalf("bare name: code %d, %v, output %q", code, err, out.String())
	}
}

// Only keys the device cannot replace are anchors: the peer-key slot that
// every ECDH writes, and the device's own key pair, are refused.
func TestLauncherRefusesReplaceableKeys(t *testing.T) {
	state, sign := vendorSIM(t)
	app := filepath.Join(t.TempDir(), "app.sh")
	os.WriteFile(app, []byte("#!/bin/sh\necho started\n"), 0o755)
	sig := sign(app)
	for _, label := range []string{"peer-key", "device-key", "ecdh-key"} {
		var out, errOut bytes.Buffer
		code, err := run([]string{"--sim", "emulator:" + state, "--key-label", label, "--sig", sig, "--", app}, &out, &errOut)
		if code == 0 || !errors.Is(err, imageverify.ErrNotAnchor) && !strings.Contains(fmt.Sprint(err), "not found") {
			t.Fatalf("%s as anchor: code %d, %v, %q", label, code, err, out.String())
		}
	}
}

// The attack of the security review against the launcher: a tampered
// program, with the SIM behind a modem whose link repeats, drops or
// reorders the answers of Verify Signature. It must never run.
func TestLauncherOverHostileModem(t *testing.T) {
	state, sign := vendorSIM(t)
	app := filepath.Join(t.TempDir(), "app.sh")
	os.WriteFile(app, []byte("#!/bin/sh\necho genuine\n"), 0o755)
	sig := sign(app)
	os.WriteFile(app, []byte("#!/bin/sh\necho evil\n"), 0o755)
	card, err := emulator.Open(state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	p, err := atmodem.NewPTY(card, atmodem.Quirks{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, fault := range []string{"repeat@2C", "repeat@2D", "drop@2D", "reorder@2C", "reorder@2D"} {
		h, err := atmodem.ParseHostile(fault)
		if err != nil {
			t.Fatal(err)
		}
		p.Modem.SetHostile([]atmodem.Hostile{h}, 0)
		var out, errOut bytes.Buffer
		code, _ := run([]string{"--sim", "modem:" + p.Path(), "--sig", sig, "--", app}, &out, &errOut)
		if code == 0 || strings.Contains(out.String(), "evil") {
			t.Fatalf("%s: the tampered program ran (code %d): %q", fault, code, out.String())
		}
	}
}

// The high-severity attack of the second device-side review: the modem
// line rewrites the key in the Read Public Key answer to the attacker's and
// the card's refusal of Verify Signature to 9000. Unpinned, the attacker's
// program starts (and the launcher says its verdict trusts the link); with
// the vendor key pinned on the host it never runs.
func TestLauncherPinnedAnchorDefeatsALyingModem(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	card, err := emulator.Create(state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	vp, _ := vendor.PublicKey.Bytes()
	ap, _ := attacker.PublicKey.Bytes()
	s, _ := card.BeginAdmin()
	if err := s.PutPublicKey([]byte{0x30}, "vendor", vp); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&vendor.PublicKey)
	anchor := filepath.Join(dir, "vendor.pem")
	os.WriteFile(anchor, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	app := filepath.Join(dir, "app.sh")
	body := []byte("#!/bin/sh\necho evil\n")
	os.WriteFile(app, body, 0o755)
	d := sha256.Sum256(body)
	evilSig, _ := ecdsa.SignASN1(rand.Reader, attacker, d[:])
	sig := app + ".sig"
	os.WriteFile(sig, evilSig, 0o644)

	p, err := atmodem.NewPTY(card, atmodem.Quirks{})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	defer p.Close()
	p.Modem.SetRewrite(func(cmd, resp []byte) []byte {
		switch {
		case len(cmd) > 1 && cmd[1] == spec.InsReadPublicKey:
			return bytes.ReplaceAll(resp, vp, ap)
		case len(cmd) > 1 && cmd[1] == spec.InsVerifySigUpdate && len(resp) >= 2:
			return append(resp[:len(resp)-2:len(resp)-2], 0x90, 0x00)
		}
		return resp
	})
	var out, errOut bytes.Buffer
	code, err := run([]string{"--sim", "modem:" + p.Path(), "--sig", sig, "--", app}, &out, &errOut)
	if code != 0 || !strings.Contains(errOut.String(), "trusts the link to the SIM") {
		t.Fatalf("unpinned under the lying modem: code %d %v, stderr %q (want it to run and say the verdict trusts the link)", code, err, errOut.String())
	}
	out.Reset()
	code, err = run([]string{"--sim", "modem:" + p.Path(), "--sig", sig, "--anchor", anchor, "--", app}, &out, &errOut)
	if code == 0 || strings.Contains(out.String(), "evil") || !errors.Is(err, errRefused) {
		t.Fatalf("pinned: the attacker's program ran or was not refused: code %d %v, %q", code, err, out.String())
	}
}
