package emulator

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-iotsafe/iotsafe/internal/flock"
)

const (
	lockSH = flock.Shared
	lockEX = flock.Exclusive
	lockUN = -1 // fileStore.flock: release
)

// flockCtx takes the lock without blocking the caller past ctx.
func (f *fileStore) flockCtx(ctx context.Context, how int) error {
	if err := flock.Wait(ctx, f.lock, how); err != nil {
		return fmt.Errorf("emulator: locking %s: %w", f.path, err)
	}
	return nil
}

// Begin holds the card for one operation of several commands
// (transport.Transactor): against other goroutines of this process, and,
// for a card in a state file, against every other process using that file,
// by holding the file's exclusive lock until the returned function is
// called. The applet client takes one per operation, so a Put Public Key
// and the Compute DH that uses it, or a key generation and the public key
// read after it, cannot interleave with another process's commands.
func (c *Card) Begin(ctx context.Context) (func(), error) {
	select {
	case c.txSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.store != nil {
		if err := c.store.flockCtx(ctx, lockEX); err != nil {
			<-c.txSem
			return nil, err
		}
	}
	c.mu.Lock()
	c.inTx = true
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.inTx = false
			if c.store != nil && !c.closed {
				c.store.flock(lockUN)
			}
			c.mu.Unlock()
			<-c.txSem
		})
	}, nil
}
