package qmi_test

import (
	"context"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/qmidev"
	"github.com/go-iotsafe/iotsafe/transport/qmi"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

// benchDevice is the emulator behind the fake device on a pseudo-terminal,
// opened directly.
func benchDevice(b *testing.B) (*qmi.Device, *qmidev.PTY) {
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
	b.Cleanup(func() { d.Close() })
	return d, p
}

// BenchmarkRoundTripQMI: one APDU (Get Random, 8 bytes) as a QMI
// Send APDU request and its response through a real pty and the fake QMI
// device. Compare with transport/modem's BenchmarkRoundTripModem.
func BenchmarkRoundTripQMI(b *testing.B) {
	d, _ := benchDevice(b)
	transporttest.BenchRoundTrip(b, d)
}

// BenchmarkSignQMI: steady-state signatures over QMI (timing model off),
// with the bytes each one puts on the control channel, both directions.
// Compare with transport/modem's BenchmarkSignModem.
func BenchmarkSignQMI(b *testing.B) {
	d, p := benchDevice(b)
	transporttest.BenchSign(b, d, func() int64 { in, out := p.Device.Bytes(); return in + out }, "ctlbytes/sig")
}
