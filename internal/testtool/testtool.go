// Package testtool finds the system programs and services that tests
// drive (openssl, pcscd, mbimcli, ...). Without them a test is skipped on a
// developer's machine, and fails under IOTSAFE_REQUIRE_TOOLS=1, which
// `make test` and CI set: there a missing tool is a broken setup, not a
// reason to pass. WaitLine waits for what a server the test started
// announces.
package testtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// EnvRequire is the environment variable that turns a missing tool into a
// failure.
const EnvRequire = "IOTSAFE_REQUIRE_TOOLS"

// Required reports whether missing tools fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Need returns the path of the program name, found in $PATH or as given;
// without it t is skipped, or fails when Required.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// Missing skips t, or fails it when Required, saying what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (required: %s=1)", what, EnvRequire)
	}
	t.Skip(what)
}

// WaitLine waits up to within for the file at path to hold a whole line
// (a server's --ready-file, written as its URL and a newline) and returns
// that line; "" when none came in time. A file caught half-written, with
// no newline yet, is read again.
func WaitLine(path string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil {
			if line, _, ok := strings.Cut(string(b), "\n"); ok && strings.TrimSpace(line) != "" {
				return strings.TrimSpace(line)
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
}
