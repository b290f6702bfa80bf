//go:build noestserver

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// estCommands, in the device CLI of the packages (-tags noestserver): the
// EST server and its admin client are not in this binary, whose size they
// would double (its SQLite and PostgreSQL drivers). est-server and
// est-admin stay as hidden commands that say where they are.
func estCommands(*globals) []*cobra.Command {
	var cmds []*cobra.Command
	for _, name := range []string{"est-server", "est-admin"} {
		sub := map[string]string{"est-server": "iotsafe-est-server", "est-admin": "iotsafe-est-server admin"}[name]
		cmds = append(cmds, &cobra.Command{
			Use:                name,
			Hidden:             true,
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return fmt.Errorf("%s is not in this build of iotsafe (the device package): the EST server is in the package iotsafe-est-server, as `%s` (or build the full CLI from source: make build)", name, sub)
			},
		})
	}
	return cmds
}
