package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

// tracedCard prints every command and answer the software SIM processes,
// on the card side, whatever serves it (pcscd's vpcd, a fake modem): the
// data of commands and answers that carry secrets (PRF, HKDF, DH) is
// redacted, as on the host side.
type tracedCard struct {
	*emulator.Card
	mu sync.Mutex
	w  io.Writer
}

func (t *tracedCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	resp, err := t.Card.Transmit(ctx, cmd)
	t.mu.Lock()
	defer t.mu.Unlock()
	secret := len(cmd) > 1 && (cmd[1] == spec.InsComputePRF || cmd[1] == spec.InsComputeHKDF || cmd[1] == spec.InsComputeDH)
	fmt.Fprintf(t.w, "card <- %s\n", traceHex(cmd, 5, secret))
	switch {
	case err != nil:
		fmt.Fprintf(t.w, "card -> error: %v\n", err)
	case len(resp) >= 2:
		fmt.Fprintf(t.w, "card -> %s\n", traceHex(resp[:len(resp)-2], 0, secret)+" "+strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:])))
	}
	return resp, err
}

// traceHex renders b in hex, keeping the first keep bytes (a command
// header) and redacting the rest when secret.
func traceHex(b []byte, keep int, secret bool) string {
	if !secret || len(b) <= keep {
		return strings.ToUpper(hex.EncodeToString(b))
	}
	return strings.ToUpper(hex.EncodeToString(b[:keep])) + fmt.Sprintf("[%d bytes redacted]", len(b)-keep)
}
