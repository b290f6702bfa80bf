// Package operator stands in for a mobile operator's over-the-air (OTA)
// administration platform in front of the software SIM: it implements
// provision.Operator with emulator administration sessions on the SIM's
// state file, and removes credentials remotely. A deployed fleet uses its
// operator's platform instead.
package operator

import (
	"context"
	"fmt"

	"github.com/go-iotsafe/iotsafe/emulator"
	"github.com/go-iotsafe/iotsafe/spec"
)

// Emulator administers the software SIM kept in a state file.
type Emulator struct {
	// Path is the SIM's state file.
	Path string
}

// Session runs fn in one administration session on the SIM: committed when
// fn succeeds, aborted when it fails.
func (e *Emulator) Session(fn func(s *emulator.AdminSession) error) error {
	card, err := emulator.Open(e.Path, emulator.Options{})
	if err != nil {
		return err
	}
	defer card.Close()
	s, err := card.BeginAdmin()
	if err != nil {
		return err
	}
	if err := fn(s); err != nil {
		s.Abort()
		return err
	}
	return s.Commit()
}

// PutCertificate writes a certificate file (readable, certificate usage).
func (e *Emulator) PutCertificate(_ context.Context, fileID []byte, label string, der []byte) error {
	return e.Session(func(s *emulator.AdminSession) error {
		return s.PutFile(fileID, label, spec.FileUsageCertificate, spec.AccessRead, der)
	})
}

// DeleteFile removes a file.
func (e *Emulator) DeleteFile(_ context.Context, fileID []byte) error {
	return e.Session(func(s *emulator.AdminSession) error { return s.DeleteObject(spec.KindFile, fileID) })
}

// RemoveCredential deactivates a key pair and deletes its certificate
// files: the remote credential removal of a suspected compromised device.
func (e *Emulator) RemoveCredential(_ context.Context, keyID []byte, certFiles ...[]byte) error {
	return e.Session(func(s *emulator.AdminSession) error {
		if err := s.DeactivateKey(spec.KindPrivateKey, keyID); err != nil {
			return err
		}
		for _, f := range certFiles {
			if err := s.DeleteObject(spec.KindFile, f); err != nil {
				return fmt.Errorf("deleting certificate file %X: %w", f, err)
			}
		}
		return nil
	})
}
