//go:build unix

package pkcs11mod

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The configured log file, placed by someone who can write its directory:
// a FIFO is refused at once instead of blocking C_Initialize until a
// reader comes, a symbolic link is not followed, a file others can write
// to or of another user is not used; the library's own file is created
// with mode 0600 and appended to. conformance/run.sh makes the same
// attacks on the built library through pkcs11-tool.
func TestLogFileChecks(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := syscall.Mkfifo(p("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("target"), []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p("target"), p("link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("open"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p("open"), 0o666); err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{"fifo": "FIFO", "link": "symbolic link", "open": "others can write", "dev": "not a regular file"}
	if os.Geteuid() == 0 {
		if err := os.WriteFile(p("foreign"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p("foreign"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		refused["foreign"] = "another user"
	}
	for name, want := range refused {
		path := p(name)
		if name == "dev" {
			path = "/dev/null"
		}
		done := make(chan error, 1)
		go func() {
			f, err := openLogFile(path)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("log at %s: got %v, want an error saying %q", name, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("log at %s: openLogFile still blocked after 10 s", name)
		}
	}
	if b, _ := os.ReadFile(p("target")); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}

	// Through the logger, with a syslog daemon standing at a socket of the
	// test: a refused file is not written, the refusal goes to syslog
	// naming the file, and so does the log itself.
	sock := filepath.Join(dir, "syslog")
	daemon, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	saved := syslogPaths
	syslogPaths = []string{sock}
	defer func() { syslogPaths = saved }()
	log, c := newLogger(&Config{Log: p("open"), LogLevel: "debug"})
	log.Warn("hello")
	if c != nil {
		c.Close()
	}
	var got []string
	buf := make([]byte, 4096)
	for len(got) < 2 {
		daemon.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := daemon.Read(buf)
		if err != nil {
			t.Fatalf("syslog: %v after %q", err, got)
		}
		got = append(got, string(buf[:n]))
	}
	if !strings.Contains(got[0], "cannot open log "+p("open")) || !strings.Contains(got[0], "others can write") {
		t.Errorf("syslog's first message %q does not name the refused log file and why", got[0])
	}
	if !strings.Contains(got[1], "msg=hello") {
		t.Errorf("the log did not go to syslog instead: %q", got[1])
	}
	if fi, _ := os.Stat(p("open")); fi.Size() != 0 {
		t.Errorf("a file others can write to was used as the log")
	}

	own := p("own.log")
	for i := 0; i < 2; i++ {
		log, c := newLogger(&Config{Log: own})
		log.Warn("line")
		if c == nil {
			t.Fatal("no log file opened")
		}
		c.Close()
	}
	fi, err := os.Stat(own)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log created with mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(own); strings.Count(string(b), "msg=line") != 2 {
		t.Errorf("log file: %q, want two lines appended", b)
	}
}
