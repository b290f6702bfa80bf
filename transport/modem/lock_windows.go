//go:build windows

package modem

import "os"

// openLock returns no lock on Windows: a COM port opens for one handle at
// a time, so no second process reaches the modem while this one has it
// (share it with `iotsafe bridge` on Linux instead).
func openLock(string) (*os.File, error) { return nil, nil }

// shareTTY is not called on Windows (no lock file).
func shareTTY(*os.File) {}
