// Command launcher starts a program only if its detached signature verifies
// with a public key held on the SIM, checked on the card (IoT SAFE Verify
// Signature): a tampered binary, or one signed by anyone but the key the
// operator put on the SIM, is refused and never runs.
//
//	launcher --sim emulator:sim.json --key-label vendor --sig app.sig -- ./app args...
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/spec"
)

// errRefused means the image did not verify.
var errRefused = errors.New("launcher: signature does not verify with the SIM-held key: refusing to start")

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("launcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sim := fs.String("sim", os.Getenv(simuri.EnvVar), "SIM URI")
	label := fs.String("key-label", "vendor", "label of the SIM public key that signs software")
	sigFile := fs.String("sig", "", "detached DER signature of the program")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() == 0 || *sigFile == "" {
		return 2, errors.New("usage: launcher --sig FILE [--sim URI] [--key-label L] -- PROGRAM [ARGS...]")
	}
	prog := fs.Arg(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := verify(ctx, *sim, *label, *sigFile, prog); err != nil {
		return 3, err
	}
	fmt.Fprintf(stderr, "launcher: %s verified on the SIM; starting it\n", prog)
	cmd := exec.Command(prog, fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 1, err
	}
	return 0, nil
}

// verify hashes the program file and has the card check the signature.
func verify(ctx context.Context, sim, label, sigFile, prog string) error {
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		return err
	}
	raw, err := spec.SignatureFromDER(sig, 32)
	if err != nil {
		return fmt.Errorf("launcher: %s: %w", sigFile, err)
	}
	f, err := os.Open(prog)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	t, err := simuri.Open(ctx, sim)
	if err != nil {
		return err
	}
	a, err := iotsafe.Open(ctx, t, nil)
	if err != nil {
		t.Close()
		return err
	}
	defer a.Close()
	err = a.Verify(ctx, iotsafe.ByLabel(label), iotsafe.HashSHA256, h.Sum(nil), raw)
	if errors.Is(err, iotsafe.ErrSignatureMismatch) {
		return fmt.Errorf("%w (%s)", errRefused, prog)
	}
	return err
}
