package signer_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"

	iotsafe "github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/signer"
)

// openSIM opens the in-process software SIM; a real one comes from
// simuri.Open(ctx, "pcsc:") and the like.
func openSIM(ctx context.Context) *iotsafe.Applet {
	card, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	a, err := iotsafe.Open(ctx, card, nil)
	if err != nil {
		log.Fatal(err)
	}
	return a
}

// Sign with a SIM key through crypto.Signer: the digest goes to the card,
// the signature comes back; the private key never leaves the SIM.
func ExampleNew() {
	ctx := context.Background()
	a := openSIM(ctx)
	defer a.Close()
	key, err := signer.New(ctx, a, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("meter reading 42 kWh"))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256) // ASN.1 DER, like ecdsa.SignASN1
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verifies:", ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig))
	// Output: verifies: true
}

// A tls.Config whose client certificate is the SIM's, with the key on the
// SIM: mutual TLS to a device cloud.
func ExampleKey_TLSCertificate() {
	ctx := context.Background()
	a := openSIM(ctx)
	defer a.Close()
	key, err := signer.New(ctx, a, iotsafe.ByID(0x01), nil)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := key.TLSCertificate(ctx) // the certificate of this key, read from the SIM
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	fmt.Println(len(cfg.Certificates), "client certificate; key on the SIM:", cert.PrivateKey == crypto.Signer(key))
	// Output: 1 client certificate; key on the SIM: true
}

// ECDH with the SIM's key-agreement key: the peer's public key goes into a
// public key slot of the card, the shared secret comes back.
func ExampleKeyAgreement_ECDH() {
	ctx := context.Background()
	a := openSIM(ctx)
	defer a.Close()
	ka, err := signer.NewKeyAgreement(ctx, a, iotsafe.ByLabel("ecdh-key"), iotsafe.ByID(0x05))
	if err != nil {
		log.Fatal(err)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	onCard, err := ka.ECDH(ctx, peer.PublicKey())
	if err != nil {
		log.Fatal(err)
	}
	atPeer, _ := peer.ECDH(ka.PublicKey())
	fmt.Println("same secret:", bytes.Equal(onCard, atPeer))
	// Output: same secret: true
}

// A certificate signing request for a SIM key, signed on the card: what
// zero-touch provisioning sends to the CA.
func ExampleCreateCSR() {
	ctx := context.Background()
	a := openSIM(ctx)
	defer a.Close()
	key, err := signer.New(ctx, a, iotsafe.ByLabel("device-key"), nil)
	if err != nil {
		log.Fatal(err)
	}
	der, err := signer.CreateCSR(key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-7"}, DNSNames: []string{"meter-7.devices.example"}})
	if err != nil {
		log.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	fmt.Println(csr.Subject.CommonName, csr.CheckSignature() == nil)
	// Output: meter-7 true
}
