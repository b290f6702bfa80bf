package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/pkcs11mod"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/spec"
)

// check is one line of `iotsafe doctor`.
type check struct {
	What string `json:"check"`
	OK   bool   `json:"ok"`
	Says string `json:"result"`
	Fix  string `json:"fix,omitempty"`
}

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Say what the PKCS#11 library would see here, with the fix for each problem (exit 1 when something is wrong)",
		Long: "Reads the configuration the PKCS#11 library would read ($IOTSAFE_PKCS11_CONF, else $IOTSAFE_SIM, else " +
			pkcs11mod.SystemConfig + "), then for each slot opens the SIM, selects the IoT SAFE applet and lists its keys, " +
			"and checks the host object store's permissions. Each line says what was found and, when it is wrong, " +
			"what to do. Exits 1 when any check fails.",
		Example: "  IOTSAFE_SIM=pcsc: iotsafe doctor\n  iotsafe doctor --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checks := doctor(cmd.Context())
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			err := g.emit(checks, func(w io.Writer) {
				for _, c := range checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(w, "%s %s: %s\n", mark, c.What, c.Says)
					if c.Fix != "" {
						fmt.Fprintf(w, "     fix: %s\n", c.Fix)
					}
				}
			})
			if err != nil {
				return err
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("doctor: %d check(s) failed", failed)}
			}
			return nil
		},
	}
}

// doctor runs the checks.
func doctor(ctx context.Context) []check {
	var out []check
	cfg, err := pkcs11mod.LoadConfig()
	if err != nil {
		return append(out, check{What: "configuration", Says: err.Error(), Fix: "correct the file named above (see docs/pkcs11.md, Which SIM)"})
	}
	src := cfg.Path
	if src == "" && len(cfg.Slots) > 0 {
		src = "$" + pkcs11mod.EnvSIM
	}
	if len(cfg.Slots) == 0 {
		return append(out, check{What: "configuration", Says: "no SIM configured",
			Fix: fmt.Sprintf("set %s=<SIM URI> (emulator:/path/sim.json, pcsc:, modem:/dev/ttyUSB2, mbim:/dev/cdc-wdm0, qmi:/dev/cdc-wdm0) or write %s with a [slot] section and a sim: line", pkcs11mod.EnvSIM, pkcs11mod.SystemConfig)})
	}
	out = append(out, check{What: "configuration", OK: true, Says: fmt.Sprintf("%d slot(s) from %s", len(cfg.Slots), src)})
	for i, s := range cfg.Slots {
		out = append(out, doctorSlot(ctx, i, s.SIM)...)
	}
	if err := pkcs11mod.CheckStoreRoot(cfg.Store); err != nil {
		out = append(out, check{What: "host object store", Says: err.Error(),
			Fix: fmt.Sprintf("make %s belong to this user and writable by nobody else (chmod 700), or set %s to another directory", cfg.Store, pkcs11mod.EnvStore)})
	} else {
		out = append(out, check{What: "host object store", OK: true, Says: cfg.Store + " (created on the first stored object)"})
	}
	log := cfg.Log
	if log == "" {
		log = "syslog (the journal), warnings only"
	}
	out = append(out, check{What: "library log", OK: true, Says: log})
	return out
}

// doctorSlot checks one SIM: the transport, the applet, the keys.
func doctorSlot(ctx context.Context, i int, uri string) []check {
	what := fmt.Sprintf("slot %d SIM %s", i, uri)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	t, err := simuri.Open(ctx, uri)
	if err != nil {
		return []check{{What: what, Says: "cannot open: " + err.Error(), Fix: transportFix(uri)}}
	}
	a, err := iotsafe.Open(ctx, t, nil)
	if err != nil {
		t.Close()
		return []check{{What: what, Says: "no IoT SAFE applet: " + err.Error(),
			Fix: "this SIM must carry the GSMA IoT SAFE applet (ask the operator); with several readers or SIMs, name the right one in the URI"}}
	}
	defer a.Close()
	objs, err := a.Objects(ctx)
	if err != nil {
		return []check{{What: what, Says: "applet found, but its object list cannot be read: " + err.Error(), Fix: "retry; if it persists, the SIM or the link is faulty (iotsafe --trace info shows the APDUs)"}}
	}
	var keys []string
	for _, o := range objs {
		if o.Kind == spec.KindPrivateKey && o.Active() {
			keys = append(keys, o.String())
		}
	}
	c := []check{{What: what, OK: true, Says: "IoT SAFE applet found"}}
	if len(keys) == 0 {
		return append(c, check{What: what + " keys", Says: "no active private key",
			Fix: "generate one (iotsafe keygen --key ID) or provision the SIM (iotsafe provision)"})
	}
	return append(c, check{What: what + " keys", OK: true, Says: strings.Join(keys, ", ")})
}

// transportFix is the usual fix for a SIM that cannot be opened.
func transportFix(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "write the SIM URI as scheme:path (emulator:/path/sim.json, pcsc:, modem:/dev/ttyUSB2)"
	}
	switch u.Scheme {
	case "emulator":
		return "create the software SIM: iotsafe emulator init --state PATH (or correct the path)"
	case "pcsc":
		return "start pcscd (systemctl start pcscd.socket), insert the SIM in a reader (pcsc_scan lists them), and check the reader name in the URI"
	case "modem":
		return "check that the device exists and that this user may open it (group dialout), and that ModemManager does not hold it (or use mbim:/qmi: with ?proxy=1)"
	case "mbim", "qmi":
		return "check the device (/dev/cdc-wdmN) and its permissions; with ModemManager running, add ?proxy=1 to go through its proxy"
	}
	return "use a known scheme: emulator:, pcsc:, modem:, mbim:, qmi:"
}
