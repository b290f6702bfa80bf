package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/emulator/vpcd"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/transport"
)

func newBridgeCmd(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:         "bridge",
		Annotations: map[string]string{longRunning: "yes"},
		Short:       "Expose the SIM named by --sim (e.g. behind a modem) to pcscd as a virtual reader",
		Long: "Connects the SIM to pcscd's vpcd driver, so every PC/SC application on the device, and several " +
			"processes at once, share the SIM that the modem port would give to one process. pcscd's power-off and " +
			"reset requests cannot reach a SIM behind a modem and are ignored.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				return errors.New("--vpcd HOST:PORT is required (e.g. 127.0.0.1:35963)")
			}
			t, err := simuri.Open(cmd.Context(), g.sim)
			if err != nil {
				return err
			}
			defer t.Close()
			// The bridge owns the SIM while it runs: on a modem it holds the
			// port's advisory lock, so a program that opens the port
			// directly waits instead of interleaving its commands with
			// those of pcscd's clients (whose PC/SC transactions keep
			// their own multi-command operations whole).
			if tr, ok := t.(transport.Transactor); ok {
				end, err := tr.Begin(cmd.Context())
				if err != nil {
					return err
				}
				defer end()
			}
			fmt.Fprintf(os.Stderr, "bridging %s to pcscd's vpcd at %s (Ctrl-C stops)\n", g.sim, addr)
			return vpcd.Serve(cmd.Context(), addr, vpcd.FromTransport(t, nil), vpcd.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		},
	}
	cmd.Flags().StringVar(&addr, "vpcd", "", "pcscd's vpcd address, e.g. 127.0.0.1:35963 (vpcd's usual port; no default)")
	return cmd
}
