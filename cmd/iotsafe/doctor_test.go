package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `iotsafe doctor` says what the PKCS#11 library would see, with the fix
// for each failure, and exits non-zero when something is wrong.
func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	mustRun(t, "emulator", "init", "--state", state)
	t.Setenv("IOTSAFE_PKCS11_CONF", "")
	t.Setenv("IOTSAFE_PKCS11_STORE", filepath.Join(dir, "store"))

	t.Setenv("IOTSAFE_SIM", "emulator:"+state)
	out, err := run(t, "doctor")
	if err != nil || !strings.Contains(out, "IoT SAFE applet found") || !strings.Contains(out, `private key 01 "device-key"`) || strings.Contains(out, "FAIL") {
		t.Fatalf("doctor with a good SIM: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name, sim, says, fix string
		setup                func()
	}{
		{"no SIM configured", "", "no SIM configured", "IOTSAFE_SIM", func() {
			// A configuration file without a slot, whatever /etc/iotsafe holds.
			empty := filepath.Join(dir, "empty.conf")
			os.WriteFile(empty, nil, 0o600)
			t.Setenv("IOTSAFE_PKCS11_CONF", empty)
		}},
		{"a SIM that does not exist", "emulator:" + filepath.Join(dir, "absent.json"), "no such software SIM", "iotsafe emulator init", func() {
			t.Setenv("IOTSAFE_PKCS11_CONF", "")
		}},
		{"a store others can write", "emulator:" + state, "others can write", "chmod 700", func() {
			os.MkdirAll(filepath.Join(dir, "store"), 0o700)
			os.Chmod(filepath.Join(dir, "store"), 0o777)
		}},
	} {
		t.Setenv("IOTSAFE_SIM", tc.sim)
		if tc.sim == "" {
			os.Unsetenv("IOTSAFE_SIM")
		}
		tc.setup()
		out, err := run(t, "doctor")
		if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, tc.says) || !strings.Contains(out, "fix: ") || !strings.Contains(out, tc.fix) {
			t.Fatalf("doctor, %s: %v\n%s", tc.name, err, out)
		}
	}
}
