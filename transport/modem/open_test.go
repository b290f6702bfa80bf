//go:build unix

package modem

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// A port that is not there is named as such, with where modems' AT ports
// usually are, and the error still matches fs.ErrNotExist.
func TestOpenMissingPortSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttyUSB2")
	_, err := Open(context.Background(), path, 115200, Options{})
	if err == nil {
		t.Fatal("opened a port that does not exist")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path+" does not exist (is the modem connected?") || strings.Contains(msg, "lock") {
		t.Errorf("error %q", msg)
	}
}
