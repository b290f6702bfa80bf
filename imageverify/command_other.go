//go:build !linux

package imageverify

import (
	"errors"
	"os/exec"
)

// ErrNoSealedCopy is returned by Command where the sealed in-memory copy
// it runs cannot be made (it needs Linux's memfd_create and file seals).
var ErrNoSealedCopy = errors.New("imageverify: running the verified bytes from a sealed in-memory copy needs Linux (memfd_create with seals)")

// Command would run exactly im.Bytes from a sealed in-memory copy; on this
// system it returns ErrNoSealedCopy (Verify and the rest work).
func (im *Image) Command(name string, args ...string) (*exec.Cmd, error) {
	return nil, ErrNoSealedCopy
}
