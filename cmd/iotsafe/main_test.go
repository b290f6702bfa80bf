package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/pkcs11mod"
)

// run executes the command line in-process and returns its standard output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmdTo(&out)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("iotsafe %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state)
	if _, err := run(t, "emulator", "init", "--state", state); err == nil {
		t.Fatal("init over an existing SIM succeeded")
	}
	mustRun(t, "emulator", "init", "--state", state, "--force", "--profile", "thales-mvp")

	var info map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, sim, "--json", "info")), &info); err != nil {
		t.Fatal(err)
	}
	if info["aid"] != "a00000003053f12401770101495341" || info["class"] != "interindustry" {
		t.Fatalf("info %v", info)
	}
	var objs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, sim, "--json", "ls")), &objs); err != nil || len(objs) != 11 {
		t.Fatalf("ls: %d objects, %v", len(objs), err)
	}
	if r := strings.TrimSpace(mustRun(t, sim, "random", "40")); len(r) != 80 {
		t.Fatalf("random 40 printed %q", r)
	}

	// Sign a file and verify it three ways.
	in := filepath.Join(dir, "fw.bin")
	sig := filepath.Join(dir, "fw.sig")
	os.WriteFile(in, bytes.Repeat([]byte("firmware"), 1000), 0o644)
	mustRun(t, sim, "sign", "--key", "01", "--in", in, "--out", sig)
	mustRun(t, sim, "verify", "--key", "01", "--in", in, "--sig", sig)
	mustRun(t, sim, "verify", "--label", "device-key", "--in", in, "--sig", sig, "--local")
	pemOut := mustRun(t, sim, "pubkey", "--key", "01")
	blk, _ := pem.Decode([]byte(pemOut))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(in)
	sigDER, _ := os.ReadFile(sig)
	d := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sigDER) {
		t.Fatal("CLI signature does not verify with the CLI's public key")
	}
	// Full-text and precomputed-digest signatures.
	mustRun(t, sim, "sign", "--key", "01", "--in", in, "--out", sig, "--full-text", "--hash", "sha384")
	mustRun(t, sim, "verify", "--key", "01", "--in", in, "--sig", sig, "--hash", "sha384")
	dig := filepath.Join(dir, "digest")
	os.WriteFile(dig, d[:], 0o644)
	mustRun(t, sim, "sign", "--key", "01", "--in", dig, "--digest", "--out", sig)
	mustRun(t, sim, "verify", "--key", "01", "--in", in, "--sig", sig)
	// A tampered file: exit status 2 and a clear message.
	os.WriteFile(in, append(data, 'x'), 0o644)
	_, err = run(t, sim, "verify", "--key", "01", "--in", in, "--sig", sig)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, "does NOT match") {
		t.Fatalf("tampered verify: %v", err)
	}

	// The certificate file as PEM matches the key.
	cert := mustRun(t, sim, "read-file", "--file", "02", "--pem")
	cb, _ := pem.Decode([]byte(cert))
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil || !c.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Fatalf("certificate: %v", err)
	}

	// Key generation, ECDH, PRF, HKDF. The thales-mvp profile ships
	// container 02 filled (the Thales PKCS#11 module needs every
	// container's public key): generating again needs --replace.
	if _, err := run(t, sim, "keygen", "--key", "02"); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("keygen over the filled container: %v", err)
	}
	if out := mustRun(t, sim, "keygen", "--key", "02", "--replace"); !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen printed %q", out)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	peerFile := filepath.Join(dir, "peer.pem")
	os.WriteFile(peerFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: peerDER}), 0o644)
	z := strings.TrimSpace(mustRun(t, sim, "dh", "--key", "04", "--peer", peerFile))
	cardPEM := mustRun(t, sim, "pubkey", "--key", "04")
	cp, _ := pem.Decode([]byte(cardPEM))
	ck, _ := x509.ParsePKIXPublicKey(cp.Bytes)
	cardECDH, _ := ck.(*ecdsa.PublicKey).ECDH()
	want, _ := peer.ECDH(cardECDH)
	if z != hex.EncodeToString(want) {
		t.Fatal("CLI ECDH differs from crypto/ecdh")
	}
	if out := strings.TrimSpace(mustRun(t, sim, "prf", "--secret", "06", "--seed", "00112233", "--length", "48")); len(out) != 96 {
		t.Fatalf("prf printed %q", out)
	}
	if out := strings.TrimSpace(mustRun(t, sim, "hkdf", "--label", "psk", "--salt", "01", "--length", "0")); len(out) != 64 {
		t.Fatalf("hkdf printed %q", out)
	}

	// The operator deactivates key 01, named as every command names a SIM
	// and a key: signing then fails and says so.
	if _, err := run(t, sim, "emulator", "admin", "deactivate", "--key", "01", "--file", "20"); err == nil || !strings.Contains(err.Error(), "--key, --file given together") {
		t.Fatalf("admin with two objects named: %v", err)
	}
	if _, err := run(t, "--sim", "pcsc:", "emulator", "admin", "ls"); err == nil || !strings.Contains(err.Error(), "software SIM (emulator:FILE)") {
		t.Fatalf("admin of a pcsc: SIM: %v", err)
	}
	mustRun(t, sim, "emulator", "admin", "deactivate", "--key", "01")
	_, err = run(t, sim, "sign", "--key", "01", "--in", in, "--out", sig)
	if err == nil || !strings.Contains(err.Error(), `private key 01 "device-key" is empty (or deactivated by the operator)`) {
		t.Fatalf("signing with a deactivated key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("operator data"), 0o644)
	mustRun(t, "emulator", "admin", "--state", state, "put-file", "--file", "11", "--label", "notes", "--usage", "data", "--in", filepath.Join(dir, "new.txt"))
	if out := mustRun(t, sim, "read-file", "--label", "notes"); out != "operator data" {
		t.Fatalf("operator file reads %q", out)
	}

	// Clear errors for bad input.
	for _, args := range [][]string{
		{sim, "sign", "--key", "zz", "--in", in},
		{sim, "sign", "--key", "01", "--in", filepath.Join(dir, "missing")},
		{"--sim", "pcsc:No%20Such%20Reader", "info"},
		{"--sim", "floppy:/dev/fd0", "info"},
		{"--sim", "emulator:" + filepath.Join(dir, "nope.json"), "info"},
		{sim, "random", "0"},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("iotsafe %v succeeded", args)
		}
	}
}

func TestVerifyImage(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state)
	// The vendor signs the image; the operator puts the vendor's public
	// key on the SIM, read-only for the device.
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&vendor.PublicKey)
	pubFile := filepath.Join(dir, "vendor.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	mustRun(t, "emulator", "admin", "--state", state, "put-public-key", "--id", "30", "--label", "vendor", "--in", pubFile)
	img := filepath.Join(dir, "app.bin")
	os.WriteFile(img, bytes.Repeat([]byte{0x7F, 'E', 'L', 'F'}, 5000), 0o755)
	data, _ := os.ReadFile(img)
	d := sha256.Sum256(data)
	sig, _ := ecdsa.SignASN1(rand.Reader, vendor, d[:])
	sigFile := filepath.Join(dir, "app.sig")
	os.WriteFile(sigFile, sig, 0o644)
	if out := mustRun(t, sim, "verify-image", "--key", "30", "--sig", sigFile, img); !strings.Contains(out, "signature OK") {
		t.Fatalf("verify-image printed %q", out)
	}
	data[100] ^= 1
	os.WriteFile(img, data, 0o755)
	_, err := run(t, sim, "verify-image", "--label", "vendor", "--sig", sigFile, img)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, "refusing the image") {
		t.Fatalf("tampered image: %v", err)
	}
	// The device cannot replace the vendor key: no update access.
	if _, err := run(t, sim, "dh", "--key", "04", "--peer", pubFile, "--peer-slot", "30"); err == nil {
		t.Fatal("the device replaced the vendor key")
	}
}

// Vendor keys of the other IoT SAFE types, made and used by OpenSSL (the
// peer a vendor signs with): an RSA-2048 key signing PKCS#1 v1.5 and PSS
// (salt 32) and a brainpoolP256r1 key signing ECDSA, each put on the SIM
// read-only; verify-image accepts OpenSSL's signature of the image and
// refuses it for a changed image (exit 2), a PSS signature with another
// salt, and a signature by another key of the same type.
func TestVerifyImageKeyTypes(t *testing.T) {
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	ossl := func(args ...string) {
		t.Helper()
		c := exec.Command(openssl, args...)
		c.Dir = dir
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	state := filepath.Join(dir, "sim.json")
	sim := "--sim=emulator:" + state
	mustRun(t, "emulator", "init", "--state", state)
	img := filepath.Join(dir, "app.bin")
	os.WriteFile(img, bytes.Repeat([]byte{0x7F, 'E', 'L', 'F'}, 5000), 0o755)
	ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key")
	ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "other-rsa.key")
	ossl("ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "bp.key")
	ossl("ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "other-bp.key")
	for _, k := range []string{"rsa", "bp"} {
		ossl("pkey", "-in", k+".key", "-pubout", "-out", k+".pub")
	}
	mustRun(t, "emulator", "admin", "--state", state, "put-public-key", "--id", "31", "--label", "vendor-rsa", "--in", filepath.Join(dir, "rsa.pub"))
	mustRun(t, "emulator", "admin", "--state", state, "put-public-key", "--id", "32", "--label", "vendor-bp", "--in", filepath.Join(dir, "bp.pub"))
	ossl("dgst", "-sha256", "-sign", "rsa.key", "-out", "rsa.sig", "app.bin")
	ossl("dgst", "-sha256", "-sign", "rsa.key", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-out", "pss.sig", "app.bin")
	ossl("dgst", "-sha256", "-sign", "rsa.key", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:20", "-out", "pss20.sig", "app.bin")
	ossl("dgst", "-sha256", "-sign", "other-rsa.key", "-out", "other-rsa.sig", "app.bin")
	ossl("dgst", "-sha256", "-sign", "bp.key", "-out", "bp.sig", "app.bin")
	ossl("dgst", "-sha256", "-sign", "other-bp.key", "-out", "other-bp.sig", "app.bin")
	for _, ok := range []struct{ key, sig string }{{"31", "rsa.sig"}, {"31", "pss.sig"}, {"32", "bp.sig"}} {
		if out := mustRun(t, sim, "verify-image", "--key", ok.key, "--sig", filepath.Join(dir, ok.sig), img); !strings.Contains(out, "signature OK") {
			t.Fatalf("verify-image --key %s --sig %s printed %q", ok.key, ok.sig, out)
		}
	}
	refused := func(key, sig, image string) {
		t.Helper()
		_, err := run(t, sim, "verify-image", "--key", key, "--sig", filepath.Join(dir, sig), image)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Fatalf("verify-image --key %s --sig %s %s: %v (want exit 2)", key, sig, image, err)
		}
	}
	refused("31", "pss20.sig", img)
	refused("31", "other-rsa.sig", img)
	refused("32", "other-bp.sig", img)
	changed := filepath.Join(dir, "changed.bin")
	data, _ := os.ReadFile(img)
	data[100] ^= 1
	os.WriteFile(changed, data, 0o755)
	for _, c := range []struct{ key, sig string }{{"31", "rsa.sig"}, {"31", "pss.sig"}, {"32", "bp.sig"}} {
		refused(c.key, c.sig, changed)
	}
	// An RSA signature of the wrong size is an error (exit 1), not a verdict.
	os.WriteFile(filepath.Join(dir, "short.sig"), make([]byte, 255), 0o644)
	if _, err := run(t, sim, "verify-image", "--key", "31", "--sig", filepath.Join(dir, "short.sig"), img); err == nil || strings.Contains(err.Error(), "refusing") {
		t.Fatalf("255-byte RSA signature: %v", err)
	}
}

func TestProvisionCommand(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	url, stop := startESTServer(t, dir)
	out := mustRun(t, "--sim=emulator:"+state, "provision", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
		"--user", "f", "--password", "s", "--cn", "sensor-{key}", "--out", filepath.Join(dir, "cert.pem"))
	if !strings.Contains(out, "generated on the SIM") || !strings.Contains(out, "sensor-") {
		t.Fatalf("provision printed %q", out)
	}
	// The only free container is used now: a second run says so.
	if _, err := run(t, "--sim=emulator:"+state, "provision", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
		"--user", "f", "--password", "s"); err == nil || !strings.Contains(err.Error(), "no free key container") {
		t.Fatalf("second provisioning: %v", err)
	}
	if _, err := run(t, "--sim=emulator:"+state, "provision", "--key", "02", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
		"--user", "f", "--password", "s"); err == nil || !strings.Contains(err.Error(), "holds a credential") {
		t.Fatalf("provisioning over a working credential: %v", err)
	}
	fresh := filepath.Join(dir, "fresh.json")
	mustRun(t, "emulator", "init", "--state", fresh)
	// Delivery into the PKCS#11 library's host-side store.
	store := filepath.Join(dir, "p11store")
	out = mustRun(t, "--sim=emulator:"+fresh, "provision", "--deliver", "pkcs11-store", "--store", store, "--est", url,
		"--est-ca", filepath.Join(dir, "ca", "ca.pem"), "--user", "f", "--password", "s")
	if !strings.Contains(out, "stored for PKCS#11") {
		t.Fatalf("provision --deliver pkcs11-store printed %q", out)
	}
	if objs, _ := filepath.Glob(filepath.Join(store, "*", "*.json")); len(objs) != 1 {
		t.Fatalf("%d objects in the PKCS#11 host store, want 1", len(objs))
	}
	fresh = filepath.Join(dir, "fresh2.json")
	mustRun(t, "emulator", "init", "--state", fresh)
	if _, err := run(t, "--sim=emulator:"+fresh, "provision", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
		"--user", "f", "--password", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong bootstrap password: %v", err)
	}
	stop()
}

// A brainpool credential from the command line: the EST server's CSR
// attributes ask for brainpoolP256r1 (--key-type), provision picks the
// SIM's brainpool container, and read-file --pem prints the certificate
// it delivered (crypto/x509 alone cannot parse it). An unknown key type
// keeps the server from starting.
func TestProvisionBrainpoolCommand(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--profile", "gsma-keytypes", "--state", state)
	if _, err := run(t, "est-server", "--dir", filepath.Join(dir, "ca0"), "--listen", "127.0.0.1:0", "--user", "f", "--password", "s", "--key-type", "secp384r1"); err == nil || !strings.Contains(err.Error(), "secp384r1") {
		t.Fatalf("est-server --key-type secp384r1: %v", err)
	}
	url, stop := startESTServer(t, dir, "--key-type", "brainpoolP256r1")
	out := mustRun(t, "--sim=emulator:"+state, "provision", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
		"--user", "f", "--password", "s", "--cn", "bp-{key}", "--out", filepath.Join(dir, "cert.pem"))
	if !strings.Contains(out, "generated on the SIM") || !strings.Contains(out, "bp-") {
		t.Fatalf("provision printed %q", out)
	}
	pemOut := mustRun(t, "--sim=emulator:"+state, "read-file", "--file", "20", "--pem")
	blk, _ := pem.Decode([]byte(pemOut))
	if blk == nil {
		t.Fatalf("read-file --pem printed %q", pemOut)
	}
	cert, err := bpx509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve.Params().Name != "brainpoolP256r1" || !strings.HasPrefix(cert.Subject.CommonName, "bp-") {
		t.Fatalf("delivered certificate: %T %v", cert.PublicKey, cert.Subject)
	}
	// More credentials on the same SIM: the RSA key's certificate goes to
	// the other file; a third finds none free (the two hold live
	// credentials) until it is given files of its own.
	enrol := func(args ...string) (string, error) {
		return run(t, append([]string{"--sim=emulator:" + state, "provision", "--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem"),
			"--user", "f", "--password", "s"}, args...)...)
	}
	if out, err := enrol("--key", "07"); err != nil || !strings.Contains(out, "file 21") {
		t.Fatalf("second credential: %q %v", out, err)
	}
	if _, err := enrol("--key", "02"); err == nil || !strings.Contains(err.Error(), "no certificate file is free") {
		t.Fatalf("third credential without files: %v", err)
	}
	if _, err := enrol("--key", "02", "--cert-files", "22"); err == nil || !strings.Contains(err.Error(), "two file IDs") {
		t.Fatalf("--cert-files 22: %v", err)
	}
	if out, err := enrol("--key", "02", "--cert-files", "22,23"); err != nil || !strings.Contains(out, "file 22") {
		t.Fatalf("third credential with --cert-files 22,23: %q %v", out, err)
	}
	if c, err := bpx509.ParseCertificate(readPEMFile(t, mustRun(t, "--sim=emulator:"+state, "read-file", "--file", "20", "--pem"))); err != nil || !c.Equal(cert) {
		t.Fatalf("the brainpool credential's certificate after two more enrolments: %v", err)
	}
	stop()
}

func readPEMFile(t *testing.T, s string) []byte {
	t.Helper()
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		t.Fatalf("no PEM in %q", s)
	}
	return blk.Bytes
}

// startESTServer runs `est-server` in-process on 127.0.0.1 with its CA in
// dir/ca and the bootstrap user f/s, and returns its URL and a stop that
// waits for it to end (run at cleanup too).
func startESTServer(t *testing.T, dir string, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := filepath.Join(dir, "url")
	srv := newRootCmdTo(io.Discard)
	srv.SetArgs(append([]string{"est-server", "--dir", filepath.Join(dir, "ca"), "--listen", "127.0.0.1:0", "--user", "f", "--password", "s",
		"--ready-file", ready}, args...))
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop) // also when the test fails before it stops the server
	url := testtool.WaitLine(ready, 5*time.Second)
	if url == "" {
		stop()
		t.Fatal("EST server did not start")
	}
	return url, stop
}

func TestPKCS11HashPIN(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmdTo(&out)
	cmd.SetOut(&out)
	cmd.SetIn(strings.NewReader("8642\n"))
	cmd.SetArgs([]string{"pkcs11", "hash-pin"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	if !strings.HasPrefix(line, "user-pin: pbkdf2-sha256$") || strings.Contains(line, "8642") {
		t.Fatalf("hash-pin printed %q", line)
	}
	cfg, err := pkcs11mod.ParseConfig([]byte("[slot]\nsim: pcsc:\n" + line + "\n"))
	if err != nil || cfg.Slots[0].UserPIN == "" {
		t.Fatalf("the printed line does not configure a PIN: %v", err)
	}
	cmd = newRootCmdTo(io.Discard)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs([]string{"pkcs11", "hash-pin"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("an empty PIN was hashed")
	}
}

// `iotsafe --sim modem:... sign` through the fake modem on a real pty.
func TestSignOverModem(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	card, err := emulator.Open(state, emulator.Options{T0: true})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	p, err := atmodem.NewPTY(card, atmodem.AllQuirks())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := filepath.Join(dir, "msg")
	sig := filepath.Join(dir, "msg.sig")
	os.WriteFile(in, []byte("signed over AT+CSIM"), 0o644)
	for _, mode := range []string{"csim", "cgla"} {
		msim := "--sim=modem:" + p.Path() + "?mode=" + mode
		mustRun(t, msim, "sign", "--key", "01", "--in", in, "--out", sig)
		mustRun(t, "--sim=emulator:"+state, "verify", "--key", "01", "--in", in, "--sig", sig, "--local")
		mustRun(t, msim, "verify", "--key", "01", "--in", in, "--sig", sig)
	}
}

// `iotsafe --sim pcsc:READER sign` through a real pcscd, the software SIM
// inserted with `emulator serve --vpcd` into the second virtual reader.
func TestSignOverPCSC(t *testing.T) {
	if _, err := exec.LookPath("pcsc_scan"); err != nil || exec.Command("pgrep", "-x", "pcscd").Run() != nil {
		testtool.Missing(t, "pcsc_scan is not installed or pcscd is not running")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	ctx, cancel := context.WithCancel(context.Background())
	srv := newRootCmdTo(io.Discard)
	srv.SetArgs([]string{"emulator", "serve", "--state", state, "--vpcd", "127.0.0.1:35964"})
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	sim := "--sim=pcsc:Virtual%20PCD%2000%2001"
	var err error
	for i := 0; i < 150; i++ { // the card appears within a few seconds
		if _, err = run(t, sim, "random", "8"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the SIM did not appear in the second virtual reader: %v", err)
	}
	in := filepath.Join(dir, "msg")
	sig := filepath.Join(dir, "msg.sig")
	os.WriteFile(in, []byte("signed through pcscd"), 0o644)
	mustRun(t, sim, "sign", "--key", "01", "--in", in, "--out", sig)
	mustRun(t, "--sim=emulator:"+state, "verify", "--key", "01", "--in", in, "--sig", sig, "--local")
	// Two processes racing ECDH through pcscd: PC/SC transactions keep
	// each Put Public Key + Compute DH whole.
	raceDH(t, sim, 4)
}

// The emulator's commands name the software SIM as every other command
// does: --sim emulator:FILE (or $IOTSAFE_SIM) as well as --state FILE.
func TestEmulatorCommandsTakeTheSIMURI(t *testing.T) {
	t.Setenv("IOTSAFE_SIM", "")
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "--sim", "emulator:"+state, "emulator", "init")
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("emulator init --sim emulator:FILE made no state file: %v", err)
	}
	if out := mustRun(t, "--sim", "emulator:"+state, "info"); !strings.Contains(out, "A0000005590010") {
		t.Fatalf("info on the SIM made by init: %q", out)
	}
	if _, err := run(t, "--sim", "pcsc:", "emulator", "init"); err == nil || !strings.Contains(err.Error(), `--sim "pcsc:": emulator init creates a software SIM`) {
		t.Fatalf("emulator init --sim pcsc: gave %v", err)
	}
	for _, args := range [][]string{{"emulator", "init"}, {"emulator", "serve", "--modem"}, {"emulator", "admin", "ls"}} {
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "name the software SIM: --sim emulator:FILE") {
			t.Fatalf("%v without a SIM gave %v", args, err)
		}
	}
}
