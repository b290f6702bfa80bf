//go:build !unix

// Package pgtest starts a real PostgreSQL server for tests (on Unix, from
// Debian's packages; see pgtest.go). Elsewhere it has none to start.
package pgtest

import (
	"errors"
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/testtool"
)

// Server is a running PostgreSQL (never, here).
type Server struct{ URL string }

var errUnsupported = errors.New("pgtest: PostgreSQL for tests is started on Unix only")

// Start skips t (or fails it under IOTSAFE_REQUIRE_TOOLS=1).
func Start(t testing.TB) *Server {
	t.Helper()
	testtool.Missing(t, errUnsupported.Error())
	return nil
}

// Bindir is "" here.
func Bindir() string { return "" }

// StartServer fails here.
func StartServer() (*Server, error) { return nil, errUnsupported }

// Stop does nothing.
func (s *Server) Stop() {}
