package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestStory(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--dir", t.TempDir()}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"SIM created", "key pair generated on the SIM", "enrolled over EST with the factory credential (no shared password)", "certificate delivered to the SIM",
		"mutual TLS to the cloud OK: hello meter-", "certificate renewed", "connection refused by the cloud",
		"cloud's reason: client certificate has been revoked",
		"was revoked once the renewed one was in use: the cloud refuses it", "credential removed or deactivated by the operator", "story complete",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(s, "MQTT publish OK") && (os.Getenv("IOTSAFE_REQUIRE_TOOLS") == "1" || !strings.Contains(s, "MQTT skipped")) {
		t.Errorf("no MQTT publish:\n%s", s)
	}
	if strings.Contains(s, "MQTT publish OK") && !strings.Contains(s, "mosquitto, started with the new CRL, refuses the revoked certificate too") {
		t.Errorf("mosquitto did not refuse the revoked certificate:\n%s", s)
	}
}
