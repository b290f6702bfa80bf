package main

import (
	"io"
	"strings"
	"testing"
)

// From the newcomer's review: the help pages had no examples. The main
// commands have them, and every example names flags the command takes
// (each line is parsed by the command it names).
func TestHelpExamplesParse(t *testing.T) {
	root := newRootCmdTo(io.Discard)
	for _, path := range []string{"info", "ls", "pubkey", "keygen", "sign", "verify", "read-file", "dh", "csr", "provision",
		"renew", "est-server", "est-admin", "bridge", "doctor", "verify-image", "run-image", "emulator init", "emulator serve",
		"emulator admin", "pkcs11 hash-pin", "random", "prf", "hkdf"} {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("iotsafe %s has no example in its help", path)
			continue
		}
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "iotsafe ") {
				continue // another program (openssl, xxd) in the same example
			}
			line = strings.SplitN(line, " |", 2)[0]
			line = strings.SplitN(line, " >", 2)[0]
			line = strings.SplitN(line, " &&", 2)[0]
			args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, "iotsafe "), "'", ""))
			r := newRootCmdTo(io.Discard)
			cmd, rest, err := r.Find(args)
			if err == nil {
				err = cmd.ParseFlags(rest)
			}
			if err != nil {
				t.Errorf("iotsafe %s: example %q does not parse: %v", path, line, err)
			}
		}
	}
}
