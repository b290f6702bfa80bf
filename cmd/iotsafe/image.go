package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/imageverify"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// anchorFlags name a trust anchor the host pins for image verification.
type anchorFlags struct{ file, sha256 string }

func (f *anchorFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.file, "anchor", "", "host-pinned trust anchor: the vendor's PEM public key or certificate, or a file holding its SPKI SHA-256 "+
		"(keep it on root-owned or read-only storage; a file others can write is refused)")
	cmd.Flags().StringVar(&f.sha256, "anchor-sha256", "", "host-pinned trust anchor as the SHA-256 of the vendor key's DER SubjectPublicKeyInfo "+
		"(openssl pkey -pubin -outform DER | sha256sum)")
	cmd.MarkFlagsMutuallyExclusive("anchor", "anchor-sha256")
}

// pin returns the pinned anchor, or nil when none is given.
func (f *anchorFlags) pin() (*imageverify.Pin, error) {
	switch {
	case f.file != "":
		p, err := imageverify.LoadPin(f.file)
		if err != nil {
			return nil, fmt.Errorf("--anchor: %w", err)
		}
		return p, nil
	case f.sha256 != "":
		p, err := imageverify.PinFingerprint(f.sha256)
		if err != nil {
			return nil, fmt.Errorf("--anchor-sha256: %w", err)
		}
		return p, nil
	}
	return nil, nil
}

// trustNote says what a verdict rests on.
func trustNote(pin *imageverify.Pin) string {
	if pin != nil {
		return "anchor pinned on the host: " + pin.String()
	}
	return "no anchor pinned: this verdict trusts the link to the SIM (a modem or line that rewrites answers could forge it); pin the vendor key with --anchor or --anchor-sha256"
}

func newVerifyImageCmd(g *globals) *cobra.Command {
	var key refFlags
	var anchor anchorFlags
	var sigPath string
	cmd := &cobra.Command{
		Use:   "verify-image IMAGE",
		Short: "Check a software image's detached signature with a SIM-held public key, on the card and in software (exit 2 on mismatch)",
		Long: "Hashes IMAGE with SHA-256 and accepts it only when the card's Verify Signature with its public key " +
			"object and a check in software with that key, read from the card, both accept the detached signature: " +
			"ECDSA (DER or raw r||s) for a P-256 or brainpoolP256r1 key; for an RSA-2048 key the 256-byte " +
			"RSASSA-PKCS1-v1_5 or RSASSA-PSS (salt 32) signature, as `openssl dgst -sha256 -sign` writes it. " +
			"The key must be one the device cannot replace (no update access, not " +
			"generated on the card, no private key of the same ID): others are refused. Exits 0 when the " +
			"signature matches, 2 when it does not, 1 on any other error.\n\n" +
			"IMAGE is a path (\"app\" is ./app, never looked up in $PATH).\n\n" +
			"Without a pinned anchor, the key and the card's verdict both come over the link to the SIM, and the " +
			"output says so: a modem (or anything on its line) that rewrites answers can forge the verdict. With " +
			"--anchor or --anchor-sha256 the signature is checked in software with the host's copy of the key and the " +
			"card's key must be that key, so the link can make a genuine image fail but never pass a forged one.\n\n" +
			"`verify-image IMG && exec IMG` checks one file and runs another if IMG is replaced in between: " +
			"use `iotsafe run-image`, which runs exactly the bytes it verified.",
		Example: "  iotsafe verify-image --label vendor --sig fw.bin.sig --anchor /etc/iotsafe/vendor.pem fw.bin",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pin, err := anchor.pin()
			if err != nil {
				return err
			}
			im, err := imageverify.LoadFile(args[0])
			if err != nil {
				return err
			}
			if err := verifyImage(cmd, g, &key, pin, sigPath, im); err != nil {
				return err
			}
			ref, _ := key.ref()
			return g.emit(map[string]any{"image": im.Path, "valid": true, "pinned": pin != nil, "trust": trustNote(pin)}, func(w io.Writer) {
				fmt.Fprintf(w, "%s: signature OK (verified on the SIM and in software with public key %s; %s)\n", im.Path, ref, trustNote(pin))
			})
		},
	}
	key.register(cmd, "key", "public key", "")
	anchor.register(cmd)
	cmd.Flags().StringVar(&sigPath, "sig", "", "detached signature (ECDSA: DER or raw r||s; RSA: 256 bytes)")
	_ = cmd.MarkFlagRequired("sig")
	return cmd
}

func newRunImageCmd(g *globals) *cobra.Command {
	var key refFlags
	var anchor anchorFlags
	var sigPath string
	cmd := &cobra.Command{
		Use:   "run-image PROGRAM [ARGS...]",
		Short: "Run a program only if its signature verifies with a SIM-held public key, running exactly the bytes verified",
		Long: "Resolves PROGRAM once (a bare name through $PATH), reads it once, verifies those bytes as verify-image " +
			"does, and executes the same bytes from a sealed in-memory copy: replacing the file after the check " +
			"has no effect. The program's exit status becomes this command's; a refused image exits 2 and never runs. " +
			"The path verified is printed on standard error before the program starts. --anchor / --anchor-sha256: see verify-image.",
		Example: "  iotsafe run-image --label vendor --sig /opt/app/agent.sig --anchor /etc/iotsafe/vendor.pem /opt/app/agent --config /etc/agent.conf",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pin, err := anchor.pin()
			if err != nil {
				return err
			}
			im, err := imageverify.Load(args[0])
			if err != nil {
				return err
			}
			if err := verifyImage(cmd, g, &key, pin, sigPath, im); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "iotsafe: %s: signature OK (%s); starting it\n", im.Path, trustNote(pin))
			c, err := im.Command(args[0], args[1:]...)
			if err != nil {
				return err
			}
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, g.out, os.Stderr
			err = c.Run()
			c.ExtraFiles[0].Close()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return &exitError{code: ee.ExitCode()}
			}
			return err
		},
	}
	key.register(cmd, "key", "public key", "")
	anchor.register(cmd)
	cmd.Flags().StringVar(&sigPath, "sig", "", "detached signature (ECDSA: DER or raw r||s; RSA: 256 bytes)")
	_ = cmd.MarkFlagRequired("sig")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// verifyImage verifies a loaded image (exit 2 when it does not verify).
func verifyImage(cmd *cobra.Command, g *globals, key *refFlags, pin *imageverify.Pin, sigPath string, im *imageverify.Image) error {
	ref, err := key.ref()
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return fmt.Errorf("--sig: %w", err)
	}
	err = g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
		return imageverify.VerifyPinned(cmd.Context(), a, ref, pin, im.Digest, sig)
	})
	if errors.Is(err, imageverify.ErrRefused) {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: signature does NOT match the SIM-held key %s: refusing the image (%v)", im.Path, ref, err)}
	}
	return err
}

// newAdminPutPublicKeyCmd is `emulator admin put-public-key`.
func newAdminPutPublicKeyCmd(withAdmin func(fn func(a *emulator.AdminSession) error) error) *cobra.Command {
	var id, label, in string
	cmd := &cobra.Command{
		Use:   "put-public-key",
		Short: "Put a read-only public key (e.g. a firmware vendor's: P-256, brainpoolP256r1 or RSA-2048) on the SIM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kid, err := parseID(id)
			if err != nil {
				return fmt.Errorf("--id: %w", err)
			}
			b, err := readInput(in)
			if err != nil {
				return err
			}
			blk, _ := pem.Decode(b)
			if blk == nil {
				return errors.New("the input holds no PEM public key")
			}
			pk, err := keys.ParsePKIX(blk.Bytes)
			if err != nil {
				return err
			}
			if keys.KindOf(pk) == spec.KeyKindUnknown {
				return errors.New("the public key must be EC P-256, EC brainpoolP256r1 or RSA-2048")
			}
			return withAdmin(func(a *emulator.AdminSession) error { return a.PutPublicKeyOf(kid, label, pk) })
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "public key ID (hex)")
	cmd.Flags().StringVar(&label, "label", "", "label")
	cmd.Flags().StringVar(&in, "in", "-", "PEM public key (- for stdin)")
	return cmd
}
