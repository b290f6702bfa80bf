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

func newVerifyImageCmd(g *globals) *cobra.Command {
	var key refFlags
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
			"`verify-image IMG && exec IMG` checks one file and runs another if IMG is replaced in between: " +
			"use `iotsafe run-image`, which runs exactly the bytes it verified.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, err := verifiedImage(cmd, g, &key, sigPath, args[0])
			if err != nil {
				return err
			}
			ref, _ := key.ref()
			return g.emit(map[string]any{"image": im.Path, "valid": true}, func(w io.Writer) {
				fmt.Fprintf(w, "%s: signature OK (verified on the SIM and in software with public key %s)\n", args[0], ref)
			})
		},
	}
	key.register(cmd, "key", "public key", "")
	cmd.Flags().StringVar(&sigPath, "sig", "", "detached signature (ECDSA: DER or raw r||s; RSA: 256 bytes)")
	_ = cmd.MarkFlagRequired("sig")
	return cmd
}

func newRunImageCmd(g *globals) *cobra.Command {
	var key refFlags
	var sigPath string
	cmd := &cobra.Command{
		Use:   "run-image PROGRAM [ARGS...]",
		Short: "Run a program only if its signature verifies with a SIM-held public key, running exactly the bytes verified",
		Long: "Resolves PROGRAM once (a bare name through $PATH), reads it once, verifies those bytes as verify-image " +
			"does, and executes the same bytes from a sealed in-memory copy: replacing the file after the check " +
			"has no effect. The program's exit status becomes this command's; a refused image exits 2 and never runs.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, err := verifiedImage(cmd, g, &key, sigPath, args[0])
			if err != nil {
				return err
			}
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
	cmd.Flags().StringVar(&sigPath, "sig", "", "detached signature (ECDSA: DER or raw r||s; RSA: 256 bytes)")
	_ = cmd.MarkFlagRequired("sig")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// verifiedImage loads an image and verifies it (exit 2 when it does not).
func verifiedImage(cmd *cobra.Command, g *globals, key *refFlags, sigPath, name string) (*imageverify.Image, error) {
	ref, err := key.ref()
	if err != nil {
		return nil, err
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return nil, err
	}
	im, err := imageverify.Load(name)
	if err != nil {
		return nil, err
	}
	err = g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
		return imageverify.Verify(cmd.Context(), a, ref, im.Digest, sig)
	})
	if errors.Is(err, imageverify.ErrRefused) {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: signature does NOT match the SIM-held key %s: refusing the image (%v)", name, ref, err)}
	}
	if err != nil {
		return nil, err
	}
	return im, nil
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
