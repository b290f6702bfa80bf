// Package secretarg reads a secret given on a command line the way the
// iotsafe commands take one: from a file, else a flag, else the
// environment.
package secretarg

import (
	"os"
	"strings"
)

// EnvPassword is the environment variable that holds an EST password when
// neither a file nor the flag gives one.
const EnvPassword = "IOTSAFE_EST_PASSWORD"

// Resolve returns a password from a file (its first line), else the
// flag's value, else $IOTSAFE_EST_PASSWORD.
func Resolve(flagValue, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
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
