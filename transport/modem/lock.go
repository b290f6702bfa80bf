package modem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
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

// flockCtx takes the exclusive lock on f, polling so that ctx bounds the wait.
func flockCtx(ctx context.Context, f *os.File) error {
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("modem: locking %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("modem: %s is locked by another process (an iotsafe bridge or another program using the SIM): %w", f.Name(), ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}

func unflock(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }

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
