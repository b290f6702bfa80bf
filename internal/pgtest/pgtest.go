//go:build unix

// Package pgtest starts a real PostgreSQL server, from Debian's packages
// (postgresql: /usr/lib/postgresql/N/bin), for one test: initdb in a
// temporary directory, listening only on a Unix socket in that directory,
// stopped and removed when the test ends. PostgreSQL refuses to run as
// root; as root the server runs as the user nobody.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// Server is a running PostgreSQL.
type Server struct {
	// URL is a postgres:// URL of the database "postgres" through the
	// server's socket, for pgx (and est-server --store).
	URL  string
	dir  string
	bin  string
	cred *syscall.Credential
}

// bindir finds the newest installed PostgreSQL's programs.
func bindir() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(m, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return a < b
	})
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(m[len(m)-1])
}

// Start starts a server for t (skipped, or failed under
// IOTSAFE_REQUIRE_TOOLS=1, when PostgreSQL is not installed), stopped and
// removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if Bindir() == "" {
		testtool.Missing(t, "PostgreSQL is not installed (Debian package postgresql)")
	}
	s, err := StartServer()
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// Bindir is the directory of the newest installed PostgreSQL's programs
// ("" when none is installed).
func Bindir() string { return bindir() }

// StartServer starts a server (for programs that are not tests, such as
// the benchmarks); Stop stops it and removes its files.
func StartServer() (*Server, error) {
	bin := bindir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL is not installed (Debian package postgresql)")
	}
	// Not a test's TempDir: its parents are private to root, and the
	// server runs as nobody.
	dir, err := os.MkdirTemp("", "iotsafe-pg.")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	s := &Server{dir: dir, bin: bin}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	owner := ""
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return s, fmt.Errorf("running as root, and no user nobody to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{dir, data} {
			if err := os.Chown(p, uid, gid); err != nil {
				return s, err
			}
		}
		owner = "nobody"
	} else {
		u, _ := user.Current()
		owner = u.Username
	}
	if out, err := s.run("initdb", "-D", data, "-A", "trust", "-U", owner, "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return s, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 200\nshared_buffers = 32MB\n", dir)
	if err := os.WriteFile(filepath.Join(data, "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
		return s, err
	}
	if s.cred != nil {
		os.Chown(filepath.Join(data, "postgresql.auto.conf"), int(s.cred.Uid), int(s.cred.Gid))
	}
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return s, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	s.URL = (&url.URL{Scheme: "postgres", User: url.User(owner), Path: "/postgres", RawQuery: "host=" + url.QueryEscape(dir)}).String()
	return s, nil
}

func (s *Server) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(s.bin, prog), args...)
	c.Dir = s.dir
	c.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return c.CombinedOutput()
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	if _, err := os.Stat(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
		s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	os.RemoveAll(s.dir)
}
