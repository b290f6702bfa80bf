//go:build !noestserver

package main

import (
	"testing"

	"github.com/go-iotsafe/iotsafe/internal/estcli"
)

// The EST server's command lives in internal/estcli and is marked long
// running there: the CLI must read the same key, or --timeout (default
// one minute) would stop the server.
func TestESTServerIsLongRunning(t *testing.T) {
	if longRunning != estcli.LongRunning {
		t.Fatalf("the CLI's long-running key %q is not estcli's %q", longRunning, estcli.LongRunning)
	}
	for _, c := range newRootCmdTo(nil).Commands() {
		if c.Name() == "est-server" && c.Annotations[longRunning] == "" {
			t.Fatal("est-server is not marked long running")
		}
	}
}
