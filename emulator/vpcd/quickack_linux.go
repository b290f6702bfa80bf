package vpcd

import (
	"net"

	"golang.org/x/sys/unix"
)

// quickAck asks Linux to acknowledge the next segment at once. The vpcd
// driver writes a frame's length and its payload separately; with Nagle's
// algorithm on its socket the payload waits for the ACK of the length,
// which delayed ACKs would hold back about 40 ms per APDU.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if raw, err := tc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	}
}
