//go:build gendocs

package main

import (
	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/internal/gendocs"
)

// With -tags gendocs the CLI gains a hidden command that writes the man
// pages and the bash and zsh completions from the command tree, for the
// packages (scripts/deb.sh). The shipped binary is built without it.
func init() {
	extraCommands = append(extraCommands, func(*globals) *cobra.Command { return gendocs.Command() })
}
