// Command iotsafe inspects and uses the GSMA IoT SAFE applet on a SIM: show
// the applet and its objects, draw random bytes, read public keys and files,
// generate key pairs on the SIM, sign and verify with SIM-held keys, and run
// ECDH, PRF and HKDF on the card. It also creates and serves the software SIM
// (the emulator).
//
// Every command that reaches a card takes --sim URI (emulator:PATH, pcsc:,
// modem:/dev/tty...; default $IOTSAFE_SIM) and --trace, which prints the
// APDUs to stderr. IDs are hex (--key 01); labels go with --label.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, errorLine(ee.msg))
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, errorLine(err.Error()))
		os.Exit(1)
	}
}

// errorLine is the one line an error is printed as: one "iotsafe:" prefix
// (the library's errors carry one of their own, which is not repeated).
func errorLine(msg string) string {
	for strings.HasPrefix(msg, "iotsafe: ") {
		msg = strings.TrimPrefix(msg, "iotsafe: ")
	}
	return "iotsafe: " + msg
}

// exitError carries a specific exit status (e.g. 2 for a signature that does
// not verify).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
