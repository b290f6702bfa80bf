//go:build windows

package flock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// The kinds of lock Wait takes.
const (
	Exclusive = 2
	Shared    = 1
)

// whole is the byte range locked: all of it, as flock(2) does.
const whole = ^uint32(0)

// try takes the lock without blocking (LockFileEx with
// LOCKFILE_FAIL_IMMEDIATELY); busy when another handle holds it.
func try(f *os.File, how int) (busy bool, err error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if how == Exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err = windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, whole, whole, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return true, nil
	}
	return false, err
}

// Unlock releases f's lock.
func Unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, whole, whole, new(windows.Overlapped))
}

// Lock takes lock how on f, blocking until it is free.
func Lock(f *os.File, how int) error {
	var flags uint32
	if how == Exclusive {
		flags = windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, whole, whole, new(windows.Overlapped))
}
