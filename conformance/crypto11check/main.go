// Command crypto11check is the crypto11 part of the PKCS#11 conformance
// suite: through a PKCS#11 module (normally p11-kit-client.so talking to a
// `p11-kit server` that serves the token under test) it finds the key pair
// and certificate of one credential, signs with the key and checks the
// signature with the certificate's public key, and imports a certificate
// (C_CreateObject, as after an enrolment) and finds it again.
//
// Usage:
//
//	crypto11check -module LIB -token LABEL [-pin PIN] -label device-key [-import cert.pem -import-id 02]
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"os"

	"github.com/ThalesGroup/crypto11"
)

func main() {
	module := flag.String("module", "", "PKCS#11 module path")
	token := flag.String("token", "", "token label")
	pin := flag.String("pin", "", "user PIN (empty: the token needs no login)")
	label := flag.String("label", "device-key", "label of the key pair and its certificate")
	importPEM := flag.String("import", "", "certificate (PEM) to import as a token object")
	importID := flag.String("import-id", "", "CKA_ID (hex) of the imported certificate")
	importLabel := flag.String("import-label", "", "CKA_LABEL of the imported certificate")
	flag.Parse()
	if err := run(*module, *token, *pin, *label, *importPEM, *importID, *importLabel); err != nil {
		fmt.Fprintln(os.Stderr, "crypto11check:", err)
		os.Exit(1)
	}
}

func run(module, token, pin, label, importPEM, importID, importLabel string) error {
	cfg := &crypto11.Config{Path: module, TokenLabel: token, Pin: pin}
	if pin == "" {
		cfg.LoginNotSupported = true
	}
	ctx, err := crypto11.Configure(cfg)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	defer ctx.Close()

	key, err := ctx.FindKeyPair(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("find key pair: %w", err)
	}
	if key == nil {
		return fmt.Errorf("no key pair labelled %q", label)
	}
	cert, err := ctx.FindCertificate(nil, []byte(label), nil)
	if err != nil {
		return fmt.Errorf("find certificate: %w", err)
	}
	if cert == nil {
		return fmt.Errorf("no certificate labelled %q", label)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("certificate key is %T, want ECDSA", cert.PublicKey)
	}
	kpub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || !kpub.Equal(pub) {
		return fmt.Errorf("the key pair's public key is not the certificate's")
	}
	digest := sha256.Sum256([]byte("crypto11 conformance"))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return fmt.Errorf("signature does not verify with the certificate's public key")
	}
	fmt.Printf("crypto11: key pair and certificate %q found, signature verified (%s)\n", label, cert.Subject)

	if importPEM != "" {
		raw, err := os.ReadFile(importPEM)
		if err != nil {
			return err
		}
		blk, _ := pem.Decode(raw)
		if blk == nil {
			return fmt.Errorf("%s: no PEM block", importPEM)
		}
		ic, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return err
		}
		id, err := hex.DecodeString(importID)
		if err != nil {
			return fmt.Errorf("-import-id: %w", err)
		}
		if err := ctx.ImportCertificateWithLabel(id, []byte(importLabel), ic); err != nil {
			return fmt.Errorf("import certificate: %w", err)
		}
		back, err := ctx.FindCertificate(id, nil, nil)
		if err != nil {
			return fmt.Errorf("find imported certificate: %w", err)
		}
		if back == nil || !bytes.Equal(back.Raw, ic.Raw) {
			return fmt.Errorf("the imported certificate is not found again by its CKA_ID")
		}
		fmt.Printf("crypto11: certificate imported with CKA_ID %s and found again\n", importID)
	}
	return nil
}
