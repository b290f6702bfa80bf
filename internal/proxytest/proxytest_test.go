package proxytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary play a proxy: it listens on the abstract
// socket named in PROXYTEST_LISTEN and tells each client its process ID.
func TestMain(m *testing.M) {
	if name := os.Getenv("PROXYTEST_LISTEN"); name != "" {
		l, err := net.Listen("unix", name)
		if err != nil {
			os.Exit(3)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(0)
			}
			fmt.Fprintf(c, "%d\n", os.Getpid())
			c.Close()
		}
	}
	os.Exit(m.Run())
}

func owner(t *testing.T, socket string) int {
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	pid, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatalf("greeting %q", line)
	}
	return pid
}

// Two tests (in one process here; the lock is the same across processes)
// start the same proxy at once: without the lock the second would find
// the first's proxy, take it for a foreign one and skip, or share it and
// lose it when the first kills it. Each must own the proxy it talks to,
// through a restart too.
func TestConcurrentStarts(t *testing.T) {
	socket := fmt.Sprintf("@go-iotsafe-proxytest-%d", os.Getpid())
	t.Setenv("PROXYTEST_LISTEN", socket)
	var done atomic.Int32
	t.Run("group", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				p := Start(t, socket, os.Args[0])
				for j := 0; j < 5; j++ {
					if got := owner(t, socket); got != p.Pid() {
						t.Fatalf("talking to proxy %d, ours is %d", got, p.Pid())
					}
					time.Sleep(20 * time.Millisecond)
				}
				p.Restart(t)
				if got := owner(t, socket); got != p.Pid() {
					t.Fatalf("after restart: talking to proxy %d, ours is %d", got, p.Pid())
				}
				done.Add(1)
			})
		}
	})
	if done.Load() != 2 {
		t.Fatalf("%d of 2 tests owned the proxy", done.Load())
	}
	// Once both are done, nothing listens: both proxies were stopped.
	if listening(socket) {
		t.Fatal("a proxy outlived its test")
	}
}

// A proxy the test did not start is left alone and the test skipped.
func TestForeignProxy(t *testing.T) {
	socket := fmt.Sprintf("@go-iotsafe-proxytest-foreign-%d", os.Getpid())
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	skipped := false
	t.Run("start", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t, socket, os.Args[0])
	})
	if !skipped {
		t.Fatal("a foreign proxy was not left alone")
	}
}
