package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/emulator/vpcd"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/spec"
)

func newEmulatorCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Create, serve and administer the software SIM (emulator)",
	}
	cmd.AddCommand(newEmulatorInitCmd(g), newEmulatorServeCmd(g), newEmulatorAdminCmd(g))
	return cmd
}

// emulatorState is the software SIM an emulator command works on: --state
// FILE, or the one --sim (or $IOTSAFE_SIM) names as emulator:FILE. notSoft
// says why another kind of SIM is refused.
func (g *globals) emulatorState(state, notSoft string) (string, error) {
	if state != "" {
		return state, nil
	}
	if p, ok := strings.CutPrefix(g.sim, "emulator:"); ok && p != "" {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p, nil
	}
	if g.sim != "" {
		return "", fmt.Errorf("--sim %q: %s", g.sim, notSoft)
	}
	return "", errors.New("name the software SIM: --sim emulator:FILE (or $IOTSAFE_SIM, or --state FILE)")
}

func newEmulatorInitCmd(g *globals) *cobra.Command {
	var state, profile string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a software SIM with the factory layout in a state file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			state, err := g.emulatorState(state, "emulator init creates a software SIM (emulator:FILE)")
			if err != nil {
				return err
			}
			p := emulator.Profile(profile)
			known := false
			for _, k := range emulator.Profiles() {
				known = known || k == p
			}
			if !known {
				return fmt.Errorf("unknown profile %q (known: %v)", profile, emulator.Profiles())
			}
			if force {
				if err := os.Remove(state); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			card, err := emulator.Create(state, emulator.Options{Profile: p})
			if err != nil {
				return err
			}
			defer card.Close()
			return g.emit(map[string]any{"state": state, "profile": profile, "atr": hex.EncodeToString(card.ATR())}, func(w io.Writer) {
				fmt.Fprintf(w, "created software SIM %s (profile %s); use it with --sim emulator:%s\n", state, profile, state)
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "state file to create (it holds the SIM's keys: keep it private; or --sim emulator:FILE)")
	cmd.Flags().StringVar(&profile, "profile", string(emulator.ProfileGSMA), "applet profile: gsma, thales-mvp, orange or gsma-keytypes (gsma plus an RSA-2048 and a brainpoolP256r1 key)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing state file")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func newEmulatorServeCmd(g *globals) *cobra.Command {
	var state, vpcdAddr, stats string
	var modemFlag, mbimFlag, qmiFlag, t0, extended, timing, quirks bool
	var hostile []string
	var late time.Duration
	cmd := &cobra.Command{
		Use:         "serve",
		Annotations: map[string]string{longRunning: "yes"},
		Short:       "Put the software SIM into pcscd as a virtual card (--vpcd), or behind a fake modem (--modem), MBIM function (--mbim) or QMI device (--qmi) on a pseudo-terminal",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			state, err := g.emulatorState(state, "emulator serve serves a software SIM (emulator:FILE)")
			if err != nil {
				return err
			}
			if n := btoi(vpcdAddr != "") + btoi(modemFlag) + btoi(mbimFlag) + btoi(qmiFlag); n != 1 {
				return errors.New("give exactly one of --vpcd HOST:PORT, --modem, --mbim or --qmi")
			}
			opts := emulator.Options{T0: t0, ExtendedLength: extended, StatsFile: stats}
			if timing {
				opts.Timing = emulator.DefaultTiming()
			}
			card, err := emulator.Open(state, opts)
			if err != nil {
				return err
			}
			defer card.Close()
			var served interface {
				vpcd.Card
				atmodem.Card
			} = card
			if g.trace {
				served = &tracedCard{Card: card, w: cmd.ErrOrStderr()}
			}
			if vpcdAddr != "" {
				fmt.Fprintf(os.Stderr, "serving %s to pcscd's vpcd at %s (Ctrl-C stops)\n", state, vpcdAddr)
				return vpcd.Serve(cmd.Context(), vpcdAddr, served, vpcd.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
			}
			if mbimFlag {
				p, err := mbimdev.NewPTY(served, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
				if err != nil {
					return err
				}
				defer p.Close()
				fmt.Fprintln(g.out, p.Path())
				fmt.Fprintf(os.Stderr, "fake MBIM function for %s on %s (Ctrl-C stops); use --sim mbim:%s, or mbimcli -d %s\n", state, p.Path(), p.Path(), p.Path())
				<-cmd.Context().Done()
				return nil
			}
			if qmiFlag {
				p, err := qmidev.NewPTY(served, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
				if err != nil {
					return err
				}
				defer p.Close()
				fmt.Fprintln(g.out, p.Path())
				fmt.Fprintf(os.Stderr, "fake QMI device for %s on %s (Ctrl-C stops); use --sim qmi:%s, or qmicli -d %s\n", state, p.Path(), p.Path(), p.Path())
				<-cmd.Context().Done()
				return nil
			}
			var q atmodem.Quirks
			if quirks {
				q = atmodem.AllQuirks()
			}
			var hs []atmodem.Hostile
			for _, h := range hostile {
				x, err := atmodem.ParseHostile(h)
				if err != nil {
					return fmt.Errorf("--hostile: %w", err)
				}
				hs = append(hs, x)
			}
			p, err := atmodem.NewPTY(served, q)
			if err != nil {
				return err
			}
			defer p.Close()
			if len(hs) > 0 {
				p.Modem.SetHostile(hs, late)
			}
			fmt.Fprintln(g.out, p.Path())
			fmt.Fprintf(os.Stderr, "fake modem for %s on %s (Ctrl-C stops); use --sim modem:%s\n", state, p.Path(), p.Path())
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "state file of the software SIM (or --sim emulator:FILE)")
	f.StringVar(&vpcdAddr, "vpcd", "", "insert the SIM into pcscd's vpcd reader at HOST:PORT (e.g. 127.0.0.1:35963)")
	f.BoolVar(&modemFlag, "modem", false, "serve AT commands on a new pseudo-terminal and print its path")
	f.BoolVar(&mbimFlag, "mbim", false, "serve MBIM control messages (UICC low level access) on a new pseudo-terminal and print its path")
	f.BoolVar(&qmiFlag, "qmi", false, "serve QMI (control and UIM services) on a new pseudo-terminal and print its path")
	f.BoolVar(&t0, "t0", false, "answer 61xx like a T=0 card")
	f.BoolVar(&extended, "extended-length", false, "take extended-length APDUs and say so in the ATR (a T=1 card; an RSA signature then comes in one answer)")
	f.BoolVar(&timing, "timing", false, "delay answers like a real SIM behind a 115200-baud modem")
	f.StringVar(&stats, "stats", "", "append the APDU count and the timing model's time to FILE when serving ends")
	f.BoolVar(&quirks, "quirks", false, "modem quirks: echo, unsolicited result codes, 61xx for long answers, padded lengths")
	f.StringArrayVar(&hostile, "hostile", nil, "for attack tests: a modem that misbehaves on every APDU (or those with instruction INS): repeat|late|drop|reorder|garbage|error|silent|truncate[@INS]")
	f.DurationVar(&late, "late", 3*time.Second, "with --hostile late: how long answers are held back")
	return cmd
}

// kindFlag parses an object kind name.
func parseKind(s string) (spec.ObjectKind, error) {
	switch strings.ToLower(s) {
	case "private-key", "private", "key":
		return spec.KindPrivateKey, nil
	case "public-key", "public":
		return spec.KindPublicKey, nil
	case "file":
		return spec.KindFile, nil
	case "secret", "secret-key":
		return spec.KindSecretKey, nil
	}
	return 0, fmt.Errorf("unknown object kind %q (private-key, public-key, file, secret)", s)
}

func newEmulatorAdminCmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operator (over-the-air) administration of a software SIM",
		Long: "Runs one remote administration session on the software SIM, as a mobile operator would over the air. " +
			"Devices using the SIM see 6984 on the objects concerned while it runs and 63CF once after it ends.",
	}
	cmd.PersistentFlags().StringVar(&state, "state", "", "state file of the software SIM (or --sim emulator:FILE, as for every other command)")

	stateFile := func() (string, error) {
		return g.emulatorState(state, "the operator's administration works on a software SIM (emulator:FILE); a real SIM is administered by its operator over the air")
	}
	withAdmin := func(fn func(a *emulator.AdminSession) error) error {
		path, err := stateFile()
		if err != nil {
			return err
		}
		return (&operator.Emulator{Path: path}).Session(fn)
	}

	var fileID, fileLabel, in, usage string
	putFile := &cobra.Command{
		Use:   "put-file",
		Short: "Create or replace a file in the applet store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := parseID(fileID)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			data, err := readInput(in)
			if err != nil {
				return err
			}
			u := spec.FileUsageGeneral
			switch usage {
			case "certificate", "cert":
				u = spec.FileUsageCertificate
			case "data", "general":
			default:
				return fmt.Errorf("--usage %q: certificate or data", usage)
			}
			return withAdmin(func(a *emulator.AdminSession) error {
				return a.PutFile(id, fileLabel, u, spec.AccessRead, data)
			})
		},
	}
	putFile.Flags().StringVar(&fileID, "file", "", "file ID (hex)")
	putFile.Flags().StringVar(&fileLabel, "label", "", "file label")
	putFile.Flags().StringVar(&in, "in", "-", "contents (- for stdin)")
	putFile.Flags().StringVar(&usage, "usage", "certificate", "certificate or data")

	var kindName, objID string
	// The object, named as every other command names it (--key, --file,
	// --secret, --public-key: its ID in hex), or by --kind and --id.
	byKind := []struct {
		flag string
		kind spec.ObjectKind
		val  *string
	}{{"key", spec.KindPrivateKey, new(string)}, {"public-key", spec.KindPublicKey, new(string)}, {"file", spec.KindFile, new(string)}, {"secret", spec.KindSecretKey, new(string)}}
	objCmd := func(use, short string, fn func(a *emulator.AdminSession, k spec.ObjectKind, id []byte) error) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				var named []string
				k, idText, idFlag := spec.ObjectKind(0), objID, "--id"
				for _, b := range byKind {
					if cmd.Flags().Changed(b.flag) {
						named = append(named, "--"+b.flag)
						k, idText, idFlag = b.kind, *b.val, "--"+b.flag
					}
				}
				if cmd.Flags().Changed("id") || cmd.Flags().Changed("kind") {
					named = append(named, "--kind/--id")
					var err error
					if k, err = parseKind(kindName); err != nil {
						return err
					}
					idText, idFlag = objID, "--id"
				}
				switch {
				case len(named) > 1:
					return fmt.Errorf("name one object: %s given together", strings.Join(named, ", "))
				case len(named) == 0:
					return errors.New("name the object: --key ID, --file ID, --secret ID or --public-key ID (hex)")
				}
				id, err := parseID(idText)
				if err != nil {
					return fmt.Errorf("%s: %w", idFlag, err)
				}
				return withAdmin(func(a *emulator.AdminSession) error { return fn(a, k, id) })
			},
		}
		for _, b := range byKind {
			c.Flags().StringVar(b.val, b.flag, "", "the "+strings.ReplaceAll(b.flag, "-", " ")+" with this ID (hex)")
		}
		c.Flags().StringVar(&kindName, "kind", "private-key", "object kind, with --id: private-key, public-key, file, secret")
		c.Flags().StringVar(&objID, "id", "", "object ID (hex), with --kind")
		return c
	}
	deactivate := objCmd("deactivate", "Deactivate a key (the device can no longer use it)",
		func(a *emulator.AdminSession, k spec.ObjectKind, id []byte) error { return a.DeactivateKey(k, id) })
	del := objCmd("delete", "Delete an object",
		func(a *emulator.AdminSession, k spec.ObjectKind, id []byte) error { return a.DeleteObject(k, id) })

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the objects as the operator sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := stateFile()
			if err != nil {
				return err
			}
			card, err := emulator.Open(path, emulator.Options{})
			if err != nil {
				return err
			}
			defer card.Close()
			objs := card.Objects()
			// JSON as `iotsafe ls --json` writes it: names, not codes;
			// IDs in hex, not base64.
			type jsonObject struct {
				Kind  string `json:"kind"`
				ID    string `json:"id"`
				Label string `json:"label,omitempty"`
				State string `json:"state"`
			}
			out := make([]jsonObject, 0, len(objs))
			for _, o := range objs {
				out = append(out, jsonObject{Kind: o.Kind.String(), ID: fmt.Sprintf("%X", o.ID), Label: o.Label, State: stateName(o.State)})
			}
			return g.emit(out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KIND\tID\tLABEL\tSTATE")
				for _, o := range objs {
					fmt.Fprintf(tw, "%s\t%X\t%s\t%s\n", o.Kind, o.ID, o.Label, stateName(o.State))
				}
				tw.Flush()
			})
		},
	}
	cmd.AddCommand(putFile, deactivate, del, ls, newAdminPutPublicKeyCmd(withAdmin))
	return cmd
}
