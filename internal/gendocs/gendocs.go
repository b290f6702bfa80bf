// Package gendocs writes the man pages and shell completions of a cobra
// command tree, for the Debian packages (scripts/deb.sh). The commands
// that use it are built only with -tags gendocs: shipped binaries lack it.
package gendocs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Command returns the hidden `gen-docs DIR` command: man pages (section 1,
// one per command) in DIR/man1, and the bash and zsh completions of the
// root command in DIR/completions (NAME.bash and _NAME).
func Command() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write man pages (DIR/man1) and completions (DIR/completions) from the command tree",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true
			name := root.Name()
			man := filepath.Join(args[0], "man1")
			comp := filepath.Join(args[0], "completions")
			for _, d := range []string{man, comp} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			hdr := &doc.GenManHeader{Title: strings.ToUpper(name), Section: "1", Source: "go-iotsafe", Manual: "go-iotsafe manual"}
			if err := doc.GenManTree(root, hdr, man); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			if err := root.GenBashCompletionFileV2(filepath.Join(comp, name+".bash"), true); err != nil {
				return err
			}
			return root.GenZshCompletionFile(filepath.Join(comp, "_"+name))
		},
	}
}
