package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/spec"
)

// imageKit is a SIM holding a firmware vendor's public key (ID 30, label
// vendor), the vendor's public key file, and an attacker's key pair.
type imageKit struct {
	dir, state, vendorPEM string
	vendor, attacker      *ecdsa.PrivateKey
}

func newImageKit(t *testing.T) *imageKit {
	t.Helper()
	k := &imageKit{dir: t.TempDir()}
	k.state = filepath.Join(k.dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", k.state)
	k.vendor, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.attacker, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.vendor.PublicKey)
	k.vendorPEM = filepath.Join(k.dir, "vendor.pem")
	os.WriteFile(k.vendorPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	mustRun(t, "emulator", "admin", "--state", k.state, "put-public-key", "--id", "30", "--label", "vendor", "--in", k.vendorPEM)
	return k
}

// signed writes an image and its detached signature by key; it returns
// both paths.
func (k *imageKit) signed(name string, body []byte, key *ecdsa.PrivateKey) (img, sig string) {
	img = filepath.Join(k.dir, name)
	os.WriteFile(img, body, 0o755)
	d := sha256.Sum256(body)
	s, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	sig = img + ".sig"
	os.WriteFile(sig, s, 0o644)
	return img, sig
}

// liar is the man in the middle of the security review, as modem firmware
// (or anything on the serial line) would play it: it rewrites two answers.
// The vendor's public key point in the Read Public Key answer becomes the
// attacker's, and the card's refusal of Verify Signature becomes 9000.
func liar(vendor, attacker *ecdsa.PublicKey) func(cmd, resp []byte) []byte {
	vp, _ := vendor.Bytes()
	ap, _ := attacker.Bytes()
	return func(cmd, resp []byte) []byte {
		if len(cmd) < 4 || len(resp) < 2 {
			return resp
		}
		switch cmd[1] {
		case spec.InsReadPublicKey:
			return bytes.ReplaceAll(resp, vp, ap)
		case spec.InsVerifySigUpdate:
			if !bytes.HasSuffix(resp, []byte{0x90, 0x00}) {
				return append(resp[:len(resp)-2:len(resp)-2], 0x90, 0x00)
			}
		}
		return resp
	}
}

// The high-severity attack of the second device-side review: a man in the
// middle on the modem line rewrites the public key the card returns and
// the card's verdict, and an image signed by the attacker passed
// verify-image, run-image and the launcher. With a trust anchor pinned on
// the host (a public key file, or its SPKI SHA-256 fingerprint) the
// attacker's image is refused whatever the link says; without a pin the
// command still runs but says that its verdict trusts the SIM link.
func TestVerifyImageLinkCannotForgeAPinnedVerdict(t *testing.T) {
	k := newImageKit(t)
	evil, evilSig := k.signed("evil.bin", []byte("#!/bin/sh\necho evil\n"), k.attacker)
	good, goodSig := k.signed("good.bin", []byte("#!/bin/sh\necho genuine\n"), k.vendor)

	// The fingerprint as OpenSSL computes it from the vendor's file.
	spkiDER, err := exec.Command(testtool.Need(t, "openssl"), "pkey", "-pubin", "-in", k.vendorPEM, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(spkiDER)
	fpHex := hex.EncodeToString(fp[:])

	card, err := emulator.Open(k.state, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	p, err := atmodem.NewPTY(card, atmodem.Quirks{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sim := "--sim=modem:" + p.Path()
	p.Modem.SetRewrite(liar(&k.vendor.PublicKey, &k.attacker.PublicKey))

	// Unpinned: the lie works (nothing on the host can tell), and the
	// command says so in its output.
	out, err := cli(sim, "verify-image", "--label", "vendor", "--sig", evilSig, evil)
	if err != nil || !strings.Contains(out, "trusts the link to the SIM") {
		t.Fatalf("unpinned verify-image under the liar: %q %v (want a verdict that says it trusts the link)", out, err)
	}
	pins := [][]string{{"--anchor", k.vendorPEM}, {"--anchor-sha256", fpHex}, {"--anchor-sha256", "sha256:" + strings.ToUpper(fpHex)}}
	for _, pin := range pins {
		args := append([]string{sim, "verify-image", "--label", "vendor", "--sig", evilSig}, pin...)
		out, err := cli(append(args, evil)...)
		if err == nil || !strings.Contains(err.Error(), "exit status 2") || strings.Contains(out, "signature OK") {
			t.Fatalf("pinned %v: the attacker's image passed: %q %v", pin, out, err)
		}
		args = append([]string{sim, "run-image", "--label", "vendor", "--sig", evilSig}, pin...)
		out, err = cli(append(args, evil)...)
		if err == nil || strings.Contains(out, "evil") {
			t.Fatalf("pinned run-image %v: the attacker's image ran: %q %v", pin, out, err)
		}
		// The genuine image is refused too while the link lies about the
		// key: the SIM does not hold (as far as the host can tell) the
		// pinned key.
		args = append([]string{sim, "verify-image", "--label", "vendor", "--sig", goodSig}, pin...)
		if out, err := cli(append(args, good)...); err == nil || !strings.Contains(err.Error(), "pinned") {
			t.Fatalf("pinned %v, link rewriting the key, genuine image: %q %v", pin, out, err)
		}
	}

	// An honest link: the genuine image passes with each pin and says so;
	// the attacker's is refused.
	p.Modem.SetRewrite(nil)
	for _, pin := range pins {
		args := append([]string{sim, "verify-image", "--label", "vendor", "--sig", goodSig}, pin...)
		out, err := cli(append(args, good)...)
		if err != nil || !strings.Contains(out, "signature OK") || !strings.Contains(out, "pinned") || strings.Contains(out, "trusts the link") {
			t.Fatalf("pinned %v, honest link, genuine image: %q %v", pin, out, err)
		}
		args = append([]string{sim, "run-image", "--label", "vendor", "--sig", goodSig}, pin...)
		if out, err := cli(append(args, good)...); err != nil || !strings.Contains(out, "genuine") {
			t.Fatalf("pinned run-image %v, honest link: %q %v", pin, out, err)
		}
		args = append([]string{sim, "verify-image", "--label", "vendor", "--sig", evilSig}, pin...)
		if out, err := cli(append(args, evil)...); err == nil || !strings.Contains(err.Error(), "exit status 2") {
			t.Fatalf("pinned %v, honest link, attacker's image: %q %v", pin, out, err)
		}
	}
	// A wrong pin refuses even a genuine image on an honest link.
	wrong := sha256.Sum256([]byte("not the vendor"))
	if out, err := cli(sim, "verify-image", "--label", "vendor", "--sig", goodSig, "--anchor-sha256", hex.EncodeToString(wrong[:]), good); err == nil {
		t.Fatalf("a wrong pin accepted: %q", out)
	}
}

// An anchor file another user could have written is no anchor.
func TestVerifyImageRefusesAWritableAnchorFile(t *testing.T) {
	k := newImageKit(t)
	good, goodSig := k.signed("good.bin", []byte("genuine"), k.vendor)
	sim := "--sim=emulator:" + k.state
	os.Chmod(k.vendorPEM, 0o666)
	if out, err := run(t, sim, "verify-image", "--label", "vendor", "--sig", goodSig, "--anchor", k.vendorPEM, good); err == nil || !strings.Contains(err.Error(), "writable") {
		t.Fatalf("world-writable anchor file: %q %v", out, err)
	}
	os.Chmod(k.vendorPEM, 0o644)
	if out, err := run(t, sim, "verify-image", "--label", "vendor", "--sig", goodSig, "--anchor", k.vendorPEM, good); err != nil || !strings.Contains(out, "signature OK") {
		t.Fatalf("anchor file 0644: %q %v", out, err)
	}
	if _, err := run(t, sim, "verify-image", "--label", "vendor", "--sig", goodSig, "--anchor", k.vendorPEM, "--anchor-sha256", "00", good); err == nil {
		t.Fatal("--anchor and --anchor-sha256 together were accepted")
	}
}

// The second finding of the review: `verify-image NAME` checked the copy
// found through $PATH and printed only NAME, while ./NAME (what the user
// meant, and what `./NAME` would run) was never checked. verify-image takes
// a path, like every other file argument; run-image resolves as exec does;
// both print the path they verified.
func TestVerifyImageNameIsAPath(t *testing.T) {
	k := newImageKit(t)
	bin := filepath.Join(k.dir, "bin")
	os.Mkdir(bin, 0o755)
	genuine := []byte("#!/bin/sh\necho from-path\n")
	os.WriteFile(filepath.Join(bin, "tool"), genuine, 0o755)
	_, sig := k.signed("signed-copy", genuine, k.vendor)
	work := filepath.Join(k.dir, "work")
	os.Mkdir(work, 0o755)
	os.WriteFile(filepath.Join(work, "tool"), []byte("#!/bin/sh\necho local\n"), 0o755)

	c := exec.Command(os.Args[0], "--sim=emulator:"+k.state, "verify-image", "--label", "vendor", "--sig", sig, "tool")
	c.Dir = work
	c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1", "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := c.CombinedOutput()
	if err == nil || strings.Contains(string(out), "signature OK") {
		t.Fatalf("verify-image tool in a directory holding an unsigned ./tool passed (it checked $PATH's): %s", out)
	}
	if !strings.Contains(string(out), "tool") {
		t.Fatalf("the refusal does not name the file: %s", out)
	}
	// run-image resolves like exec and prints the path it verified.
	c = exec.Command(os.Args[0], "--sim=emulator:"+k.state, "run-image", "--label", "vendor", "--sig", sig, "tool")
	c.Dir = work
	c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1", "PATH="+bin+":"+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil || !strings.Contains(stdout.String(), "from-path") || !strings.Contains(stderr.String(), filepath.Join(bin, "tool")) {
		t.Fatalf("run-image tool: %v stdout %q stderr %q (want the program's output and the verified path)", err, stdout.String(), stderr.String())
	}
	// verify-image with the path prints that path.
	out2, err := run(t, "--sim=emulator:"+k.state, "verify-image", "--label", "vendor", "--sig", sig, filepath.Join(bin, "tool"))
	if err != nil || !strings.Contains(out2, filepath.Join(bin, "tool")+": signature OK") {
		t.Fatalf("verify-image by path: %q %v", out2, err)
	}
}
