package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/transport"
)

// globals holds the persistent flags.
type globals struct {
	sim          string
	trace        bool
	json         bool
	aid          string
	basicChannel bool
	verbose      bool
	timeout      time.Duration
	out          io.Writer
}

// longRunning marks commands that serve until stopped: --timeout does not
// apply to them. (The EST server's command, in internal/estcli, carries
// the same key.)
const longRunning = "iotsafe/long-running"

func newRootCmd() *cobra.Command { return newRootCmdTo(os.Stdout) }

// newRootCmdTo builds the command tree with its output going to out.
func newRootCmdTo(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:           "iotsafe",
		Short:         "Use the GSMA IoT SAFE applet on a SIM (or the built-in emulator)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.sim, "sim", os.Getenv(simuri.EnvVar), "SIM URI: emulator:PATH, pcsc:[READER], modem:/dev/ttyX?baud=115200&mode=csim|cgla, mbim:/dev/cdc-wdm0 or qmi:/dev/cdc-wdm0 (default $"+simuri.EnvVar+")")
	pf.BoolVar(&g.trace, "trace", false, "print APDUs to stderr (secrets redacted)")
	pf.BoolVar(&g.json, "json", false, "machine-readable JSON output")
	pf.StringVar(&g.aid, "aid", "", "applet AID in hex (default: try the GSMA and Thales AIDs)")
	pf.BoolVar(&g.basicChannel, "basic-channel", false, "use the basic channel instead of opening a logical channel")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log what the client does to stderr")
	pf.DurationVar(&g.timeout, "timeout", 60*time.Second, "give up on the SIM after this long (0: never); a silent modem or a stuck reader fails the command instead of hanging a boot script")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if g.timeout > 0 && cmd.Annotations[longRunning] == "" {
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			context.AfterFunc(ctx, cancel)
			cmd.SetContext(ctx)
		}
	}

	defer addHelpExamples(root)
	root.AddCommand(
		newEmulatorCmd(g),
		newInfoCmd(g), newLsCmd(g), newRandomCmd(g), newPubkeyCmd(g), newKeygenCmd(g),
		newSignCmd(g), newCSRCmd(g), newVerifyCmd(g), newVerifyImageCmd(g), newRunImageCmd(g), newReadFileCmd(g), newDHCmd(g), newPRFCmd(g), newHKDFCmd(g),
		newProvisionCmd(g), newRenewCmd(g), newBridgeCmd(g), newPKCS11Cmd(g), newDoctorCmd(g),
	)
	root.AddCommand(estCommands(g)...)
	for _, c := range extraCommands {
		root.AddCommand(c(g))
	}
	return root
}

// extraCommands are commands that build tags add (gendocs.go).
var extraCommands []func(*globals) *cobra.Command

// closeGrace is how long past the command's deadline closing the SIM may
// take (closing the logical channel, ending a modem session): --timeout
// plus this is the bound on a whole command.
const closeGrace = 500 * time.Millisecond

// closeContext bounds closing the SIM: until the command's deadline plus
// closeGrace (the command's own cancellation does not stop the close), or
// iotsafe.CloseTimeout without a deadline.
func closeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), d.Add(closeGrace))
	}
	return context.WithTimeout(context.WithoutCancel(ctx), iotsafe.CloseTimeout)
}

// withApplet opens the SIM, runs fn with the applet, and closes both.
func (g *globals) withApplet(ctx context.Context, fn func(a *iotsafe.Applet) error) error {
	t, err := simuri.Open(ctx, g.sim)
	if err != nil {
		return err
	}
	opts := &iotsafe.Options{BasicChannel: g.basicChannel}
	if g.aid != "" {
		if opts.AID, err = hex.DecodeString(g.aid); err != nil {
			t.Close()
			return fmt.Errorf("--aid %q: not hex: %w", g.aid, err)
		}
	}
	if g.trace {
		opts.Trace = os.Stderr
	}
	if g.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := iotsafe.Open(ctx, t, opts)
	if err != nil {
		cctx, cancel := closeContext(ctx)
		defer cancel()
		transport.CloseContext(cctx, t)
		return fmt.Errorf("opening the IoT SAFE applet on %s: %w", g.sim, err)
	}
	ferr := fn(a)
	cctx, cancel := closeContext(ctx)
	defer cancel()
	if cerr := a.CloseContext(cctx); cerr != nil && ferr == nil {
		ferr = cerr
	}
	return ferr
}

// emit prints v as JSON with --json, else calls text.
func (g *globals) emit(v any, text func(w io.Writer)) error {
	if g.json {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(g.out)
	return nil
}

// refFlags are the --key/--label style flags naming one object.
type refFlags struct {
	id, label string
	what      string
	cmd       *cobra.Command
}

func (r *refFlags) register(cmd *cobra.Command, idFlag, what, def string) {
	r.what, r.cmd = idFlag, cmd
	cmd.Flags().StringVar(&r.id, idFlag, def, what+" ID in hex (e.g. 01)")
	cmd.Flags().StringVar(&r.label, "label", "", what+" label (instead of --"+idFlag+")")
}

func (r *refFlags) ref() (iotsafe.Ref, error) {
	if r.label != "" && r.cmd != nil && r.cmd.Flags().Changed(r.what) {
		return iotsafe.Ref{}, fmt.Errorf("--%s and --label both name the object: give one of them", r.what)
	}
	if r.label != "" {
		return iotsafe.ByLabel(r.label), nil
	}
	if r.id == "" {
		return iotsafe.Ref{}, fmt.Errorf("name the object with --%s ID or --label LABEL", r.what)
	}
	id, err := parseID(r.id)
	if err != nil {
		return iotsafe.Ref{}, fmt.Errorf("--%s: %w", r.what, err)
	}
	return iotsafe.ByID(id...), nil
}

func parseID(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x")
	id, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a hex ID", s)
	}
	if len(id) == 0 || len(id) > 20 {
		return nil, fmt.Errorf("ID %q must be 1 to 20 bytes", s)
	}
	return id, nil
}
