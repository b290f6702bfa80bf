package flock

import (
	"time"

	"golang.org/x/sys/unix"
)

// pause waits d with a plain system call, not a timer the scheduler fires:
// in a child forked from a process that loaded the PKCS#11 library (a
// Linux c-shared library), the runtime's other threads are gone, and a
// goroutine parked on a timer would never be woken.
func pause(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
