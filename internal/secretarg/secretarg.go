// Package secretarg reads a secret given on a command line the way the
// iotsafe commands take one: from a file, else a flag, else the
// environment.
package secretarg

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// EnvPassword is the environment variable that holds an EST password when
// neither a file nor the flag gives one.
const EnvPassword = "IOTSAFE_EST_PASSWORD"

// MaxFile is the largest secret file ReadFile accepts. A password or token
// is far shorter; the bound keeps a wrong path (/dev/zero, a log, a disk
// image) from being read without end.
const MaxFile = 4096

// ReadFile reads a secret file of at most MaxFile bytes. A pipe, such as
// the shell's <(command), is read to its end like a file.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: longer than %d bytes: not a secret file", path, MaxFile)
	}
	return b, nil
}

// Resolve returns a password from a file (its first line), else the
// flag's value, else $IOTSAFE_EST_PASSWORD.
func Resolve(flagValue, file string) (string, error) {
	if file != "" {
		b, err := ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if flagValue != "" {
		return flagValue, nil
	}
	return os.Getenv(EnvPassword), nil
}
