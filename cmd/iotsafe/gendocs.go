//go:build gendocs

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// With -tags gendocs the CLI gains a hidden command that writes the man
// pages (section 1, one per command) and the bash and zsh completions from
// the command tree, for the packages (scripts/deb.sh). The shipped binary
// is built without it.
func init() { extraCommands = append(extraCommands, newGenDocsCmd) }

func newGenDocsCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write man pages (DIR/man1) and completions (DIR/completions) from the command tree",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true
			man := filepath.Join(args[0], "man1")
			comp := filepath.Join(args[0], "completions")
			for _, d := range []string{man, comp} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			hdr := &doc.GenManHeader{Title: "IOTSAFE", Section: "1", Source: "go-iotsafe", Manual: "go-iotsafe manual"}
			if err := doc.GenManTree(root, hdr, man); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			if err := root.GenBashCompletionFileV2(filepath.Join(comp, "iotsafe.bash"), true); err != nil {
				return err
			}
			return root.GenZshCompletionFile(filepath.Join(comp, "_iotsafe"))
		},
	}
}
