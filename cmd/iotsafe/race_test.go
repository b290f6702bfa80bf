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
	"encoding/pem"
	"fmt"
	"github.com/go-iotsafe/iotsafe/spec"
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
	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// TestMain lets a test run the command line as a separate OS process: the
// test binary itself, with IOTSAFE_TEST_CLI=1, is the iotsafe program.
func TestMain(m *testing.M) {
	if os.Getenv("IOTSAFE_TEST_CLI") == "1" {
		main()
		os.Exit(0)
	}
	if state := os.Getenv("IOTSAFE_TEST_ADMIN_HANG"); state != "" {
		// An operator session that marks the data file and never ends
		// (the parent kills it).
		c, err := emulator.Open(state, emulator.Options{})
		if err != nil {
			os.Exit(3)
		}
		s, err := c.BeginAdmin()
		if err != nil {
			os.Exit(4)
		}
		if err := s.PutFile([]byte{0x10}, "data", spec.FileUsageGeneral, spec.AccessRead, []byte("half-delivered")); err != nil {
			os.Exit(5)
		}
		os.Stdout.WriteString("marked\n")
		select {}
	}
	os.Exit(m.Run())
}

// cli runs the command line in a separate process.
func cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], args...)
	c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if err != nil {
		return out.String(), fmt.Errorf("iotsafe %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// raceDH is the attack of the security review: two processes run `iotsafe
// dh` in a loop on one SIM, each with its own peer key. Put Public Key and
// Compute DH share the SIM's peer-key object, so unless the pair is one
// card operation a process computes with the other's peer key. Every
// secret must equal the one computed in software.
func raceDH(t *testing.T, sim string, loops int) {
	t.Helper()
	dir := t.TempDir()
	out, err := cli(sim, "pubkey", "--key", "04")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(out))
	if blk == nil {
		t.Fatalf("pubkey printed %q", out)
	}
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cardPub, err := pk.(*ecdsa.PublicKey).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*loops)
	for p := 0; p < 2; p++ {
		peer, _ := ecdh.P256().GenerateKey(rand.Reader)
		want, _ := peer.ECDH(cardPub)
		der, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
		pemFile := filepath.Join(dir, fmt.Sprintf("peer%d.pem", p))
		os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < loops; i++ {
				out, err := cli(sim, "dh", "--key", "04", "--peer", pemFile)
				if err != nil {
					errs <- err
					return
				}
				if got := strings.TrimSpace(out); got != hex.EncodeToString(want) {
					errs <- fmt.Errorf("process %d, round %d: got another process's shared secret", p, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Two processes on one emulator state file, with the SIM timing model so
// that the window between the two commands is as wide as on a real SIM.
func TestDHRaceEmulatorProcesses(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	raceDH(t, "--sim=emulator:"+state+"?timing=1", 6)
}

// Two processes on one modem port (a real pty), which they share through
// the port's advisory lock.
func TestDHRaceModemProcesses(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	card, err := emulator.Open(state, emulator.Options{Timing: emulator.DefaultTiming()})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	p, err := atmodem.NewPTY(card, atmodem.Quirks{URCs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, mode := range []string{"csim", "cgla"} {
		raceDH(t, "--sim=modem:"+p.Path()+"?mode="+mode, 4)
	}
}

// The attack of the security review: `iotsafe verify-image` on a tampered
// image, with the SIM behind a modem whose link repeats, delays, drops or
// reorders the answers of Verify Signature Init or Update, one case at a
// time. The CLI runs as its own process on the real pty; it must never say
// "signature OK" nor exit 0.
func TestVerifyImageOverHostileModem(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&vendor.PublicKey)
	pubFile := filepath.Join(dir, "vendor.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	mustRun(t, "emulator", "admin", "--state", state, "put-public-key", "--id", "30", "--label", "vendor", "--in", pubFile)
	img := filepath.Join(dir, "app.bin")
	genuine := bytes.Repeat([]byte("firmware"), 512)
	d := sha256.Sum256(genuine)
	sig, _ := ecdsa.SignASN1(rand.Reader, vendor, d[:])
	sigFile := filepath.Join(dir, "app.sig")
	os.WriteFile(sigFile, sig, 0o644)
	tampered := bytes.Clone(genuine)
	tampered[7] ^= 1
	os.WriteFile(img, tampered, 0o644)

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
	sim := "--sim=modem:" + p.Path()
	for _, fault := range []string{"repeat@2C", "repeat@2D", "late@2C", "late@2D", "drop@2D", "reorder@2C", "reorder@2D"} {
		h, err := atmodem.ParseHostile(fault)
		if err != nil {
			t.Fatal(err)
		}
		p.Modem.SetHostile([]atmodem.Hostile{h}, 1500*time.Millisecond)
		out, err := cli(sim, "--timeout", "1s", "verify-image", "--label", "vendor", "--sig", sigFile, img)
		if err == nil || strings.Contains(out, "signature OK") {
			t.Fatalf("%s: a tampered image passed: %q %v", fault, out, err)
		}
		p.Modem.SetHostile(nil, 0)
		time.Sleep(1600 * time.Millisecond) // a late answer lands before the next run
	}
	// A sane link again: the genuine image passes, the tampered one is refused with exit 2.
	os.WriteFile(img, genuine, 0o644)
	if out, err := cli(sim, "verify-image", "--label", "vendor", "--sig", sigFile, img); err != nil || !strings.Contains(out, "signature OK") {
		t.Fatalf("genuine image on a sane link: %q %v", out, err)
	}
	os.WriteFile(img, tampered, 0o644)
	if _, err := cli(sim, "verify-image", "--label", "vendor", "--sig", sigFile, img); err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("tampered image on a sane link: %v", err)
	}
}

// The attack of the security review: `iotsafe keygen` into the container of
// a live key replaced it. Now only --replace does.
func TestKeygenKeepsLiveKeys(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	sim := "--sim=emulator:" + state
	before := mustRun(t, sim, "pubkey", "--key", "04")
	if out, err := run(t, sim, "keygen", "--label", "ecdh-key"); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("keygen over a live key: %q %v", out, err)
	}
	if after := mustRun(t, sim, "pubkey", "--key", "04"); after != before {
		t.Fatal("the live key changed")
	}
	mustRun(t, sim, "keygen", "--key", "02") // an empty container
	mustRun(t, sim, "keygen", "--label", "ecdh-key", "--replace")
	if after := mustRun(t, sim, "pubkey", "--key", "04"); after == before {
		t.Fatal("--replace did not replace the key")
	}
}

// startHangingAdmin starts an operator session in another process that
// marks the state file and never ends; it returns once the mark is made.
func startHangingAdmin(t *testing.T, state string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "IOTSAFE_TEST_ADMIN_HANG="+state)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "marked\n" {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("the admin process did not mark the file: %q %v", buf, err)
	}
	return c
}

// The attack of the security review: an operator session killed mid-way
// left a mark that made the file answer 6984 forever and refused every
// later session. A dead session is now ignored and replaced; none of its
// changes were applied.
func TestKilledAdminSessionRecovers(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	sim := "--sim=emulator:" + state
	before := mustRun(t, sim, "read-file", "--file", "10")
	c := startHangingAdmin(t, state)
	// While it lives, the file is under administration (6984).
	if _, err := run(t, sim, "read-file", "--file", "10"); err == nil || !strings.Contains(err.Error(), "6984") {
		t.Fatalf("read during a live session: %v", err)
	}
	c.Process.Kill()
	c.Wait()
	if got := mustRun(t, sim, "read-file", "--file", "10"); got != before {
		t.Fatal("a killed session's change was applied")
	}
	in := filepath.Join(t.TempDir(), "new")
	os.WriteFile(in, []byte("delivered"), 0o600)
	mustRun(t, "emulator", "admin", "--state", state, "put-file", "--file", "10", "--label", "data", "--in", in)
	if got := mustRun(t, sim, "read-file", "--file", "10"); !strings.Contains(got, "delivered") {
		t.Fatalf("a new session after the killed one did not deliver: %q", got)
	}
}

// The sixth finding of the second device-side review: an operator process
// killed but not yet reaped by its parent (a zombie) still counted as a
// live session and kept the objects at 6984.
func TestZombieAdminSessionIsDead(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	sim := "--sim=emulator:" + state
	before := mustRun(t, sim, "read-file", "--file", "10")
	c := startHangingAdmin(t, state)
	defer c.Wait()
	// Killed, and not reaped (no Wait until the test ends): a zombie.
	c.Process.Signal(os.Kill)
	zombie := false
	for i := 0; i < 200 && !zombie; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		zombie = strings.Contains(string(b), ") Z ")
		time.Sleep(10 * time.Millisecond)
	}
	if !zombie {
		t.Fatal("the killed admin process did not become a zombie")
	}
	if got, err := run(t, sim, "read-file", "--file", "10"); err != nil || got != before {
		t.Fatalf("read while the session's process is a zombie: %v (want the file as before)", err)
	}
}

// A writer killed between writing its temporary copy of the state file and
// renaming it leaves that copy (with superseded keys) behind: the next
// program that opens the SIM removes it.
func TestStaleStateCopiesRemoved(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	for _, n := range []string{".sim.json.tmp-1", ".sim.json.tmp-2"} {
		os.WriteFile(filepath.Join(dir, n), []byte(`{"old":"keys"}`), 0o600)
	}
	mustRun(t, "--sim=emulator:"+state, "info")
	if m, _ := filepath.Glob(filepath.Join(dir, ".sim.json.tmp-*")); len(m) != 0 {
		t.Fatalf("stale copies left: %v", m)
	}
}

// Zero-touch without a shared password: the EST server accepts factory
// certificates chaining to the SIM maker's CA (--bootstrap-ca), and
// `provision --factory-key` presents the SIM's factory certificate, signed
// for by the SIM key, as the TLS client certificate.
func TestProvisionWithFactoryKey(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	sim := "--sim=emulator:" + state
	factoryCA := filepath.Join(dir, "factory-ca.pem")
	mustRun(t, sim, "read-file", "--label", "ca-cert", "--pem", "--out", factoryCA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := filepath.Join(dir, "url")
	srv := newRootCmdTo(io.Discard)
	srv.SetArgs([]string{"est-server", "--dir", filepath.Join(dir, "ca"), "--listen", "127.0.0.1:0", "--bootstrap-ca", factoryCA, "--ready-file", ready})
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	url := testtool.WaitLine(ready, 5*time.Second)
	if url == "" {
		t.Fatal("EST server did not start")
	}
	est := []string{"--est", url, "--est-ca", filepath.Join(dir, "ca", "ca.pem")}
	// No credential at all: refused before anything happens on the SIM.
	if _, err := run(t, append([]string{sim, "provision"}, est...)...); err == nil || !strings.Contains(err.Error(), "no enrolment credential") {
		t.Fatalf("provision without a credential: %v", err)
	}
	out := mustRun(t, append([]string{sim, "provision", "--factory-key", "device-key", "--cn", "sensor-{key}"}, est...)...)
	if !strings.Contains(out, "generated on the SIM") {
		t.Fatalf("provision --factory-key printed %q", out)
	}
	// Renewal from the command line, authenticated by the credential
	// itself; twice (the second time with the renewed certificate).
	for i := 0; i < 2; i++ {
		out = mustRun(t, append([]string{sim, "renew", "--key", "02"}, est...)...)
		if !strings.Contains(out, "renewed") || !strings.Contains(out, "sensor-") {
			t.Fatalf("renew %d printed %q", i, out)
		}
	}
	// --within: a certificate a year from expiry is not due in 30 days
	// (nothing sent), and is within two years.
	out = mustRun(t, append([]string{sim, "renew", "--key", "02", "--within", "720h"}, est...)...)
	if !strings.HasPrefix(out, "not due: certificate serial ") {
		t.Fatalf("renew --within 720h a year before expiry printed %q", out)
	}
	out = mustRun(t, append([]string{sim, "renew", "--key", "02", "--within", "17520h"}, est...)...)
	if !strings.Contains(out, "renewed") {
		t.Fatalf("renew --within 17520h printed %q", out)
	}
	// A key without a certificate cannot be renewed.
	if _, err := run(t, append([]string{sim, "renew", "--key", "01"}, est...)...); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("renew of a key without a certificate: %v", err)
	}
	// Another SIM, whose factory certificate the server does not know.
	other := filepath.Join(dir, "other.json")
	mustRun(t, "emulator", "init", "--state", other)
	if _, err := run(t, append([]string{"--sim=emulator:" + other, "provision", "--factory-key", "01"}, est...)...); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a foreign factory certificate: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `iotsafe --trace emulator serve` prints every command and answer on the
// card side, with the data of ECDH (and PRF, HKDF) redacted.
func TestEmulatorServeTrace(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	var out, trace syncBuffer
	srv := newRootCmdTo(&out)
	srv.SetErr(&trace)
	srv.SetArgs([]string{"--trace", "emulator", "serve", "--state", state, "--modem"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	var path string
	for i := 0; i < 100 && path == ""; i++ {
		time.Sleep(20 * time.Millisecond)
		path = strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
	}
	if path == "" {
		t.Fatal("the fake modem did not start")
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	pemFile := filepath.Join(dir, "peer.pem")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	secret := strings.TrimSpace(mustRun(t, "--sim=modem:"+path, "dh", "--key", "04", "--peer", pemFile))
	tr := trace.String()
	for _, want := range []string{"card <- 00700000", "card <- 81460000", "bytes redacted]"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	if strings.Contains(strings.ToLower(tr), secret) {
		t.Fatal("the trace shows the shared secret")
	}
}
