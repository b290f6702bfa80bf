// Package proxytest starts libmbim's or libqmi's proxy (mbim-proxy,
// qmi-proxy) for a test, on the fixed abstract socket the real proxy
// listens on, without touching one the test did not start.
//
// Test binaries of several packages run at once (go test ./...) and more
// than one of them starts the same proxy: each takes a lock first (an
// abstract Unix socket of its own name, freed by the kernel when the
// holder exits, nothing left on disk), so only one test at a time owns
// the proxy and kills or restarts it; a proxy that runs while nobody
// holds the lock is someone else's (ModemManager's) and the test is
// skipped.
package proxytest

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Proxy is a proxy the test started.
type Proxy struct {
	socket string
	argv   []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts argv (the proxy and its arguments) and waits until it
// listens on socket (an abstract name, "@..."); the test's cleanup stops
// it. A missing program skips the test, or fails it when
// IOTSAFE_REQUIRE_TOOLS=1 (make test).
func Start(t testing.TB, socket string, argv ...string) *Proxy {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		if os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (IOTSAFE_REQUIRE_TOOLS=1): %v", argv[0], err)
		}
		t.Skipf("%s not installed", argv[0])
	}
	lock(t, socket)
	if listening(socket) {
		t.Skipf("a proxy runs already on %s (not ours): left alone", socket)
	}
	p := &Proxy{socket: socket, argv: argv}
	p.start(t)
	t.Cleanup(p.Stop)
	return p
}

// lock holds the test lock of socket until the test ends, waiting (at
// most two minutes) for another test that holds it.
func lock(t testing.TB, socket string) {
	t.Helper()
	name := "@go-iotsafe-test-lock-" + strings.TrimPrefix(socket, "@")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l, err := net.Listen("unix", name)
		if err == nil {
			t.Cleanup(func() { l.Close() })
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("another test held %s for two minutes: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listening(socket string) bool {
	c, err := net.Dial("unix", socket)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func (p *Proxy) start(t testing.TB) {
	t.Helper()
	p.cmd = exec.Command(p.argv[0], p.argv[1:]...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.exited = exited
	go func(c *exec.Cmd) { c.Wait(); close(exited) }(p.cmd)
	for i := 0; ; i++ {
		select {
		case <-exited:
			t.Fatalf("%s exited before listening on %s", p.argv[0], p.socket)
		default:
		}
		if listening(p.socket) {
			return
		}
		if i == 200 {
			p.Stop()
			t.Fatalf("%s did not listen on %s in 10s", p.argv[0], p.socket)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid returns the process ID of the running proxy.
func (p *Proxy) Pid() int { return p.cmd.Process.Pid }

// Stop kills the proxy and waits for it to end.
func (p *Proxy) Stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// Restart starts the proxy again after Stop.
func (p *Proxy) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	p.start(t)
}
