package emulator

import (
	"context"
	"fmt"
	"time"

	"github.com/go-iotsafe/iotsafe/transport"
)

// FaultKind is a kind of injected failure.
type FaultKind uint8

// The faults a test can inject into the Nth answer.
const (
	// FaultTruncate cuts the answer so that its status word is lost
	// (only its first byte remains, or one byte fewer than the data).
	FaultTruncate FaultKind = iota + 1
	// FaultGarble flips every bit of the answer's last two bytes.
	FaultGarble
	// FaultDrop never answers: Transmit waits for the caller's context and
	// returns its error.
	FaultDrop
	// FaultDisconnect fails this and every later command with an error
	// wrapping transport.ErrCardRemoved, until Reset. The command is not
	// processed.
	FaultDisconnect
	// FaultDelay answers after Delay (or the context's end).
	FaultDelay
)

// Fault injects one failure into the At-th Transmit call counted from
// SetFaults (1 is the next call). The command is processed (the card's
// state changes as it would) except for FaultDisconnect.
type Fault struct {
	At    int
	Kind  FaultKind
	Delay time.Duration
}

// SetFaults replaces the injected faults and restarts their count; no
// argument clears them.
func (c *Card) SetFaults(faults ...Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append([]Fault(nil), faults...)
	c.nth = 0
}

func (c *Card) nextFault() *Fault {
	if len(c.faults) == 0 {
		return nil
	}
	c.nth++
	for i := range c.faults {
		if c.faults[i].At == c.nth {
			f := c.faults[i]
			return &f
		}
	}
	return nil
}

func (f *Fault) apply(ctx context.Context, resp []byte) ([]byte, error) {
	switch f.Kind {
	case FaultTruncate:
		if len(resp) > 2 {
			return resp[:len(resp)-3], nil
		}
		return resp[:1], nil
	case FaultGarble:
		for i := max(0, len(resp)-2); i < len(resp); i++ {
			resp[i] ^= 0xFF
		}
		return resp, nil
	case FaultDrop:
		<-ctx.Done()
		return nil, ctx.Err()
	case FaultDelay:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("emulator: unknown fault kind %d: %w", f.Kind, transport.ErrProtocol)
}
