// Package testtool finds the system programs and services that tests
// drive (openssl, pcscd, mbimcli, ...). Without them a test is skipped on a
// developer's machine, and fails under IOTSAFE_REQUIRE_TOOLS=1, which
// `make test` and CI set: there a missing tool is a broken setup, not a
// reason to pass.
package testtool

import (
	"os"
	"os/exec"
	"testing"
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
