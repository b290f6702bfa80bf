//go:build unix

package pkcs11mod

import (
	"io"
	"log/syslog"
)

// systemLog is syslog (the journal on systemd machines), nil where none
// answers.
func systemLog() io.WriteCloser {
	sl, err := syslog.New(syslog.LOG_WARNING|syslog.LOG_USER, "iotsafe-pkcs11")
	if err != nil {
		return nil
	}
	return sl
}
