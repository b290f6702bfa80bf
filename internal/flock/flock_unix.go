//go:build unix

package flock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// The kinds of lock Wait takes.
const (
	Exclusive = unix.LOCK_EX
	Shared    = unix.LOCK_SH
)

// try takes the lock without blocking; busy when another open file
// description holds it (or a signal interrupted the call: try again).
func try(f *os.File, how int) (busy bool, err error) {
	err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EINTR) {
		return true, nil
	}
	return false, err
}

// Unlock releases f's lock.
func Unlock(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// Lock takes lock how on f, blocking until it is free.
func Lock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
