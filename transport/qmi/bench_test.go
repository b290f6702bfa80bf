package qmi_test

import (
	"context"
	"crypto/sha256"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/transport/qmi"
)

func benchApplet(b *testing.B) (*iotsafe.Applet, *qmidev.PTY) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := qmidev.NewPTY(card, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	d, err := qmi.Open(context.Background(), p.Path(), &qmi.Options{Proxy: qmi.ProxyOff})
	if err != nil {
		b.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a, p
}

// BenchmarkRoundTripQMI: one APDU (Get Random, 8 bytes) as a QMI
// Send APDU request and its response through a real pty and the fake QMI
// device. Compare with transport/modem's BenchmarkRoundTripModem.
func BenchmarkRoundTripQMI(b *testing.B) {
	a, _ := benchApplet(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.GetRandom(ctx, 8); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignQMI: steady-state signatures over QMI (timing model off),
// with the bytes each one puts on the control channel, both directions.
// Compare with transport/modem's BenchmarkSignModem.
func BenchmarkSignQMI(b *testing.B) {
	a, p := benchApplet(b)
	ctx := context.Background()
	d := sha256.Sum256([]byte("bench"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	in0, out0 := p.Device.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	in1, out1 := p.Device.Bytes()
	b.ReportMetric(float64(in1-in0+out1-out0)/float64(n), "ctlbytes/sig")
}
