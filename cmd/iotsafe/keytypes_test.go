package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// The CLI with RSA-2048 and brainpoolP256r1 keys: pubkey, sign (PKCS#1
// v1.5 and PSS), verify on the card and on the host, keygen. Signatures
// are checked by crypto/rsa and, for brainpool, by openssl.
func TestCLIKeyTypes(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state, "--profile", "gsma-keytypes")
	blk, _ := pem.Decode([]byte(mustRun(t, sim, "pubkey", "--key", "07")))
	if blk == nil {
		t.Fatal("pubkey 07 printed no PEM")
	}
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*rsa.PublicKey)
	msg := filepath.Join(dir, "msg")
	os.WriteFile(msg, []byte("signed by the SIM's RSA key"), 0o600)
	d := sha256.Sum256([]byte("signed by the SIM's RSA key"))
	for _, pss := range []bool{false, true} {
		sig := filepath.Join(dir, "sig")
		args := []string{sim, "sign", "--key", "07", "--in", msg, "--out", sig}
		if pss {
			args = append(args, "--pss")
		}
		mustRun(t, args...)
		b, _ := os.ReadFile(sig)
		if pss {
			err = rsa.VerifyPSS(pub, crypto.SHA256, d[:], b, &rsa.PSSOptions{SaltLength: 32})
		} else {
			err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], b)
		}
		if err != nil {
			t.Fatalf("pss %v: crypto/rsa: %v", pss, err)
		}
		vargs := []string{sim, "verify", "--key", "07", "--in", msg, "--sig", sig}
		if pss {
			vargs = append(vargs, "--pss")
		}
		mustRun(t, vargs...)
		mustRun(t, append(vargs, "--local")...)
		b[9] ^= 1
		os.WriteFile(sig, b, 0o600)
		if _, err := run(t, vargs...); err == nil || !strings.Contains(err.Error(), "does NOT match") {
			t.Fatalf("pss %v: tampered signature: %v", pss, err)
		}
	}
	if _, err := run(t, sim, "sign", "--key", "01", "--in", msg, "--pss"); err == nil {
		t.Fatal("--pss with a P-256 key")
	}
	// Keygen in the RSA container prints the new RSA key.
	out := mustRun(t, sim, "keygen", "--key", "07", "--replace")
	if blk, _ = pem.Decode([]byte(out)); blk == nil {
		t.Fatalf("keygen printed %q", out)
	}
	if nk, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil || nk.(*rsa.PublicKey).Equal(pub) {
		t.Fatalf("keygen: %v", err)
	}

	// Brainpool: the PEM names the curve; openssl verifies the signature.
	bpPEM := mustRun(t, sim, "pubkey", "--key", "08")
	openssl := testtool.Need(t, "openssl")
	bpFile := filepath.Join(dir, "bp.pem")
	os.WriteFile(bpFile, []byte(bpPEM), 0o600)
	text, err := exec.Command(openssl, "pkey", "-pubin", "-in", bpFile, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(text), "brainpoolP256r1") {
		t.Fatalf("openssl reads the brainpool PEM: %v\n%s", err, text)
	}
	sig := filepath.Join(dir, "bp.sig")
	mustRun(t, sim, "sign", "--key", "08", "--in", msg, "--out", sig)
	if o, err := exec.Command(openssl, "dgst", "-sha256", "-verify", bpFile, "-signature", sig, msg).CombinedOutput(); err != nil {
		t.Fatalf("openssl rejects the brainpool signature: %v\n%s", err, o)
	}
	mustRun(t, sim, "verify", "--key", "08", "--in", msg, "--sig", sig)
}

// `iotsafe csr` for each key type of the key-types SIM, read by OpenSSL:
// the self-signature verifies, the key is the one `pubkey` prints, the
// subject and SANs are those asked for, an RSA request with --pss is
// signed RSASSA-PSS; a request naming nobody and --pss with an EC key are
// refused.
func TestCSRCommand(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state, "--profile", "gsma-keytypes")
	for _, tc := range []struct {
		key, want string
		pss       bool
	}{
		{"01", "ecdsa-with-SHA256", false},
		{"07", "sha256WithRSAEncryption", false},
		{"07", "rsassaPss", true},
		{"08", "brainpoolP256r1", false},
	} {
		req := filepath.Join(dir, "req-"+tc.key+".pem")
		args := []string{sim, "csr", "--key", tc.key, "--cn", "meter-" + tc.key, "--org", "Fleet", "--dns", "meter-" + tc.key + ".devices.example",
			"--uri", "spiffe://fleet/meter-" + tc.key, "--out", req}
		if tc.pss {
			args = append(args, "--pss")
		}
		mustRun(t, args...)
		out, err := exec.Command(openssl, "req", "-in", req, "-verify", "-noout", "-text").CombinedOutput()
		text := string(out)
		for _, w := range []string{"verify OK", tc.want, "CN = meter-" + tc.key, "O = Fleet", "DNS:meter-" + tc.key + ".devices.example", "URI:spiffe://fleet/meter-" + tc.key} {
			if err != nil || !strings.Contains(text, w) {
				t.Fatalf("key %s: openssl req -verify -text lacks %q (%v):\n%s", tc.key, w, err, text)
			}
		}
		got, _ := exec.Command(openssl, "req", "-in", req, "-noout", "-pubkey").Output()
		if want := mustRun(t, sim, "pubkey", "--key", tc.key); string(got) != want {
			t.Fatalf("key %s: the request's key\n%s\nis not the SIM's\n%s", tc.key, got, want)
		}
	}
	// --json: the request in a JSON document, which OpenSSL then verifies.
	var j struct{ CSR, Subject, KeyID string }
	var raw map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, sim, "--json", "csr", "--key", "01", "--cn", "meter-j")), &raw); err != nil {
		t.Fatalf("csr --json: %v", err)
	}
	j.CSR, j.Subject, j.KeyID = raw["csr"], raw["subject"], raw["key_id"]
	jreq := filepath.Join(dir, "req-json.pem")
	os.WriteFile(jreq, []byte(j.CSR), 0o644)
	if out, err := exec.Command(openssl, "req", "-in", jreq, "-verify", "-noout").CombinedOutput(); err != nil || j.Subject != "CN=meter-j" || j.KeyID != "01" {
		t.Fatalf("csr --json gave %v; openssl req -verify: %v %s", raw, err, out)
	}
	if _, err := run(t, sim, "csr", "--key", "01"); err == nil || !strings.Contains(err.Error(), "name someone") {
		t.Fatalf("csr without a name: %v", err)
	}
	if _, err := run(t, sim, "csr", "--key", "01", "--cn", "x", "--pss"); err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Fatalf("csr --pss with an EC key: %v", err)
	}
}

// `info` says whether extended-length APDUs are in use: with a card whose
// ATR announces them (?extended=1) yes, otherwise no, in text and JSON.
func TestInfoShowsExtendedLength(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state, "--profile", "gsma-keytypes")
	for q, want := range map[string]bool{"": false, "?extended=1": true} {
		out := mustRun(t, "--sim=emulator:"+state+q, "info")
		if strings.Contains(out, "APDUs         extended") != want {
			t.Fatalf("info with %q:\n%s", q, out)
		}
		js := mustRun(t, "--sim=emulator:"+state+q, "--json", "info")
		if strings.Contains(js, `"extended_length": true`) != want {
			t.Fatalf("info --json with %q: %s", q, js)
		}
	}
}

// `dh` with the brainpool key: the secret the card computes with an
// OpenSSL-made brainpoolP256r1 peer key is the one OpenSSL derives from the
// other side (pkeyutl -derive with the SIM's public key); a P-256 peer key
// for the brainpool key is refused.
func TestDHBrainpool(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state, "--profile", "gsma-keytypes")
	os.WriteFile(filepath.Join(dir, "sim08.pem"), []byte(mustRun(t, sim, "pubkey", "--key", "08")), 0o600)
	for _, args := range [][]string{
		{"ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "peer.key"},
		{"pkey", "-in", "peer.key", "-pubout", "-out", "peer.pem"},
		{"pkeyutl", "-derive", "-inkey", "peer.key", "-peerkey", "sim08.pem", "-out", "z.bin"},
		{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p256.key"},
		{"pkey", "-in", "p256.key", "-pubout", "-out", "p256.pem"},
	} {
		c := exec.Command(openssl, args...)
		c.Dir = dir
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	want, _ := os.ReadFile(filepath.Join(dir, "z.bin"))
	got := strings.TrimSpace(mustRun(t, sim, "dh", "--key", "08", "--peer", filepath.Join(dir, "peer.pem"), "--peer-slot", "09"))
	if got != hex.EncodeToString(want) {
		t.Fatalf("card secret %s, OpenSSL's %x", got, want)
	}
	if _, err := run(t, sim, "dh", "--key", "08", "--peer", filepath.Join(dir, "p256.pem"), "--peer-slot", "09"); err == nil {
		t.Fatal("a P-256 peer key was taken for the brainpool key")
	}
}
