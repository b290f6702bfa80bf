package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

func newInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show the applet: AID, channel, class, version and capabilities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				info, err := a.ApplicationInfo(cmd.Context())
				if err != nil {
					return err
				}
				out := map[string]any{
					"aid": hex.EncodeToString(a.AID()), "channel": a.Channel(), "class": a.ClassFamily().String(),
					"version": info.Version, "applet_id": info.Name(),
					"max_files": info.MaxFiles, "max_private_keys": info.MaxPrivateKeys,
					"max_public_keys": info.MaxPublicKeys, "max_secret_keys": info.MaxSecretKeys,
					"max_sessions": info.MaxSessions, "crypto_functions": funcNames(info.CryptoFunctions),
					"hash_algorithms": hashNames(info.HashAlgorithms), "signature_algorithms": sigNames(info.SignatureAlgorithms),
					"extended_length": a.ExtendedLength(),
				}
				return g.emit(out, func(w io.Writer) {
					fmt.Fprintf(w, "applet        %X on channel %d (%s class)\n", a.AID(), a.Channel(), a.ClassFamily())
					fmt.Fprintf(w, "version       %d\n", info.Version)
					fmt.Fprintf(w, "applet id     %s\n", info.Name())
					fmt.Fprintf(w, "capacity      %d files, %d private keys, %d public keys, %d secret keys, %d sessions\n",
						info.MaxFiles, info.MaxPrivateKeys, info.MaxPublicKeys, info.MaxSecretKeys, info.MaxSessions)
					fmt.Fprintf(w, "functions     %s\n", strings.Join(funcNames(info.CryptoFunctions), ", "))
					fmt.Fprintf(w, "hashes        %s\n", strings.Join(hashNames(info.HashAlgorithms), ", "))
					fmt.Fprintf(w, "signatures    %s\n", strings.Join(sigNames(info.SignatureAlgorithms), ", "))
					apdus := "short (no ATR, or the card does not announce extended lengths)"
					if a.ExtendedLength() {
						apdus = "extended lengths where they save a GET RESPONSE (the ATR announces them)"
					}
					fmt.Fprintf(w, "APDUs         %s\n", apdus)
				})
			})
		},
	}
}

func newLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the objects in the applet store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				objs, err := a.Objects(cmd.Context())
				if err != nil {
					return err
				}
				type row struct {
					Kind      string   `json:"kind"`
					ID        string   `json:"id"`
					Label     string   `json:"label,omitempty"`
					State     string   `json:"state"`
					Access    []string `json:"access"`
					Functions []string `json:"functions,omitempty"`
					KeyType   string   `json:"key_type,omitempty"`
					Usage     string   `json:"usage,omitempty"`
					Size      int      `json:"size,omitempty"`
				}
				rows := make([]row, 0, len(objs))
				for _, o := range objs {
					r := row{Kind: o.Kind.String(), ID: hex.EncodeToString(o.ID), Label: o.Label,
						State: stateName(o.State), Access: accessNames(o.Access)}
					if o.Kind == spec.KindFile {
						r.Usage, r.Size = fileUsageName(o.FileUsage), o.FileSize
					} else {
						r.Functions, r.KeyType = funcNames(o.CryptoFunctions), keyTypeName(o.KeyType)
					}
					rows = append(rows, r)
				}
				return g.emit(rows, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KIND\tID\tLABEL\tSTATE\tACCESS\tDETAILS")
					for _, r := range rows {
						details := strings.Join(r.Functions, ",")
						if r.KeyType != "" {
							details = r.KeyType + " " + details
						}
						if r.Kind == "file" {
							details = fmt.Sprintf("%s, %d bytes", r.Usage, r.Size)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.ID, r.Label, r.State, strings.Join(r.Access, ","), details)
					}
					tw.Flush()
				})
			})
		},
	}
}

func newRandomCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "random N",
		Short: "Print N random bytes from the card (hex)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n int
			if _, err := fmt.Sscan(args[0], &n); err != nil || n < 1 || n > 65536 {
				return fmt.Errorf("N must be a number from 1 to 65536, got %q", args[0])
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				b, err := a.GetRandom(cmd.Context(), n)
				if err != nil {
					return err
				}
				return g.emit(map[string]string{"random": hex.EncodeToString(b)}, func(w io.Writer) {
					fmt.Fprintln(w, hex.EncodeToString(b))
				})
			})
		},
	}
}

func newPubkeyCmd(g *globals) *cobra.Command {
	var key refFlags
	cmd := &cobra.Command{
		Use:   "pubkey",
		Short: "Print a public key from the card as PEM (P-256, brainpoolP256r1 or RSA-2048)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				pub, err := a.PublicKey(cmd.Context(), ref)
				if err != nil {
					return explainEmpty(cmd.Context(), a, spec.KindPublicKey, ref, err)
				}
				return emitPublicKey(g, pub, nil)
			})
		},
	}
	key.register(cmd, "key", "public key", "")
	return cmd
}

func newKeygenCmd(g *globals) *cobra.Command {
	var key refFlags
	var replace bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a key pair on the card, in the named container, and print its public key",
		Long: "Generates a key pair in an empty key container of the SIM. A container that holds an active key is " +
			"refused unless --replace is given: the old key is then lost for good, with every certificate issued for it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				o, err := a.Find(cmd.Context(), spec.KindPrivateKey, ref)
				if err != nil {
					return err
				}
				if o.Active() && !replace {
					return fmt.Errorf("private key %s holds an active key: generating would replace it for good; give --replace to do that", o)
				}
				kp, err := a.GenerateKeyPair(cmd.Context(), ref)
				if err != nil {
					return err
				}
				pub, err := keys.Public(o.KeyType, kp.Data)
				if err != nil {
					return fmt.Errorf("%w: generate key pair: %w", iotsafe.ErrMalformedResponse, err)
				}
				return emitPublicKey(g, pub, map[string]string{
					"private_key_id": hex.EncodeToString(kp.PrivateID), "public_key_id": hex.EncodeToString(kp.PublicID)})
			})
		},
	}
	key.register(cmd, "key", "private key container", "")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace an active key (it is lost for good)")
	return cmd
}

func emitPublicKey(g *globals, pub crypto.PublicKey, extra map[string]string) error {
	der, err := keys.MarshalPKIX(pub)
	if err != nil {
		return err
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	out := map[string]string{"pem": pemText, "type": keys.KindOf(pub).String()}
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		point := make([]byte, spec.P256PointLen)
		point[0] = 4
		ec.X.FillBytes(point[1:33])
		ec.Y.FillBytes(point[33:])
		out["point"] = hex.EncodeToString(point)
	}
	for k, v := range extra {
		out[k] = v
	}
	return g.emit(out, func(w io.Writer) {
		if extra != nil {
			fmt.Fprintf(os.Stderr, "key pair generated: private key %s, public key %s\n", extra["private_key_id"], extra["public_key_id"])
		}
		fmt.Fprint(w, pemText)
	})
}

// hashFlag selects the hash of sign/verify.
func parseHash(name string) (iotsafe.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "-", "")) {
	case "sha256":
		return iotsafe.HashSHA256, nil
	case "sha384":
		return iotsafe.HashSHA384, nil
	case "sha512":
		return iotsafe.HashSHA512, nil
	}
	return 0, fmt.Errorf("unknown hash %q (sha256, sha384 or sha512)", name)
}

// digestOf hashes the input, or takes it as a precomputed digest.
func digestOf(h iotsafe.Hash, in []byte, precomputed bool) ([]byte, iotsafe.Hash, error) {
	if precomputed {
		switch len(in) {
		case 32:
			return in, iotsafe.HashSHA256, nil
		case 48:
			return in, iotsafe.HashSHA384, nil
		case 64:
			return in, iotsafe.HashSHA512, nil
		}
		return nil, 0, fmt.Errorf("a precomputed digest must be 32, 48 or 64 bytes, the input has %d", len(in))
	}
	switch h {
	case iotsafe.HashSHA384:
		d := sha512.Sum384(in)
		return d[:], h, nil
	case iotsafe.HashSHA512:
		d := sha512.Sum512(in)
		return d[:], h, nil
	}
	d := sha256.Sum256(in)
	return d[:], iotsafe.HashSHA256, nil
}

func readInput(path string) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func (g *globals) writeOutput(path string, b []byte) error {
	if path == "" || path == "-" {
		_, err := g.out.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func rawToDER(raw []byte) ([]byte, error) { return spec.SignatureToDER(raw) }

// derToRaw converts a DER ECDSA signature to fixed-size r||s for P-256; a
// 64-byte input that is not DER is taken as raw already.
func derToRaw(sig []byte) ([]byte, error) {
	if len(sig) == 64 && sig[0] != 0x30 {
		return sig, nil
	}
	raw, err := spec.SignatureFromDER(sig, 32)
	if err != nil {
		return nil, errors.New("the signature is neither DER ECDSA nor 64-byte raw r||s for P-256")
	}
	return raw, nil
}

// verifySignature verifies sig on the card, or (local) on the host with
// the card's public key. verr is the verdict (nil or a mismatch); err an
// error that prevented one.
func verifySignature(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, alg iotsafe.SigAlg, local bool,
	h iotsafe.Hash, digest, sig []byte) (verr, err error) {
	if alg != iotsafe.SigECDSA {
		if !local {
			return a.VerifyWith(ctx, ref, alg, h, digest, sig), nil
		}
		pub, err := a.PublicKey(ctx, ref)
		if err != nil {
			return nil, err
		}
		return verifyRSA(pub, alg, h, digest, sig), nil
	}
	raw, err := derToRaw(sig)
	if err != nil {
		return nil, err
	}
	if !local {
		return a.Verify(ctx, ref, h, digest, raw), nil
	}
	pk, err := a.PublicKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	pub, ok := pk.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the card's public key is a %T", pk)
	}
	der, _ := rawToDER(raw)
	if !ecdsa.VerifyASN1(pub, digest, der) {
		return iotsafe.ErrSignatureMismatch, nil
	}
	return nil, nil
}

// verifyRSA checks an RSA signature on the host.
func verifyRSA(pk crypto.PublicKey, alg iotsafe.SigAlg, h iotsafe.Hash, digest, sig []byte) error {
	pub, ok := pk.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("the card's public key is a %T, not RSA", pk)
	}
	var err error
	if alg == iotsafe.SigRSAPSS {
		err = rsa.VerifyPSS(pub, h.CryptoHash(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	} else {
		err = rsa.VerifyPKCS1v15(pub, h.CryptoHash(), digest, sig)
	}
	if err != nil {
		return iotsafe.ErrSignatureMismatch
	}
	return nil
}

// commonInputs reads what sign and verify share: the key, the hash and the
// input.
func commonInputs(key *refFlags, hashName, in string) (iotsafe.Ref, iotsafe.Hash, []byte, error) {
	ref, err := key.ref()
	if err != nil {
		return iotsafe.Ref{}, 0, nil, err
	}
	h, err := parseHash(hashName)
	if err != nil {
		return iotsafe.Ref{}, 0, nil, err
	}
	data, err := readInput(in)
	return ref, h, data, err
}

func newSignCmd(g *globals) *cobra.Command {
	var key refFlags
	var in, out, hashName string
	var precomputed, raw, fullText, pss bool
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a file with a key on the card (DER ECDSA, or RSA PKCS#1 v1.5 / PSS, over SHA-256 of the input)",
		Long: "Signs with an EC key (DER ECDSA; --raw: r||s) or an RSA key (the 256-byte signature: " +
			"RSASSA-PKCS1-v1_5, or RSASSA-PSS with --pss, salt as long as the hash, MGF1 with the same hash).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, h, data, err := commonInputs(&key, hashName, in)
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				ctx := cmd.Context()
				// The common case, an EC key, signs at once: the key's
				// information is read only when the card refuses ECDSA
				// with that key (an RSA key) or --pss asks for RSA. A
				// one-shot signature is then 6 APDUs from start to exit.
				alg := iotsafe.SigECDSA
				if pss {
					if alg, err = sigAlgFor(ctx, a, spec.KindPrivateKey, ref, pss); err != nil {
						return explainRefusal(ctx, a, spec.KindPrivateKey, ref, err)
					}
				}
				sig, err := signOnce(ctx, a, ref, alg, h, data, precomputed, fullText)
				if !pss && (errors.Is(err, iotsafe.ErrIncorrectData) || errors.Is(err, iotsafe.ErrConditionsNotSatisfied)) {
					if other, lerr := sigAlgFor(ctx, a, spec.KindPrivateKey, ref, false); lerr == nil && other != alg {
						alg = other
						sig, err = signOnce(ctx, a, ref, alg, h, data, precomputed, fullText)
					}
				}
				if err != nil {
					return explainRefusal(ctx, a, spec.KindPrivateKey, ref, err)
				}
				if alg == iotsafe.SigECDSA && !raw {
					if sig, err = rawToDER(sig); err != nil {
						return err
					}
				}
				if g.json {
					return g.emit(map[string]string{"signature": hex.EncodeToString(sig)}, nil)
				}
				return g.writeOutput(out, sig)
			})
		},
	}
	key.register(cmd, "key", "private key", "01")
	f := cmd.Flags()
	f.StringVar(&in, "in", "-", "file to sign (- for stdin)")
	f.StringVar(&out, "out", "-", "where to write the signature (- for stdout)")
	f.StringVar(&hashName, "hash", "sha256", "hash: sha256, sha384 or sha512")
	f.BoolVar(&precomputed, "digest", false, "the input is a precomputed digest (32, 48 or 64 bytes)")
	f.BoolVar(&fullText, "full-text", false, "send the whole input to the card, which hashes it (full-text mode)")
	f.BoolVar(&raw, "raw", false, "write raw r||s instead of DER (EC keys)")
	f.BoolVar(&pss, "pss", false, "RSA keys: RSASSA-PSS instead of PKCS#1 v1.5")
	return cmd
}

// sigAlgFor returns the signature algorithm for the key ref names: ECDSA
// for EC keys (an applet that omits the key type included), PKCS#1 v1.5 or
// (pss) PSS for RSA keys.
// signOnce signs data (or the digest it is, with precomputed) with alg:
// raw r||s for ECDSA, the signature value for RSA.
func signOnce(ctx context.Context, a *iotsafe.Applet, ref iotsafe.Ref, alg iotsafe.SigAlg, h iotsafe.Hash, data []byte, precomputed, fullText bool) ([]byte, error) {
	if fullText {
		switch {
		case alg != iotsafe.SigECDSA:
			return nil, errors.New("--full-text signs with EC keys only")
		case precomputed:
			return nil, errors.New("--full-text and --digest exclude each other")
		}
		return a.SignMessage(ctx, ref, h, data)
	}
	digest, dh, err := digestOf(h, data, precomputed)
	if err != nil {
		return nil, err
	}
	return a.SignWith(ctx, ref, alg, dh, digest)
}

func sigAlgFor(ctx context.Context, a *iotsafe.Applet, kind spec.ObjectKind, ref iotsafe.Ref, pss bool) (iotsafe.SigAlg, error) {
	o, err := a.Find(ctx, kind, ref)
	if err != nil {
		return 0, err
	}
	if spec.KindOfKeyType(o.KeyType) != spec.KeyKindRSA2048 {
		if pss {
			return 0, fmt.Errorf("--pss: %s is not an RSA key", o)
		}
		return iotsafe.SigECDSA, nil
	}
	if pss {
		return iotsafe.SigRSAPSS, nil
	}
	return iotsafe.SigRSAPKCS1, nil
}

func newVerifyCmd(g *globals) *cobra.Command {
	var key refFlags
	var in, sigPath, hashName string
	var precomputed, local, pss bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a signature with a public key held on the card (on the card, or --local on the host)",
		Long: "Verify a DER (or raw r||s) ECDSA signature, or an RSA signature (PKCS#1 v1.5, --pss for PSS), over " +
			"the input. By default the card verifies it with its public key object (Verify Signature); --local " +
			"reads the public key and verifies on the host. Exits with status 2 when the signature does not match.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, h, data, err := commonInputs(&key, hashName, in)
			if err != nil {
				return err
			}
			sigBytes, err := os.ReadFile(sigPath)
			if err != nil {
				return err
			}
			digest, dh, err := digestOf(h, data, precomputed)
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				alg, err := sigAlgFor(cmd.Context(), a, spec.KindPublicKey, ref, pss)
				if err != nil {
					return err
				}
				verr, err := verifySignature(cmd.Context(), a, ref, alg, local, dh, digest, sigBytes)
				if err != nil {
					return err
				}
				if errors.Is(verr, iotsafe.ErrSignatureMismatch) {
					if g.json {
						_ = g.emit(map[string]bool{"valid": false}, nil)
					}
					return &exitError{code: 2, msg: "signature does NOT match"}
				}
				if verr != nil {
					return verr
				}
				return g.emit(map[string]bool{"valid": true}, func(w io.Writer) { fmt.Fprintln(w, "signature OK") })
			})
		},
	}
	key.register(cmd, "key", "public key", "01")
	f := cmd.Flags()
	f.StringVar(&in, "in", "-", "signed file (- for stdin)")
	f.StringVar(&sigPath, "sig", "", "signature file (DER or raw r||s)")
	f.StringVar(&hashName, "hash", "sha256", "hash: sha256, sha384 or sha512")
	f.BoolVar(&precomputed, "digest", false, "the input is a precomputed digest")
	f.BoolVar(&local, "local", false, "verify on the host with the public key read from the card")
	f.BoolVar(&pss, "pss", false, "RSA keys: the signature is RSASSA-PSS (salt as long as the hash)")
	_ = cmd.MarkFlagRequired("sig")
	return cmd
}

func newReadFileCmd(g *globals) *cobra.Command {
	var file refFlags
	var out string
	var asPEM bool
	cmd := &cobra.Command{
		Use:   "read-file",
		Short: "Read a file from the applet store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := file.ref()
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				b, err := a.ReadFile(cmd.Context(), ref)
				if err != nil {
					return err
				}
				if g.json {
					return g.emit(map[string]string{"data": hex.EncodeToString(b)}, nil)
				}
				if asPEM {
					if _, err := bpx509.ParseCertificate(b); err != nil {
						return fmt.Errorf("--pem: the file does not hold a DER certificate: %w", err)
					}
					b = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b})
				}
				return g.writeOutput(out, b)
			})
		},
	}
	file.register(cmd, "file", "file", "")
	cmd.Flags().StringVar(&out, "out", "-", "where to write the contents (- for stdout)")
	cmd.Flags().BoolVar(&asPEM, "pem", false, "the file holds a DER certificate: write it as PEM")
	return cmd
}

func newDHCmd(g *globals) *cobra.Command {
	var key refFlags
	var peerPath, slot string
	cmd := &cobra.Command{
		Use:   "dh",
		Short: "ECDH on the card: put the peer's public key (P-256 or brainpoolP256r1, the key's curve) into a slot, then compute the shared secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := key.ref()
			if err != nil {
				return err
			}
			slotID, err := parseID(slot)
			if err != nil {
				return fmt.Errorf("--peer-slot: %w", err)
			}
			pemBytes, err := os.ReadFile(peerPath)
			if err != nil {
				return err
			}
			blk, _ := pem.Decode(pemBytes)
			if blk == nil {
				return fmt.Errorf("%s holds no PEM block", peerPath)
			}
			var pk crypto.PublicKey
			switch blk.Type {
			case "PUBLIC KEY":
				pk, err = keys.ParsePKIX(blk.Bytes)
			case "CERTIFICATE":
				// The peer's certificate: its key is what is wanted.
				var c *x509.Certificate
				if c, err = bpx509.ParseCertificate(blk.Bytes); err == nil {
					pk = c.PublicKey
				}
			default:
				err = fmt.Errorf("a PEM %q block; give the peer's PUBLIC KEY or CERTIFICATE", blk.Type)
			}
			if err != nil {
				return fmt.Errorf("--peer %s: %w", peerPath, err)
			}
			ec, ok := pk.(*ecdsa.PublicKey)
			point := []byte(nil)
			if ok {
				point = keys.ECPoint(ec)
			}
			if point == nil {
				return fmt.Errorf("%s: the peer key must be an EC public key on P-256 or brainpoolP256r1 (the key's curve)", peerPath)
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				z, err := a.ECDH(cmd.Context(), ref, iotsafe.ByID(slotID...), point)
				if err != nil {
					return explainRefusal(cmd.Context(), a, spec.KindPrivateKey, ref, err)
				}
				return g.emit(map[string]string{"shared_secret": hex.EncodeToString(z)}, func(w io.Writer) {
					fmt.Fprintln(w, hex.EncodeToString(z))
				})
			})
		},
	}
	key.register(cmd, "key", "private key (key agreement)", "04")
	cmd.Flags().StringVar(&peerPath, "peer", "", "the peer's public key (PEM)")
	cmd.Flags().StringVar(&slot, "peer-slot", "05", "public key slot ID that receives the peer key")
	_ = cmd.MarkFlagRequired("peer")
	return cmd
}

func hexFlag(name, val string) ([]byte, error) {
	b, err := hex.DecodeString(val)
	if err != nil {
		return nil, fmt.Errorf("--%s: not hex", name)
	}
	return b, nil
}

func newPRFCmd(g *globals) *cobra.Command {
	var secret refFlags
	var label, seed string
	var length int
	cmd := &cobra.Command{
		Use:   "prf",
		Short: "TLS 1.2 PRF (P_SHA256) on the card with a secret held there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := secret.ref()
			if err != nil {
				return err
			}
			sd, err := hexFlag("seed", seed)
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				out, err := a.ComputePRF(cmd.Context(), iotsafe.PRFParams{Secret: ref, Label: []byte(label), Seed: sd, Length: length})
				if err != nil {
					return err
				}
				return g.emit(map[string]string{"output": hex.EncodeToString(out)}, func(w io.Writer) {
					fmt.Fprintln(w, hex.EncodeToString(out))
				})
			})
		},
	}
	secret.register(cmd, "secret", "secret key", "06")
	cmd.Flags().StringVar(&label, "prf-label", "key expansion", "PRF label (text)")
	cmd.Flags().StringVar(&seed, "seed", "", "PRF seed (hex)")
	cmd.Flags().IntVar(&length, "length", 32, "output length in bytes (1-255)")
	return cmd
}

func newHKDFCmd(g *globals) *cobra.Command {
	var secret refFlags
	var salt, info, hashName string
	var length int
	cmd := &cobra.Command{
		Use:   "hkdf",
		Short: "HKDF (RFC 5869) on the card with a secret held there (--length 0: extract only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := secret.ref()
			if err != nil {
				return err
			}
			h, err := parseHash(hashName)
			if err != nil {
				return err
			}
			sl, err := hexFlag("salt", salt)
			if err != nil {
				return err
			}
			in, err := hexFlag("info", info)
			if err != nil {
				return err
			}
			return g.withApplet(cmd.Context(), func(a *iotsafe.Applet) error {
				out, err := a.ComputeHKDF(cmd.Context(), iotsafe.HKDFParams{Secret: ref, Salt: sl, Info: in, Hash: h, Length: length})
				if err != nil {
					return err
				}
				return g.emit(map[string]string{"output": hex.EncodeToString(out)}, func(w io.Writer) {
					fmt.Fprintln(w, hex.EncodeToString(out))
				})
			})
		},
	}
	secret.register(cmd, "secret", "secret key", "06")
	cmd.Flags().StringVar(&salt, "salt", "", "salt (hex)")
	cmd.Flags().StringVar(&info, "info", "", "info for the expand step (hex)")
	cmd.Flags().StringVar(&hashName, "hash", "sha256", "hash: sha256, sha384 or sha512")
	cmd.Flags().IntVar(&length, "length", 32, "output length; 0 = HKDF-Extract only (the PRK)")
	return cmd
}

// explainEmpty turns the card's refusal to read an object into what the
// user needs to know when the object is an empty container, or absent.
func explainEmpty(ctx context.Context, a *iotsafe.Applet, kind spec.ObjectKind, ref iotsafe.Ref, err error) error {
	o, ferr := a.Find(ctx, kind, ref)
	switch {
	case errors.Is(ferr, iotsafe.ErrNotFound) || errors.Is(err, iotsafe.ErrNotFound):
		return fmt.Errorf("there is no %s %s on this SIM (iotsafe ls lists the objects)", kind, refName(ref))
	// The card shows one state, "not activated", for an empty container
	// and for a key the operator deactivated: both are named.
	case ferr == nil && !o.Active() && o.CryptoFunctions&spec.FuncKeyGeneration != 0:
		return fmt.Errorf("%s is empty (or deactivated by the operator): no usable key in it (iotsafe keygen --key %X generates one)", o, o.ID)
	case ferr == nil && !o.Active():
		return fmt.Errorf("%s is empty (or deactivated by the operator): nothing usable was delivered into it", o)
	}
	return err
}

// explainRefusal is explainEmpty for an operation the card refused with a
// status word that an empty or absent object gives (not found, conditions
// of use, wrong data); other failures (a lost link, a timeout) are returned
// as they are, without asking the card again.
func explainRefusal(ctx context.Context, a *iotsafe.Applet, kind spec.ObjectKind, ref iotsafe.Ref, err error) error {
	if errors.Is(err, iotsafe.ErrNotFound) || errors.Is(err, iotsafe.ErrConditionsNotSatisfied) || errors.Is(err, iotsafe.ErrIncorrectData) {
		return explainEmpty(ctx, a, kind, ref, err)
	}
	return err
}

// refName is how the user named an object.
func refName(ref iotsafe.Ref) string {
	if ref.Label != "" {
		return fmt.Sprintf("labelled %q", ref.Label)
	}
	return fmt.Sprintf("%X", ref.ID)
}
