// Command launcher starts a program only if its detached signature verifies
// with a public key held on the SIM, checked on the card (IoT SAFE Verify
// Signature) and in software with the key read from the card: a tampered
// binary, or one signed by anyone but the key the operator put on the SIM,
// is refused and never runs. The program is read once and those bytes run
// (package imageverify), so swapping the file after the check does nothing.
//
// With --anchor (the vendor's public key, kept on the host's root-owned or
// read-only storage) or --anchor-sha256, the link to the SIM cannot forge
// the verdict: the signature is checked with the host's copy and the SIM's
// key must be the same. Without, the launcher says that its verdict trusts
// the link to the SIM.
//
//	launcher --sim emulator:sim.json --key-label vendor --sig app.sig --anchor /etc/iotsafe/vendor.pem -- ./app args...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/imageverify"
	"github.com/go-iotsafe/iotsafe/simuri"
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
	anchorFile := fs.String("anchor", "", "host-pinned vendor public key (PEM key or certificate, or a file holding its SPKI SHA-256)")
	anchorFP := fs.String("anchor-sha256", "", "host-pinned vendor key as the SHA-256 of its DER SubjectPublicKeyInfo")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() == 0 || *sigFile == "" {
		return 2, errors.New("usage: launcher --sig FILE [--sim URI] [--key-label L] -- PROGRAM [ARGS...]")
	}
	var pin *imageverify.Pin
	var err error
	switch {
	case *anchorFile != "" && *anchorFP != "":
		return 2, errors.New("launcher: --anchor and --anchor-sha256 exclude each other")
	case *anchorFile != "":
		pin, err = imageverify.LoadPin(*anchorFile)
	case *anchorFP != "":
		pin, err = imageverify.PinFingerprint(*anchorFP)
	}
	if err != nil {
		return 2, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Resolve and read the program once; what runs is these bytes.
	im, err := imageverify.Load(fs.Arg(0))
	if err != nil {
		return 3, err
	}
	if err := verify(ctx, *sim, *label, *sigFile, pin, im); err != nil {
		return 3, err
	}
	trust := "no anchor pinned: this verdict trusts the link to the SIM"
	if pin != nil {
		trust = "anchor pinned on the host: " + pin.String()
	}
	fmt.Fprintf(stderr, "launcher: %s verified on the SIM (%s); starting it\n", im.Path, trust)
	cmd, err := im.Command(fs.Arg(0), fs.Args()[1:]...)
	if err != nil {
		return 1, err
	}
	defer cmd.ExtraFiles[0].Close()
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

// verify has the card and a software check with the card's key both accept
// the image's signature.
func verify(ctx context.Context, sim, label, sigFile string, pin *imageverify.Pin, im *imageverify.Image) error {
	sig, err := os.ReadFile(sigFile)
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
	err = imageverify.VerifyPinned(ctx, a, iotsafe.ByLabel(label), pin, im.Digest, sig)
	if errors.Is(err, imageverify.ErrRefused) {
		return fmt.Errorf("%w (%s: %v)", errRefused, im.Path, err)
	}
	return err
}
