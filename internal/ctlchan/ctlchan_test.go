package ctlchan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/rawpty"
	"github.com/go-iotsafe/iotsafe/transport"
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

// Through a proxy's abstract socket (here a listener of the test's, the
// real mbim-proxy and qmi-proxy are driven by the transports' tests):
// messages cross both ways, a read with a deadline ends with
// os.ErrDeadlineExceeded, the proxy going away reads as a removed card,
// and Close ends a read that waits. Without a proxy, Proxied says so and
// Auto opens the device.
func TestProxySocket(t *testing.T) {
	name := fmt.Sprintf("@go-iotsafe-ctlchan-test-%d", os.Getpid())
	ln, err := net.Listen("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, proxied, err := Open(ctx, "/dev/null", name, Proxied, errBase)
	if err != nil || !proxied {
		t.Fatalf("open through the socket: %v (proxied %v)", err, proxied)
	}
	defer c.Close()
	peer := <-accepted
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	peer.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := peer.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("proxy read %q, %v", buf[:n], err)
	}
	peer.Write([]byte("pong"))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if e := IOError(ctx, "/dev/cdc-wdm0", errBase, err); !errors.Is(e, context.DeadlineExceeded) {
		t.Fatalf("deadline named %v", e)
	}
	c.SetDeadline(time.Time{})
	peer.Close()
	_, err = c.Read(buf)
	if e := IOError(ctx, "/dev/cdc-wdm0", errBase, err); !errors.Is(e, transport.ErrCardRemoved) {
		t.Fatalf("proxy gone: %v named %v", err, e)
	}

	// Close ends a read that waits without a deadline.
	c2, _, err := Open(ctx, "/dev/null", name, Proxied, errBase)
	if err != nil {
		t.Fatal(err)
	}
	defer (<-accepted).Close()
	done := make(chan error, 1)
	go func() { _, err := c2.Read(buf); done <- err }()
	time.Sleep(50 * time.Millisecond)
	c2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the read")
	}

	ln.Close()
	if _, _, err := Open(ctx, "/dev/null", name, Proxied, errBase); err == nil || !errors.Is(err, errBase) ||
		!strings.Contains(err.Error(), "the proxy is not running") {
		t.Fatalf("no proxy, Proxied: %v", err)
	}
	c3, proxied, err := Open(ctx, "/dev/null", name, Auto, errBase)
	if err != nil || proxied {
		t.Fatalf("no proxy, Auto: %v (proxied %v)", err, proxied)
	}
	c3.Close()
}
