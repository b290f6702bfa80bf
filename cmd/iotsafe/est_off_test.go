//go:build noestserver

package main

import (
	"strings"
	"testing"
)

// The device CLI of the packages (-tags noestserver) has no EST server: its
// est-server and est-admin say which package has it, and are not listed.
func TestESTServerNotInDeviceBuild(t *testing.T) {
	for _, name := range []string{"est-server", "est-admin"} {
		_, err := run(t, name, "--dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "the EST server is in the package iotsafe-est-server") {
			t.Fatalf("%s in the device build: %v", name, err)
		}
	}
	help, err := run(t, "--help")
	if err != nil || strings.Contains(help, "est-server") || strings.Contains(help, "est-admin") {
		t.Fatalf("the device build's help lists the EST server: %v\n%s", err, help)
	}
}
