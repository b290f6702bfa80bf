package testtool

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A ready file caught half-written is read again until its line is whole;
// a file that never comes gives "" once the time is up.
func TestWaitLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(p, []byte("https://127.0"), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		os.WriteFile(p, []byte("https://127.0.0.1:8443\n"), 0o600)
	}()
	if got := WaitLine(p, 5*time.Second); got != "https://127.0.0.1:8443" {
		t.Errorf("WaitLine = %q, want the whole line", got)
	}
	start := time.Now()
	if got := WaitLine(filepath.Join(t.TempDir(), "never"), 300*time.Millisecond); got != "" {
		t.Errorf("no file: %q", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("WaitLine on a missing file returned after %v", d)
	}
}
