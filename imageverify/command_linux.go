package imageverify

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Command returns a command that runs exactly im.Bytes: they are copied into
// a sealed memory file (no write, grow or shrink possible), which the child
// executes as /proc/self/fd/3 (an interpreter of a #! script reads it from
// there too; the program finds that descriptor open, read-only). argv[0] is
// the name the program was given.
func (im *Image) Command(name string, args ...string) (*exec.Cmd, error) {
	fd, err := unix.MemfdCreate(filepath.Base(im.Path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("imageverify: memfd_create: %w", err)
	}
	w := os.NewFile(uintptr(fd), "memfd")
	defer w.Close()
	if _, err := w.Write(im.Bytes); err != nil {
		return nil, fmt.Errorf("imageverify: writing the sealed copy: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return nil, fmt.Errorf("imageverify: sealing the copy: %w", err)
	}
	// Executing needs a descriptor nobody can write through.
	r, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return nil, fmt.Errorf("imageverify: reopening the sealed copy read-only: %w", err)
	}
	c := exec.Command("/proc/self/fd/3")
	c.Args = append([]string{name}, args...)
	c.ExtraFiles = []*os.File{r}
	return c, nil
}
