package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
)

// startProxy starts libmbim's or libqmi's proxy for the test, when none
// runs; a proxy that runs already (ModemManager's) is left alone and the
// test skipped.
func startProxy(t *testing.T, bin, socket string) {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (IOTSAFE_REQUIRE_TOOLS=1)", bin)
		}
		t.Skipf("%s not installed", bin)
	}
	if c, err := net.Dial("unix", socket); err == nil {
		c.Close()
		t.Skipf("a proxy runs already on %s (not ours): left alone", socket)
	}
	p := exec.Command(bin, "--empty-timeout=0")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Process.Kill(); p.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return
		}
		if i == 100 {
			t.Fatalf("%s did not listen", bin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
			startProxy(t, k.proxy, k.socket)
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
