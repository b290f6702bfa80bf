package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
)

func newVerifyImageCmd(g *globals) *cobra.Command {
	var key refFlags
	var sigPath string
	cmd := &cobra.Command{
		Use:   "verify-image IMAGE",
		Short: "Check a software image's detached signature with a SIM-held public key, on the card (exit 2 on mismatch)",
		Long: "Hashes IMAGE with SHA-256 and asks the card to verify the detached DER (or raw r||s) ECDSA " +
			"signature with its public key object: the verdict comes from a key the device's software " +
			"cannot replace. Exits 0 when the signature matches, 2 when it does not, 1 on any other error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				return err
			}
			raw, err := derToRaw(sig)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				verr := a.Verify(cmd.Context(), ref, iotsafe.HashSHA256, h.Sum(nil), raw)
				if errors.Is(verr, iotsafe.ErrSignatureMismatch) {
					return &exitError{code: 2, msg: fmt.Sprintf("%s: signature does NOT match the SIM-held key %s: refusing the image", args[0], ref)}
				}
				if verr != nil {
					return verr
				}
				return g.emit(map[string]any{"image": args[0], "valid": true}, func(w io.Writer) {
					fmt.Fprintf(w, "%s: signature OK (verified on the SIM with public key %s)\n", args[0], ref)
				})
			})
		},
	}
	key.register(cmd, "key", "public key", "")
	cmd.Flags().StringVar(&sigPath, "sig", "", "detached signature (DER or raw r||s)")
	_ = cmd.MarkFlagRequired("sig")
	return cmd
}

// newAdminPutPublicKeyCmd is `emulator admin put-public-key`.
func newAdminPutPublicKeyCmd(withAdmin func(fn func(a *emulator.AdminSession) error) error) *cobra.Command {
	var id, label, in string
	cmd := &cobra.Command{
		Use:   "put-public-key",
		Short: "Put a read-only public key (e.g. a firmware vendor's) on the SIM",
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
			pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return err
			}
			ec, ok := pk.(*ecdsa.PublicKey)
			if !ok || ec.Curve != elliptic.P256() {
				return errors.New("the public key must be EC P-256")
			}
			point, err := ec.Bytes()
			if err != nil {
				return err
			}
			return withAdmin(func(a *emulator.AdminSession) error { return a.PutPublicKey(kid, label, point) })
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "public key ID (hex)")
	cmd.Flags().StringVar(&label, "label", "", "label")
	cmd.Flags().StringVar(&in, "in", "-", "PEM public key (- for stdin)")
	return cmd
}
