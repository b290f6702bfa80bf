package estserver

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
	"github.com/go-iotsafe/iotsafe/internal/bpx509"
)

// The files a persistent CA keeps in its directory.
const (
	caCertFile  = "ca.pem"
	caKeyFile   = "ca-key.pem"
	caStateFile = "ca-state.json"
)

type caState struct {
	Revoked map[string]time.Time `json:"revoked"`
	Issued  map[string][]byte    `json:"issued"` // serial -> DER
	CRLNum  int64                `json:"crl_number"`
	// Supersedes: renewed serial -> the serial it replaced, until revoked.
	Supersedes map[string]string `json:"supersedes,omitempty"`
	// EnrolledBy: serial -> the enrolment identity that obtained it (see
	// identity.key), inherited by renewals.
	EnrolledBy map[string]string `json:"enrolled_by,omitempty"`
}

// LoadOrCreateCA opens the CA kept in dir (ca.pem, ca-key.pem mode 0600,
// ca-state.json), creating it with commonName when dir holds none. Changes
// (issuance, revocation) are saved by Save.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if errors.Is(err, os.ErrNotExist) {
		ca, err := NewCA(commonName)
		if err != nil {
			return nil, err
		}
		ca.dir = dir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(ca.key.(*ecdsa.PrivateKey))
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, caCertFile), ca.CertPEM(), 0o644); err != nil {
			return nil, err
		}
		return ca, ca.Save()
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, caCertFile))
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caCertFile), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", filepath.Join(dir, caKeyFile))
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caKeyFile), err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not hold the key of %s", caKeyFile, caCertFile)
	}
	ca := &CA{Cert: cert, key: key, revoked: map[string]time.Time{}, issued: map[string]*x509.Certificate{},
		supersedes: map[string]string{}, enrolledBy: map[string]string{}, Validity: 365 * 24 * time.Hour, dir: dir}
	sb, err := os.ReadFile(filepath.Join(dir, caStateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		var st caState
		if err := json.Unmarshal(sb, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caStateFile), err)
		}
		for s, t := range st.Revoked {
			ca.revoked[s] = t
		}
		for s, der := range st.Issued {
			c, err := bpx509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%s: issued certificate %s: %w", caStateFile, s, err)
			}
			ca.issued[s] = c
		}
		ca.crlNum = st.CRLNum
		for n, o := range st.Supersedes {
			ca.supersedes[n] = o
		}
		for n, k := range st.EnrolledBy {
			ca.enrolledBy[n] = k
		}
	}
	return ca, nil
}

// Save writes the CA's issuance and revocation records to its directory.
// It does nothing for a CA made by NewCA.
func (ca *CA) Save() error {
	if ca.dir == "" {
		return nil
	}
	ca.mu.Lock()
	st := caState{Revoked: map[string]time.Time{}, Issued: map[string][]byte{}, CRLNum: ca.crlNum, Supersedes: map[string]string{}, EnrolledBy: map[string]string{}}
	for n, o := range ca.supersedes {
		st.Supersedes[n] = o
	}
	for n, k := range ca.enrolledBy {
		st.EnrolledBy[n] = k
	}
	for s, t := range ca.revoked {
		st.Revoked[s] = t
	}
	for s, c := range ca.issued {
		st.Issued[s] = c.Raw
	}
	ca.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(ca.dir, caStateFile), b, 0o600)
}

// Issued returns the certificate issued with this serial, if any.
func (ca *CA) Issued(serial *big.Int) *x509.Certificate {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.issued[serial.String()]
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}
