package modem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/go-iotsafe/iotsafe/internal/flock"
)

// openLock opens the port a second time, read-only and without becoming
// its controlling terminal, only to hold an advisory lock (flock) on it.
// Every go-iotsafe process (the CLI, the PKCS#11 library, the bridge) takes
// that lock around each operation, so a multi-command operation is atomic
// on a SIM that several processes reach through the same port.
func openLock(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("modem: opening %s for its lock: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// flockCtx takes the exclusive lock on f, ctx bounding the wait.
func flockCtx(ctx context.Context, f *os.File) error {
	if err := flock.Wait(ctx, f, unix.LOCK_EX); err != nil {
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
