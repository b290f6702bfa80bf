package iotsafe_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
)

// The APDU trace shows commands and answers, but never a PRF secret, a
// derived key or an ECDH secret.
func TestTraceRedactsSecrets(t *testing.T) {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	a, err := iotsafe.Open(context.Background(), card, &iotsafe.Options{Trace: &trace})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	secret := bytes.Repeat([]byte{0x5E}, 32)
	out, err := a.ComputePRF(ctx, iotsafe.PRFParams{SecretValue: secret, Label: []byte("l"), Seed: []byte("s"), Length: 48})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetRandom(ctx, 8); err != nil {
		t.Fatal(err)
	}
	tr := strings.ToUpper(trace.String())
	for name, v := range map[string][]byte{"PRF secret": secret, "PRF output": out[:16]} {
		if strings.Contains(tr, strings.ToUpper(hex.EncodeToString(v))) {
			t.Fatalf("trace shows the %s:\n%s", name, trace.String())
		}
	}
	if !strings.Contains(tr, "REDACTED") || !strings.Contains(tr, "-> 8184000008") || !strings.Contains(tr, "01A4040007A0000005590010") {
		t.Fatalf("trace lacks the expected lines:\n%s", trace.String())
	}
}
