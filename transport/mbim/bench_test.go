package mbim_test

import (
	"context"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/mbimdev"
	"github.com/go-iotsafe/iotsafe/transport/mbim"
	"github.com/go-iotsafe/iotsafe/transport/transporttest"
)

// benchDevice is the emulator behind the fake device on a pseudo-terminal,
// opened directly.
func benchDevice(b *testing.B) (*mbim.Device, *mbimdev.PTY) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := mbimdev.NewPTY(card, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	d, err := mbim.Open(context.Background(), p.Path(), &mbim.Options{Proxy: mbim.ProxyOff})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d, p
}

// BenchmarkRoundTripMBIM: one APDU (Get Random, 8 bytes) as an MBIM
// COMMAND and its COMMAND_DONE through a real pty and the fake MBIM
// function. Compare with transport/modem's BenchmarkRoundTripModem.
func BenchmarkRoundTripMBIM(b *testing.B) {
	d, _ := benchDevice(b)
	transporttest.BenchRoundTrip(b, d)
}

// BenchmarkSignMBIM: steady-state signatures over MBIM (timing model off),
// with the bytes each one puts on the control channel, both directions.
// Compare with transport/modem's BenchmarkSignModem.
func BenchmarkSignMBIM(b *testing.B) {
	d, p := benchDevice(b)
	transporttest.BenchSign(b, d, func() int64 { in, out := p.Device.Bytes(); return in + out }, "ctlbytes/sig")
}
