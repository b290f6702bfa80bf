//go:build unix

package modem

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openLock opens the port a second time, read-only and without becoming
// its controlling terminal, only to hold an advisory lock (flock) on it.
// Every go-iotsafe process (the CLI, the PKCS#11 library, the bridge) takes
// that lock around each operation, so a multi-command operation is atomic
// on a SIM that several processes reach through the same port.
func openLock(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("modem: %s does not exist (is the modem connected? its AT port is often /dev/ttyUSB2 or /dev/ttyACM0: ls /dev/ttyUSB* /dev/ttyACM*): %w", path, err)
	case errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("modem: %s: permission denied (serial ports belong to the dialout group: add the user to it, or run as root): %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// shareTTY turns the serial library's exclusive mode (TIOCEXCL) off again:
// the lock, not exclusivity, keeps processes apart.
func shareTTY(f *os.File) { _ = unix.IoctlSetInt(int(f.Fd()), unix.TIOCNXCL, 0) }
