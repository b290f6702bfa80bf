package secretarg

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A secret file: its first line (CRLF too) is the password; a pipe, as the
// shell's <(command) gives, is read like a file; a path to something
// endless (/dev/zero) or large is refused promptly with a message saying
// why, instead of being read until memory runs out.
func TestResolveFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve("flag", pw); err != nil || got != "s3cret" {
		t.Errorf("Resolve(file) = %q, %v; want s3cret", got, err)
	}
	t.Setenv(EnvPassword, "env")
	if got, _ := Resolve("flag", ""); got != "flag" {
		t.Errorf("flag: got %q", got)
	}
	if got, _ := Resolve("", ""); got != "env" {
		t.Errorf("environment: got %q", got)
	}

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", MaxFile+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve("", big); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a file of %d bytes: %v, want refused", MaxFile+1, err)
	}
	if b, err := ReadFile(pw); err != nil || len(b) != 20 {
		t.Errorf("ReadFile: %q, %v", b, err)
	}

	if runtime.GOOS == "linux" {
		done := make(chan error, 1)
		go func() { _, err := Resolve("", "/dev/zero"); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "longer than") {
				t.Errorf("/dev/zero: %v, want refused", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("/dev/zero still being read after 10 s")
		}

		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { fmt.Fprint(w, "piped\n"); w.Close() }()
		got, err := Resolve("", fmt.Sprintf("/proc/self/fd/%d", r.Fd()))
		r.Close()
		if err != nil || got != "piped" {
			t.Errorf("a pipe: %q, %v; want piped", got, err)
		}
	}
}
