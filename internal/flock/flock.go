// Package flock takes advisory file locks (flock(2); LockFileEx on
// Windows) with a wait bounded by a context: the lock is tried without
// blocking and retried with a short, growing delay until it is free or the
// context ends. The emulator's state file and the modem port's lock share
// it.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrBusy is wrapped, with the context's error, when ctx ended while
// another open file description held the lock.
var ErrBusy = errors.New("held by another process")

// maxDelay bounds the delay between two tries.
const maxDelay = 10 * time.Millisecond

// Wait takes lock how (Exclusive or Shared) on f. It returns nil once
// held, an error wrapping ErrBusy and ctx.Err() when ctx ends first, or
// the system's error for anything else.
func Wait(ctx context.Context, f *os.File, how int) error {
	delay := time.Millisecond
	for {
		busy, err := try(f, how)
		if err == nil && !busy {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		pause(min(delay, untilDeadline(ctx)))
		delay = min(2*delay, maxDelay)
	}
}

// untilDeadline is how long ctx has left (maxDelay without a deadline).
func untilDeadline(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), 0)
	}
	return maxDelay
}
