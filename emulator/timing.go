package emulator

import (
	"context"
	"time"
)

// Timing is a model of how long a real SIM takes, so that benchmarks show
// what a device will see. Each answer is delayed until PerAPDU plus the
// operation's cost plus the serial link's transfer time have passed since
// the command arrived. The delay honours the caller's context.
//
// The numbers of DefaultTiming are estimates from published figures for
// UICC secure elements (ECDSA P-256 in 100-300 ms, key generation several
// hundred ms) and from the AT+CSIM framing; they are not measurements of a
// particular card.
type Timing struct {
	PerAPDU time.Duration // command decoding and answer, every APDU
	Sign    time.Duration // ECDSA signature
	Verify  time.Duration // ECDSA verification
	KeyGen  time.Duration // key pair generation
	DH      time.Duration // ECDH
	KDF     time.Duration // PRF / HKDF
	Random  time.Duration // Get Random
	Read    time.Duration // Read File chunk
	// RSA-2048 operations: signing and key generation are far slower on
	// a real SIM than ECDSA; verification (small public exponent) faster.
	RSASign, RSAVerify, RSAKeyGen time.Duration
	// Baud, when non-zero, adds the cost of an AT+CSIM exchange over a
	// serial line at this rate: each APDU byte travels as two hex
	// characters, plus about 20 characters of AT framing each way, at
	// 10 bits per character.
	Baud int
}

// DefaultTiming returns a model of a typical IoT SIM behind a 115200-baud
// modem link.
func DefaultTiming() *Timing {
	return &Timing{
		PerAPDU: 8 * time.Millisecond,
		Sign:    180 * time.Millisecond,
		Verify:  200 * time.Millisecond,
		KeyGen:  600 * time.Millisecond,
		DH:      170 * time.Millisecond,
		KDF:     30 * time.Millisecond,
		Random:  10 * time.Millisecond,
		Read:    15 * time.Millisecond,
		// RSA-2048 (docs/design-notes.md, "Timing model", for the sources).
		RSASign:   400 * time.Millisecond,
		RSAVerify: 60 * time.Millisecond,
		RSAKeyGen: 8 * time.Second,
		Baud:      115200,
	}
}

// atFraming is the number of characters AT+CSIM adds around an APDU in one
// direction ("AT+CSIM=NNN,\"...\"\r" and "\r\n+CSIM: NNN,\"...\"\r\n\r\nOK\r\n").
const atFraming = 20

// Cost returns the modelled time of one exchange.
func (t *Timing) Cost(cmdLen, respLen int, class Op) time.Duration {
	d := t.PerAPDU
	switch class {
	case OpSign:
		d += t.Sign
	case OpVerify:
		d += t.Verify
	case OpKeyGen:
		d += t.KeyGen
	case OpDH:
		d += t.DH
	case OpKDF:
		d += t.KDF
	case OpRandom:
		d += t.Random
	case OpRead:
		d += t.Read
	case OpSignRSA:
		d += t.RSASign
	case OpVerifyRSA:
		d += t.RSAVerify
	case OpKeyGenRSA:
		d += t.RSAKeyGen
	}
	return d + t.LinkCost(cmdLen, respLen)
}

// LinkCost returns the serial-line part of an exchange alone.
func (t *Timing) LinkCost(cmdLen, respLen int) time.Duration {
	if t.Baud <= 0 {
		return 0
	}
	return time.Duration(2*cmdLen+2*respLen+2*atFraming) * 10 * time.Second / time.Duration(t.Baud)
}

func (t *Timing) wait(ctx context.Context, start time.Time, cmdLen, respLen int, class Op) error {
	d := t.Cost(cmdLen, respLen, class) - time.Since(start)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
