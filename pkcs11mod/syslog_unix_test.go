//go:build unix

package pkcs11mod

import (
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// The library's syslog writer against a datagram socket standing for
// /dev/log: the message arrives in log/syslog's local format, at
// LOG_USER|LOG_WARNING, with a newline added once; when the daemon is
// restarted (its socket made again) the next message reaches the new one;
// with no daemon at all there is no logger. The datagrams are compared with
// those Go's log/syslog sends for the same messages.
func TestSystemLog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	listen := func() *net.UnixConn {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	read := func(c *net.UnixConn) string {
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("syslog read: %v", err)
		}
		return string(buf[:n])
	}
	want := regexp.MustCompile(`^<12>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} iotsafe-pkcs11\[[0-9]+\]: (.*)\n$`)

	daemon := listen()
	l := &sysLogger{paths: []string{filepath.Join(t.TempDir(), "none"), sock}, tag: "iotsafe-pkcs11", fd: -1}
	if err := l.dial(); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, msg := range []string{"level=WARN msg=\"no SIM configured\"\n", "no newline"} {
		if n, err := l.Write([]byte(msg)); err != nil || n != len(msg) {
			t.Fatalf("write: %d, %v", n, err)
		}
		got := read(daemon)
		m := want.FindStringSubmatch(got)
		if m == nil || m[1]+"\n" != msg && m[1] != msg {
			t.Fatalf("syslog got %q for %q", got, msg)
		}
	}
	// Go's log/syslog, the writer this one replaces, sends the same
	// datagram to the same socket (apart from the clock and the tag's PID).
	peer, err := syslog.Dial("unixgram", sock, syslog.LOG_WARNING|syslog.LOG_USER, "iotsafe-pkcs11")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	stamp := regexp.MustCompile(`^(<[0-9]+>)[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} `)
	for _, msg := range []string{"level=WARN msg=x\n", "no newline"} {
		peer.Write([]byte(msg))
		theirs := stamp.ReplaceAllString(read(daemon), "$1")
		l.Write([]byte(msg))
		ours := stamp.ReplaceAllString(read(daemon), "$1")
		if theirs != ours {
			t.Fatalf("log/syslog sent %q, this writer %q", theirs, ours)
		}
	}

	daemon.Close()
	os.Remove(sock)
	daemon = listen() // the daemon restarted: a new socket at the same path
	defer daemon.Close()
	if _, err := l.Write([]byte("after restart")); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	if got := read(daemon); !want.MatchString(got) {
		t.Fatalf("after the restart: %q", got)
	}

	none := &sysLogger{paths: []string{filepath.Join(t.TempDir(), "none")}, tag: "x", fd: -1}
	if err := none.dial(); err == nil {
		t.Fatal("dialled a socket that does not exist")
	}
}
