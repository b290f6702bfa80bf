//go:build !noestserver

package main

import (
	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/internal/estcli"
)

// estCommands are the EST server's commands: est-server and est-admin. The
// device CLI of the packages is built without them (-tags noestserver,
// est_off.go); the server has its own binary and package there
// (cmd/iotsafe-est-server).
func estCommands(g *globals) []*cobra.Command {
	admin := estcli.Admin(g.out, &g.json)
	admin.Use = "est-admin"
	return []*cobra.Command{estcli.Server(g.out), admin}
}
