//go:build !linux

package flock

import "time"

// pause waits d (see pause_linux.go for why Linux does it differently).
func pause(d time.Duration) { time.Sleep(d) }
