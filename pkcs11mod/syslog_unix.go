//go:build unix

package pkcs11mod

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/usock"
)

// syslogPaths are where the local syslog daemon (or the journal) takes
// datagrams, as log/syslog looks for them.
var syslogPaths = []string{"/dev/log", "/var/run/syslog", "/var/run/log"}

// syslogPriority is facility LOG_USER (1) times 8 plus severity
// LOG_WARNING (4).
const syslogPriority = 1<<3 | 4

// systemLog is syslog (the journal on systemd machines), nil where none
// answers.
func systemLog() io.WriteCloser {
	l := &sysLogger{paths: syslogPaths, tag: "iotsafe-pkcs11", fd: -1}
	if l.dial() != nil {
		return nil
	}
	return l
}

// sysLogger sends each message as one datagram to the local syslog socket,
// in the format log/syslog uses for a local daemon, at LOG_USER|LOG_WARNING
// ("<12>Jan  2 15:04:05 iotsafe-pkcs11[PID]: message"). It is written on
// the socket calls rather than with log/syslog, whose package net would
// bring its name resolver into every program that loads the library. The
// socket is non-blocking: when the daemon falls behind, a message is
// dropped rather than the host's PKCS#11 call held.
type sysLogger struct {
	mu    sync.Mutex
	paths []string
	tag   string
	fd    int // -1 when not connected
}

// dial connects to the first socket of l.paths that answers.
func (l *sysLogger) dial() error {
	var last error = syscall.ENOENT
	for _, p := range l.paths {
		fd, err := usock.Socket(syscall.SOCK_DGRAM)
		if err != nil {
			return err
		}
		if err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: p}); err != nil {
			syscall.Close(fd)
			last = err
			continue
		}
		l.fd = fd
		return nil
	}
	return last
}

// Write sends p as one message; after a failure (the daemon restarted) it
// connects again once and resends.
func (l *sysLogger) Write(p []byte) (int, error) {
	msg := fmt.Sprintf("<%d>%s %s[%d]: %s", syslogPriority,
		time.Now().Format(time.Stamp), l.tag, os.Getpid(), p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		msg += "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for try := 0; try < 2; try++ {
		if l.fd < 0 {
			if err = l.dial(); err != nil {
				return 0, err
			}
		}
		if _, err = syscall.Write(l.fd, []byte(msg)); err == nil {
			return len(p), nil
		}
		if err == syscall.EAGAIN {
			return 0, err // the daemon is behind: dropped
		}
		syscall.Close(l.fd)
		l.fd = -1
	}
	return 0, err
}

// Close closes the socket.
func (l *sysLogger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil
	}
	err := syscall.Close(l.fd)
	l.fd = -1
	return err
}
