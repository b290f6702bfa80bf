//go:build linux

package ctlchan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A proxy that stopped accepting (hung, or stopped by a debugger) fills
// its listen queue; a caller whose context has no deadline still gets an
// error, within the queue wait, instead of waiting for ever.
func TestProxyQueueFullEnds(t *testing.T) {
	name := fmt.Sprintf("@go-iotsafe-ctlchan-full-%d", os.Getpid())
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted
		t.Fatal(err)
	}
	// Fill the queue.
	var held []int
	defer func() {
		for _, c := range held {
			syscall.Close(c)
		}
	}()
	for range 64 {
		c, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if err := syscall.Connect(c, &syscall.SockaddrUnix{Name: name}); errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	saved := queueWait
	queueWait = 300 * time.Millisecond
	defer func() { queueWait = saved }()
	start := time.Now()
	_, _, err = Open(context.Background(), "/dev/null", name, Proxied, errBase)
	if err == nil || !errors.Is(err, errBase) || !strings.Contains(err.Error(), "queue") {
		t.Fatalf("a proxy whose queue stays full: %v", err)
	}
	if d := time.Since(start); d > queueWait+time.Second {
		t.Fatalf("gave up after %v (queue wait %v)", d, queueWait)
	}
}
