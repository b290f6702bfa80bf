//go:build unix

package ctlchan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/usock"
)

// dialUnix connects to the Unix stream socket name ("@..." names an
// abstract one) and returns it as a non-blocking *os.File, which the
// runtime polls, so that reads end with deadlines and Close as the device
// file's do. It uses the socket calls directly rather than package net,
// whose dialer brings its name resolver into every program that loads the
// PKCS#11 library (about 400 KB of the library's size and resident memory).
// queueWait bounds how long dialUnix waits for room in the listener's
// queue, whatever the context allows.
var queueWait = 5 * time.Second

func dialUnix(ctx context.Context, name string) (*os.File, error) {
	fd, err := usock.Socket(syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrUnix{Name: name}
	deadline := time.Now().Add(queueWait)
	for {
		err = syscall.Connect(fd, sa)
		if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
			break
		}
		// The listener's queue is full: try again while ctx allows, and
		// for queueWait at most (a proxy that stopped accepting).
		if time.Now().After(deadline) {
			syscall.Close(fd)
			return nil, &os.PathError{Op: "connect", Path: name, Err: fmt.Errorf("the listener's queue stayed full for %v (is the proxy hung?): %w", queueWait, err)}
		}
		select {
		case <-ctx.Done():
			syscall.Close(fd)
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}
