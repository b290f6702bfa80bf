package modem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/go-iotsafe/iotsafe/internal/flock"
)

// flockCtx takes the exclusive lock on f, ctx bounding the wait.
func flockCtx(ctx context.Context, f *os.File) error {
	if err := flock.Wait(ctx, f, flock.Exclusive); err != nil {
		if errors.Is(err, flock.ErrBusy) {
			return fmt.Errorf("modem: %s is in use (an iotsafe bridge or another program using the SIM): %w", f.Name(), err)
		}
		return fmt.Errorf("modem: locking %s: %w", f.Name(), err)
	}
	return nil
}

func unflock(f *os.File) { _ = flock.Unlock(f) }

// Begin holds the modem for one operation (transport.Transactor): against
// other goroutines of this process, and against other processes through
// the port's advisory lock when the modem was opened by path. The returned
// function ends the transaction; it may be called more than once.
func (m *Modem) Begin(ctx context.Context) (func(), error) {
	select {
	case m.txSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.lock != nil {
		if err := flockCtx(ctx, m.lock); err != nil {
			<-m.txSem
			return nil, err
		}
	}
	m.mu.Lock()
	m.inTx = true
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.inTx = false
			m.mu.Unlock()
			if m.lock != nil {
				unflock(m.lock)
			}
			<-m.txSem
		})
	}, nil
}
