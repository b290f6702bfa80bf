package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/internal/proxytest"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// The third finding of the second device-side review: --timeout was not a
// bound. With a link that went silent in the middle of an operation,
// `--timeout 3s` exited after 38 s over MBIM/QMI and 11 s over a modem
// (Close used a background context, the control channel's Send defaulted
// to 30 s, Close added 5 s). Each transport, silent from a point in the
// middle of `sign` on, must end the process within the timeout plus one
// second, Close included.
func TestTimeoutBoundsSilentLinks(t *testing.T) {
	const timeout = 2 * time.Second
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	in := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(in, []byte("hello"), 0o600)

	type link struct {
		name  string
		start func(t *testing.T, card *emulator.Card) (sim string, stop func())
	}
	modem := func(mode, silence string) func(t *testing.T, card *emulator.Card) (string, func()) {
		return func(t *testing.T, card *emulator.Card) (string, func()) {
			p, err := atmodem.NewPTY(card, atmodem.Quirks{})
			if err != nil {
				t.Fatal(err)
			}
			h, _ := atmodem.ParseHostile(silence)
			p.Modem.SetHostile([]atmodem.Hostile{h}, 0)
			return "modem:" + p.Path() + "?mode=" + mode, func() { p.Close() }
		}
	}
	mbim := func(proxy bool) func(t *testing.T, card *emulator.Card) (string, func()) {
		return func(t *testing.T, card *emulator.Card) (string, func()) {
			d, err := mbimdev.NewPTY(card, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.Device.Fault(3, mbimdev.FaultSilent)
			sim := "mbim:" + d.Path()
			if proxy {
				sim += "?proxy=1"
			}
			return sim, func() { d.Close() }
		}
	}
	qmi := func(proxy bool) func(t *testing.T, card *emulator.Card) (string, func()) {
		return func(t *testing.T, card *emulator.Card) (string, func()) {
			d, err := qmidev.NewPTY(card, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.Device.Fault(3, qmidev.FaultSilent)
			sim := "qmi:" + d.Path()
			if proxy {
				sim += "?proxy=1"
			}
			return sim, func() { d.Close() }
		}
	}
	links := []link{
		// Silent from Compute Signature Update on, or for every APDU
		// (the logical channel's close included).
		{"modem-csim", modem("csim", "silent@2B")}, {"modem-cgla", modem("cgla", "silent@2B")},
		{"modem-csim-all", modem("csim", "silent")}, {"modem-cgla-all", modem("cgla", "silent")},
		{"mbim", mbim(false)}, {"qmi", qmi(false)},
		{"mbim-proxy", mbim(true)}, {"qmi-proxy", qmi(true)},
	}
	for _, l := range links {
		t.Run(l.name, func(t *testing.T) {
			switch l.name {
			case "mbim-proxy":
				proxytest.Start(t, "@mbim-proxy", testtool.Need(t, "/usr/libexec/mbim-proxy"), "--empty-timeout=0")
			case "qmi-proxy":
				proxytest.Start(t, "@qmi-proxy", testtool.Need(t, "/usr/libexec/qmi-proxy"), "--empty-timeout=0")
			}
			card, err := emulator.Open(state, emulator.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer card.Close()
			sim, stop := l.start(t, card)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, os.Args[0], "--sim="+sim, "--timeout", timeout.String(), "sign", "--key", "01", "--in", in)
			c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1")
			start := time.Now()
			out, err := c.CombinedOutput()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("sign over a link that went silent succeeded: %s", out)
			}
			if took > timeout+time.Second {
				t.Fatalf("--timeout %v: the process ended after %v (bound: the timeout plus one second): %s", timeout, took.Round(10*time.Millisecond), out)
			}
			t.Logf("ended after %v: %s", took.Round(10*time.Millisecond), out)
		})
	}
}

// From the newcomer's review: `iotsafe: iotsafe: object or applet not
// found`. An error is one line with one prefix.
func TestErrorLineHasOnePrefix(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	c := exec.Command(os.Args[0], "--sim=emulator:"+state, "pubkey", "--key", "7f")
	c.Env = append(os.Environ(), "IOTSAFE_TEST_CLI=1")
	out, err := c.CombinedOutput()
	line := strings.TrimSpace(string(out))
	if err == nil || strings.Count(line, "iotsafe:") != 1 || !strings.HasPrefix(line, "iotsafe: ") || strings.Contains(line, "\n") {
		t.Fatalf("pubkey of a missing key printed %q (%v): want one line with one prefix", out, err)
	}
}

// From the newcomer's review: `sign --key 01 --label device-key` was
// accepted (the label won silently). One object, one name.
func TestKeyAndLabelExcludeEachOther(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	in := filepath.Join(t.TempDir(), "m")
	os.WriteFile(in, []byte("x"), 0o600)
	if out, err := run(t, "--sim=emulator:"+state, "sign", "--key", "01", "--label", "device-key", "--in", in); err == nil || !strings.Contains(err.Error(), "--key and --label") {
		t.Fatalf("sign --key 01 --label device-key: %q %v", out, err)
	}
	mustRun(t, "--sim=emulator:"+state, "sign", "--label", "device-key", "--in", in)
	mustRun(t, "--sim=emulator:"+state, "sign", "--key", "01", "--in", in)
}

// From the newcomer's review: `pubkey --key 05` on an empty container
// answered a raw status word, `csr --key 06` (no such ID) said the
// credential was removed by the operator, and `dh --peer cert.pem` dumped
// an ASN.1 structure. Each now says what is the matter in one line.
func TestCLIExplainsEmptyAndMissingObjects(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	sim := "--sim=emulator:" + state
	peer := filepath.Join(dir, "peer.pem")
	mustRun(t, sim, "read-file", "--label", "device-cert", "--pem", "--out", peer)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pubkey", "--key", "02"}, "is empty (or deactivated by the operator): no usable key in it (iotsafe keygen --key 02"},
		{[]string{"pubkey", "--key", "05"}, "is empty (or deactivated by the operator): nothing usable was delivered into it"},
		{[]string{"pubkey", "--key", "7a"}, "there is no public key 7A on this SIM"},
		{[]string{"csr", "--key", "06", "--cn", "x"}, "there is no private key 06 on this SIM"},
		{[]string{"pubkey", "--label", "nope"}, `there is no public key labelled "nope"`},
		// Signing and key agreement with an empty or absent key said
		// "card answered 6985" or "6A82 (not found)".
		{[]string{"sign", "--key", "02", "--in", state}, `private key 02 "ztp-key" is empty (or deactivated by the operator): no usable key in it (iotsafe keygen --key 02`},
		{[]string{"sign", "--label", "devkey", "--in", state}, `there is no private key labelled "devkey" on this SIM`},
		{[]string{"sign", "--key", "07", "--pss", "--in", state}, "there is no private key 07 on this SIM"},
		{[]string{"dh", "--key", "02", "--peer", peer}, `private key 02 "ztp-key" is empty (or deactivated by the operator)`},
	} {
		out, err := run(t, append([]string{sim}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %q %v (want one line saying %q)", tc.args, out, err, tc.want)
		}
	}
	// A certificate as the ECDH peer: its public key is used.
	cert := filepath.Join(dir, "dev.pem")
	mustRun(t, sim, "read-file", "--label", "device-cert", "--pem", "--out", cert)
	if out, err := run(t, sim, "dh", "--key", "04", "--peer", cert); err != nil || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("dh --peer with a certificate: %q %v", out, err)
	}
	priv := filepath.Join(dir, "k.pem")
	os.WriteFile(priv, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, err := run(t, sim, "dh", "--key", "04", "--peer", priv); err == nil || !strings.Contains(err.Error(), "PUBLIC KEY or CERTIFICATE") {
		t.Fatalf("dh --peer with a private key file: %v", err)
	}
}

// From the newcomer's review: `qmi:/dev/null` said "card removed or link
// lost". A device that does not speak the protocol is named as such.
func TestWrongControlDeviceIsNamed(t *testing.T) {
	for _, tc := range []struct{ sim, want string }{
		// proxy=0: the device itself (a proxy another test starts at the
		// same time would otherwise be used: it answers for the device).
		{"qmi:/dev/null?proxy=0", "no QMI answer to the first request"},
		{"mbim:/dev/null?proxy=0", "no MBIM answer to OPEN"},
	} {
		if out, err := run(t, "--sim="+tc.sim, "--timeout", "5s", "info"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q %v (want %q)", tc.sim, out, err, tc.want)
		}
	}
	// Through the real proxies (what runs beside ModemManager): the proxy
	// hangs up on /dev/null, which was reported as a card removed.
	proxytest.Start(t, "@mbim-proxy", testtool.Need(t, "/usr/libexec/mbim-proxy"), "--empty-timeout=0")
	proxytest.Start(t, "@qmi-proxy", testtool.Need(t, "/usr/libexec/qmi-proxy"), "--empty-timeout=0")
	for _, tc := range []struct{ sim, want string }{
		{"qmi:/dev/null?proxy=1", "/dev/null gave no QMI answer to the first request through qmi-proxy"},
		{"mbim:/dev/null?proxy=1", "mbim-proxy could not open /dev/null as an MBIM device"},
	} {
		if out, err := run(t, "--sim="+tc.sim, "--timeout", "2s", "info"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q %v (want %q)", tc.sim, out, err, tc.want)
		}
	}
}

// From the newcomer's review: `emulator admin ls --json` printed kind 193
// and base64 IDs. It writes names and hex IDs, as `ls --json` does.
func TestAdminLsJSON(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	var objs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "--json", "emulator", "admin", "--state", state, "ls")), &objs); err != nil || len(objs) == 0 {
		t.Fatalf("admin ls --json: %v", err)
	}
	if objs[0]["kind"] != "private key" || objs[0]["id"] != "01" || objs[0]["state"] != "active" {
		t.Fatalf("admin ls --json first object: %v", objs[0])
	}
}
