package pkcs11mod

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// TokenSerial returns the serial number this library gives the token of
// the applet: 16 hex digits of a hash of the applet's AID and identifier.
// Naming a token costs no read of a key or file, so that a program that
// signs once and exits (curl, openssl, pkcs11-tool) pays only the commands
// its signature needs. The serial names the applet, not the SIM: two SIMs
// with the same applet share it, and the host-side objects kept under it
// are bound to their SIM (a certificate to its key's public key, anything
// else to the SIM's factory key), so another SIM does not see them.
func TokenSerial(ctx context.Context, a *iotsafe.Applet) (string, error) {
	info, err := a.ApplicationInfo(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(a.AID())
	h.Write(info.AppletID)
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:8])), nil
}

// CertStore puts certificates for SIM keys into the host-side store of the
// SIM's token, where the PKCS#11 library shows them as token objects
// (CKO_CERTIFICATE, CKC_X_509) with the CKA_ID and CKA_LABEL of the key
// pair they certify: the delivery path for devices whose operator cannot
// write the SIM's certificate files. It implements provision.CertStore.
type CertStore struct {
	// Root is the store directory (Config.Store; LoadConfig finds the
	// library's).
	Root string
	// Applet is the SIM; its token serial names the store.
	Applet *iotsafe.Applet
	// HexIDs writes CKA_ID as hex text, for a slot configured with hex-ids.
	HexIDs bool
}

func (c *CertStore) open(ctx context.Context) (*Store, error) {
	if c.Applet == nil {
		return nil, errors.New("pkcs11 certificate store: no applet")
	}
	serial, err := TokenSerial(ctx, c.Applet)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 certificate store: identifying the token: %w", err)
	}
	return OpenStore(c.Root, serial)
}

func (c *CertStore) ckaID(keyID []byte) []byte {
	if c.HexIDs {
		return []byte(strings.ToUpper(hex.EncodeToString(keyID)))
	}
	return bytes.Clone(keyID)
}

// find returns the stored certificate objects with this CKA_ID that
// certify the key the SIM holds under it now (the store may hold
// certificates of another SIM with the same applet, or of a replaced key).
func (c *CertStore) find(ctx context.Context, st *Store, keyID []byte) ([]StoredObject, error) {
	d, perr := c.Applet.ReadPublicKeyData(ctx, iotsafe.ByID(keyID...))
	point := pubDataID(d)
	objs, err := st.List()
	var out []StoredObject
	for _, o := range objs {
		if cls, _ := getUlong(o.Attrs[CKA_CLASS]); cls == CKO_CERTIFICATE && bytes.Equal(o.Attrs[CKA_ID], c.ckaID(keyID)) &&
			perr == nil && bytes.Equal(o.Attrs[ckaBoundKey], point) {
			out = append(out, o)
		}
	}
	return out, err
}

// PutCertificate stores cert for the key pair keyID (labelled label) and
// then removes the certificates stored for that key before, so that there
// is always one in place.
func (c *CertStore) PutCertificate(ctx context.Context, keyID []byte, label string, cert *x509.Certificate) error {
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	old, _ := c.find(ctx, st, keyID)
	at := storageAttrs(CKO_CERTIFICATE, true, false, true, true, label)
	at[CKA_ID] = c.ckaID(keyID)
	certAttrs(at, cert)
	if p := certPoint(cert.Raw); p != nil {
		at[ckaBoundKey] = p
	}
	if _, err := st.Put(at); err != nil {
		return fmt.Errorf("pkcs11 certificate store: %w", err)
	}
	for _, o := range old {
		if err := st.Delete(o.Name); err != nil {
			return fmt.Errorf("pkcs11 certificate store: the new certificate is stored, but removing the old one failed: %w", err)
		}
	}
	return nil
}

// Certificate returns the certificate stored for the key pair keyID.
func (c *CertStore) Certificate(ctx context.Context, keyID []byte) (*x509.Certificate, error) {
	st, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := c.find(ctx, st, keyID)
	if len(objs) == 0 {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("pkcs11 certificate store: no certificate for key %X", keyID)
	}
	return bpx509.ParseCertificate(objs[len(objs)-1].Attrs[CKA_VALUE])
}
