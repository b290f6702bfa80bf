// Command iotsafe-est-server is the EST (RFC 7030) server of go-iotsafe on
// its own, as the package iotsafe-est-server installs it: a CA whose key
// and records live in SQLite (--dir) or PostgreSQL (--store, shared by
// replicas), enrolling devices that authenticate with a bootstrap password
// or a factory certificate. `iotsafe-est-server admin` talks to a running
// server's admin endpoints. The same commands are `iotsafe est-server` and
// `iotsafe est-admin` in the CLI built from source; the device package's
// CLI is built without them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/internal/estcli"
)

// extraCommands are commands that build tags add (gendocs.go).
var extraCommands []func() *cobra.Command

// newRootCmd is the server's command with the admin client below it.
func newRootCmd(out io.Writer) *cobra.Command {
	root := estcli.Server(out)
	root.Use = "iotsafe-est-server"
	root.SilenceUsage, root.SilenceErrors = true, true
	root.Example = "  iotsafe-est-server --dir /var/lib/iotsafe-est-server --listen 0.0.0.0:8443 --name est.example.com --bootstrap-ca factory-ca.pem --admin-token-file admin.token"
	var jsonOut bool
	admin := estcli.Admin(out, &jsonOut)
	admin.Use = "admin"
	admin.Example = strings.ReplaceAll(admin.Example, "iotsafe est-admin", "iotsafe-est-server admin")
	admin.PersistentFlags().BoolVar(&jsonOut, "json", false, "machine-readable JSON output")
	root.AddCommand(admin)
	for _, c := range extraCommands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "iotsafe-est-server: "+strings.TrimPrefix(err.Error(), "iotsafe: "))
		os.Exit(1)
	}
}
