package modem_test

import (
	"crypto"
	"io"
	"net"
)

var cryptoSHA256 = crypto.SHA256

// pipe returns two connected in-memory streams.
func pipe() (io.ReadWriteCloser, io.ReadWriteCloser) {
	a, b := net.Pipe()
	return a, b
}
