package main

import (
	"path/filepath"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/internal/proxytest"
)

// The ECDH race of the security review over MBIM and QMI: two processes
// run `iotsafe dh` through the real proxy (each on its own logical
// channel), with the SIM timing model widening the window between Put
// Public Key and Compute DH; every secret must be the process's own. The
// transports hold the device node's advisory lock for the operation.
func TestDHRaceMBIMAndQMIProcesses(t *testing.T) {
	for _, k := range []struct {
		kind, proxy, socket string
		serve               func(*emulator.Card) (interface {
			Path() string
			Close() error
		}, error)
	}{
		{"mbim", "/usr/libexec/mbim-proxy", "@mbim-proxy", func(c *emulator.Card) (interface {
			Path() string
			Close() error
		}, error) {
			return mbimdev.NewPTY(c, nil)
		}},
		{"qmi", "/usr/libexec/qmi-proxy", "@qmi-proxy", func(c *emulator.Card) (interface {
			Path() string
			Close() error
		}, error) {
			return qmidev.NewPTY(c, nil)
		}},
	} {
		t.Run(k.kind, func(t *testing.T) {
			proxytest.Start(t, k.socket, k.proxy, "--empty-timeout=0")
			state := filepath.Join(t.TempDir(), "sim.json")
			mustRun(t, "emulator", "init", "--state", state)
			card, err := emulator.Open(state, emulator.Options{Timing: emulator.DefaultTiming()})
			if err != nil {
				t.Fatal(err)
			}
			defer card.Close()
			p, err := k.serve(card)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			raceDH(t, "--sim="+k.kind+":"+p.Path()+"?proxy=1", 4)
		})
	}
}
