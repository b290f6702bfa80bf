//go:build cgo

package pcsc_test

import (
	"context"
	"testing"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/vpcd"
	"github.com/go-iotsafe/iotsafe/internal/testtool"
	"github.com/go-iotsafe/iotsafe/transport/pcsc"
)

// BenchmarkRoundTripPCSC: one APDU (Get Random, 8 bytes) through
// libpcsclite, pcscd, the vpcd driver and its socket to the emulator.
func BenchmarkRoundTripPCSC(b *testing.B) {
	if _, err := pcsc.Readers(context.Background()); err != nil {
		testtool.Missing(b, "pcscd: "+err.Error())
	}
	card, _ := emulator.New(emulator.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vpcd.Serve(ctx, "127.0.0.1:35963", card, vpcd.Options{}); close(done) }()
	defer func() { cancel(); <-done }()
	for i := 0; i < 150 && !answers(); i++ {
		sleepBrief()
	}
	tr, err := pcsc.Open(context.Background(), pcsc.Options{Reader: reader})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	bctx := context.Background()
	if _, err := tr.Transmit(bctx, []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10}); err != nil {
		b.Fatal(err)
	}
	cmd := []byte{0x80, 0x84, 0x00, 0x00, 0x08}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Transmit(bctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
