package provision_test

import (
	"context"
	"path/filepath"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/estserver"
	"github.com/go-iotsafe/iotsafe/operator"
	"github.com/go-iotsafe/iotsafe/provision"
	"github.com/go-iotsafe/iotsafe/provision/est"
)

// BenchmarkProvisionTimed is one zero-touch provisioning (key generation,
// CSR, EST enrollment over loopback, delivery, read-back) with the
// emulator's SIM timing model on: ns/op is the wall time a device on a
// 115200-baud modem link would see, APDUs/op the card traffic.
func BenchmarkProvisionTimed(b *testing.B) {
	ca, _ := estserver.NewCA("bench CA")
	e := &env{ca: ca}
	e.setRoots()
	url := e.serveTB(b, &estserver.Server{CA: ca, Username: "u", Password: "p"})
	var apdus uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		state := filepath.Join(b.TempDir(), "sim.json")
		card, err := emulator.Create(state, emulator.Options{Timing: emulator.DefaultTiming()})
		if err != nil {
			b.Fatal(err)
		}
		a, err := iotsafe.Open(context.Background(), card, nil)
		if err != nil {
			b.Fatal(err)
		}
		before := card.APDUCount()
		b.StartTimer()
		if _, err := provision.Provision(context.Background(), &provision.Config{Applet: a,
			EST: &est.Client{Server: url, Roots: e.roots, Username: "u", Password: "p"}, Operator: &operator.Emulator{Path: state}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		apdus += card.APDUCount() - before
		a.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(apdus)/float64(b.N), "APDUs/op")
}
