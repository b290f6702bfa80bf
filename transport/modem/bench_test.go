package modem_test

import (
	"context"
	"crypto/sha256"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"go.bug.st/serial"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/emulator/atmodem"
	"github.com/go-iotsafe/iotsafe/transport/modem"
)

// counting counts the bytes the host writes to the serial line.
type counting struct {
	io.ReadWriteCloser
	n *atomic.Int64
}

func (c counting) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ReadWriteCloser.Write(p)
}

func openCounted(b *testing.B, eopts emulator.Options) (*iotsafe.Applet, *atomic.Int64) {
	card, err := emulator.New(eopts)
	if err != nil {
		b.Fatal(err)
	}
	p, err := atmodem.NewPTY(card, atmodem.Quirks{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	port, err := serial.Open(p.Path(), &serial.Mode{BaudRate: 115200})
	if err != nil {
		b.Fatal(err)
	}
	n := new(atomic.Int64)
	m, err := modem.New(context.Background(), counting{port, n}, modem.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := iotsafe.Open(context.Background(), m, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a, n
}

// BenchmarkRoundTripModem: one APDU (Get Random, 8 bytes) through the AT
// engine, a real pty and the fake modem. Compare with
// BenchmarkRoundTripInProcess.
func BenchmarkRoundTripModem(b *testing.B) {
	a, _ := openCounted(b, emulator.Options{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := a.GetRandom(ctx, 8); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripInProcess: the same APDU to the in-process emulator.
func BenchmarkRoundTripInProcess(b *testing.B) {
	card, _ := emulator.New(emulator.Options{})
	a, err := iotsafe.Open(context.Background(), card, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := a.GetRandom(ctx, 8); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignModem: steady-state signatures over the modem; reports the
// bytes written to the serial line per signature (two AT+CSIM commands,
// nothing else: no SELECT, no GET DATA).
func BenchmarkSignModem(b *testing.B) {
	a, n := openCounted(b, emulator.Options{})
	ctx := context.Background()
	d := sha256.Sum256([]byte("bench"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	n.Store(0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n.Load())/float64(b.N), "linebytes/sig")
}

// BenchmarkSignModemTimed: signatures over the modem with the emulator's SIM
// timing model (a typical IoT SIM, 115200-baud AT link). Reports the rate
// the model allows and the measured share of it.
func BenchmarkSignModemTimed(b *testing.B) {
	tm := emulator.DefaultTiming()
	a, _ := openCounted(b, emulator.Options{Timing: tm})
	ctx := context.Background()
	d := sha256.Sum256([]byte("bench"))
	if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Sign(ctx, iotsafe.ByID(1), iotsafe.HashSHA256, d[:]); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// Init: 18-byte command, 2-byte answer. Update: 40-byte command (9E 20
	// digest, Le), 69-byte answer (33 00 40 r||s, SW).
	model := tm.Cost(18, 2, emulator.OpNone) + tm.Cost(40, 69, emulator.OpSign)
	measured := elapsed / time.Duration(b.N)
	b.ReportMetric(float64(time.Second)/float64(model), "model-sigs/s")
	b.ReportMetric(float64(model)/float64(measured)*100, "%of-model")
}
