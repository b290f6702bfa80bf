package ctlchan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/rawpty"
)

var errBase = errors.New("base")

// A regular file or a FIFO where the device node should be (a path
// swapped, a typo) is refused when opened, before a message is written to
// it, and the lock is not taken on it; a pseudo-terminal, a character
// device like a cdc-wdm node, is accepted.
func TestNotADevice(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cdc-wdm0")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []string{file, fifo} {
		if c, _, err := Open(ctx, p, "@go-iotsafe-no-such-proxy", Direct, errBase); !errors.Is(err, ErrNotDevice) || !errors.Is(err, errBase) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("%s opened: %v", p, err)
		}
		if _, err := Begin(ctx, p, errBase); !errors.Is(err, ErrNotDevice) {
			t.Fatalf("%s locked: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(file); len(b) != 0 {
		t.Fatalf("%d bytes written to the regular file", len(b))
	}
	master, tty, err := rawpty.Open()
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	defer master.Close()
	defer tty.Close()
	c, proxied, err := Open(ctx, tty.Name(), "@go-iotsafe-no-such-proxy", Auto, errBase)
	if err != nil || proxied {
		t.Fatalf("pty: %v (proxied %v)", err, proxied)
	}
	c.Close()
	release, err := Begin(ctx, tty.Name(), errBase)
	if err != nil {
		t.Fatal(err)
	}
	release()
}
