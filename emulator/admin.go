package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-iotsafe/iotsafe/apdu"
	"github.com/go-iotsafe/iotsafe/internal/keys"
	"github.com/go-iotsafe/iotsafe/spec"
)

// AdminSession is a remote (over-the-air) administration session, the
// operator's path to the applet store, separate from the applet interface.
// While it runs, commands on the objects it touches answer 6984; its
// changes take effect at Commit, after which the next command of every
// card using the state file answers 63CF once.
type AdminSession struct {
	c       *Card
	changes []func(st *state) error
	done    bool
}

// ErrAdminInProgress is returned by BeginAdmin while another
// administration session runs on the same SIM.
var ErrAdminInProgress = fmt.Errorf("emulator: a remote administration session is already in progress")

// BeginAdmin starts an administration session. One runs at a time per SIM
// (per state file).
func (c *Card) BeginAdmin() (*AdminSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	sw := c.mutate(func(st *state) apdu.StatusWord {
		if st.Admin.alive() {
			err = fmt.Errorf("%w (started by process %d at %s)", ErrAdminInProgress, st.Admin.PID, st.Admin.Started)
			return apdu.SWConditionsNotSatisfied
		}
		if st.Admin != nil {
			c.log.Warn("emulator: an administration session whose process died is dropped (none of its changes were applied)",
				"pid", st.Admin.PID, "started", st.Admin.Started)
		}
		st.Admin = &adminMark{PID: os.Getpid(), Started: time.Now().UTC().Format(time.RFC3339), Objects: []string{},
			ProcStart: procStart(os.Getpid())}
		return apdu.SWSuccess
	})
	if err != nil {
		return nil, err
	}
	if sw != apdu.SWSuccess {
		return nil, fmt.Errorf("emulator: starting an administration session: state file update failed (%s)", sw)
	}
	return &AdminSession{c: c}, nil
}

// mark records that the session touches an object (so that the applet
// answers 6984 for it) and queues the change.
func (a *AdminSession) mark(k spec.ObjectKind, id []byte, change func(st *state) error) error {
	if a.done {
		return fmt.Errorf("emulator: administration session already ended")
	}
	if len(id) == 0 || len(id) > spec.MaxIDLen {
		return fmt.Errorf("emulator: object ID must be 1 to %d bytes", spec.MaxIDLen)
	}
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sw := c.mutate(func(st *state) apdu.StatusWord {
		if st.Admin == nil || st.Admin.PID != os.Getpid() {
			return apdu.SWConditionsNotSatisfied
		}
		st.Admin.Objects = append(st.Admin.Objects, objKey(k, id))
		return apdu.SWSuccess
	})
	if sw != apdu.SWSuccess {
		return fmt.Errorf("emulator: administration session lost (%s)", sw)
	}
	a.changes = append(a.changes, change)
	return nil
}

// PutFile creates or replaces a file (contents, usage, access conditions).
func (a *AdminSession) PutFile(id []byte, label string, usage, access byte, data []byte) error {
	if len(data) > 0xFFFF {
		return fmt.Errorf("emulator: file of %d bytes exceeds 65535", len(data))
	}
	if len(label) > spec.MaxLabelLen {
		return fmt.Errorf("emulator: label longer than %d bytes", spec.MaxLabelLen)
	}
	id = append([]byte(nil), id...)
	data = append([]byte(nil), data...)
	return a.mark(spec.KindFile, id, func(st *state) error {
		o := st.find(spec.KindFile, id)
		if o == nil {
			if st.count(spec.KindFile) >= maxFiles {
				return fmt.Errorf("emulator: the applet store holds %d files already", maxFiles)
			}
			o = &object{Kind: spec.KindFile, ID: id}
			st.Objects = append(st.Objects, o)
		}
		if label != "" {
			o.Label = label
		}
		o.FileUsage, o.Access, o.Value, o.Size = usage, access, data, len(data)
		o.State = spec.StateActivated
		return nil
	})
}

// KeySpec describes a key the operator creates.
type KeySpec struct {
	Functions byte   // spec.FuncSignature, FuncKeyAgreement, FuncKeyGeneration
	Usage     byte   // spec.KeyUsage*
	Hashes    uint16 // hashes a signing key allows; 0 means SHA-256, SHA-384 and SHA-512
}

// CreateKeyPair generates a P-256 key pair in the store under id (private
// and public key objects), replacing any key there.
func (a *AdminSession) CreateKeyPair(id []byte, label string, ks KeySpec) error {
	funcs, usage, hashes := ks.Functions, ks.Usage, ks.Hashes
	if hashes == 0 {
		hashes = spec.HashSHA256 | spec.HashSHA384 | spec.HashSHA512
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), a.c.rnd)
	if err != nil {
		return err
	}
	priv, _ := key.Bytes()
	pub, _ := key.PublicKey.Bytes()
	id = append([]byte(nil), id...)
	if err := a.mark(spec.KindPublicKey, id, func(*state) error { return nil }); err != nil {
		return err
	}
	return a.mark(spec.KindPrivateKey, id, func(st *state) error {
		for _, k := range []spec.ObjectKind{spec.KindPrivateKey, spec.KindPublicKey} {
			o := st.find(k, id)
			if o == nil {
				o = &object{Kind: k, ID: id}
				st.Objects = append(st.Objects, o)
			}
			o.Label, o.KeyType, o.KeyUsage, o.Funcs, o.State = label, spec.KeyTypeP256Persistent, usage, funcs, spec.StateActivated
			o.SigAlgs, o.HashAlgs, o.KeyAgreement = 0, 0, 0
			if funcs&spec.FuncSignature != 0 {
				o.SigAlgs, o.HashAlgs = spec.SigECDSA, hashes
			}
			if funcs&spec.FuncKeyAgreement != 0 {
				o.KeyAgreement = spec.KeyAgreementECKA
			}
			if k == spec.KindPrivateKey {
				o.Value, o.Access = priv, 0
				if funcs&spec.FuncKeyGeneration != 0 {
					o.Access = spec.AccessUpdate
				}
			} else {
				o.Value, o.Access = pub, spec.AccessRead
			}
		}
		return nil
	})
}

// PutSecret creates or replaces a secret key for PRF and HKDF.
func (a *AdminSession) PutSecret(id []byte, label string, secret []byte) error {
	if len(secret) == 0 || len(secret) > 255 {
		return fmt.Errorf("emulator: a secret must be 1 to 255 bytes")
	}
	id = append([]byte(nil), id...)
	secret = append([]byte(nil), secret...)
	return a.mark(spec.KindSecretKey, id, func(st *state) error {
		o := st.find(spec.KindSecretKey, id)
		if o == nil {
			if st.count(spec.KindSecretKey) >= maxSecretKeys {
				return fmt.Errorf("emulator: the applet store holds %d secret keys already", maxSecretKeys)
			}
			o = &object{Kind: spec.KindSecretKey, ID: id}
			st.Objects = append(st.Objects, o)
		}
		o.Label, o.Value, o.State, o.KeyType = label, secret, spec.StateActivated, spec.KeyTypeHMAC
		o.Funcs, o.KDF = spec.FuncKeyDerivation, spec.KDFPRFSHA256|spec.KDFHKDF
		return nil
	})
}

// DeactivateKey deactivates a key (the device can no longer use it) and
// wipes its value; the container stays. For a private key, the public key
// of the same ID is deactivated too.
func (a *AdminSession) DeactivateKey(k spec.ObjectKind, id []byte) error {
	if k == spec.KindFile {
		return fmt.Errorf("emulator: DeactivateKey takes a key kind, not a file")
	}
	id = append([]byte(nil), id...)
	return a.mark(k, id, func(st *state) error {
		o := st.find(k, id)
		if o == nil {
			return fmt.Errorf("emulator: no %s %X", k, id)
		}
		o.State, o.Value = spec.StateDeactivated, nil
		if k == spec.KindPrivateKey {
			if p := st.find(spec.KindPublicKey, id); p != nil {
				p.State, p.Value = spec.StateDeactivated, nil
			}
		}
		return nil
	})
}

// DeleteObject removes an object from the store (for a private key, the
// public key of the same ID goes too).
func (a *AdminSession) DeleteObject(k spec.ObjectKind, id []byte) error {
	id = append([]byte(nil), id...)
	return a.mark(k, id, func(st *state) error {
		if st.find(k, id) == nil {
			return fmt.Errorf("emulator: no %s %X", k, id)
		}
		keep := st.Objects[:0]
		for _, o := range st.Objects {
			drop := o.Kind == k && string(o.ID) == string(id)
			drop = drop || (k == spec.KindPrivateKey && o.Kind == spec.KindPublicKey && string(o.ID) == string(id))
			if !drop {
				keep = append(keep, o)
			}
		}
		st.Objects = keep
		return nil
	})
}

// Commit applies the session's changes, ends it, and arms 63CF for every
// card using this SIM. When a change fails nothing is applied and the
// session stays open (Abort ends it).
func (a *AdminSession) Commit() error {
	if a.done {
		return fmt.Errorf("emulator: administration session already ended")
	}
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var cerr error
	sw := c.mutate(func(st *state) apdu.StatusWord {
		if st.Admin == nil || st.Admin.PID != os.Getpid() {
			cerr = errors.New("emulator: administration session lost (another session replaced it)")
			return apdu.SWConditionsNotSatisfied
		}
		for _, ch := range a.changes {
			if err := ch(st); err != nil {
				cerr = err
				return apdu.SWConditionsNotSatisfied
			}
		}
		st.Admin = nil
		st.AdminGen++
		return apdu.SWSuccess
	})
	if cerr != nil {
		return cerr
	}
	if sw != apdu.SWSuccess {
		return fmt.Errorf("emulator: committing the administration session failed (%s)", sw)
	}
	a.done = true
	c.keys = map[string]crypto.Signer{}
	return nil
}

// Abort ends the session without applying its changes.
func (a *AdminSession) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sw := c.mutate(func(st *state) apdu.StatusWord {
		st.Admin = nil
		return apdu.SWSuccess
	})
	if sw != apdu.SWSuccess {
		return fmt.Errorf("emulator: aborting the administration session failed (%s)", sw)
	}
	return nil
}

// PutPublicKey creates or replaces a P-256 public key object the device
// may read and verify with but not update (no update access): a key the
// device's software cannot be made to replace, such as a firmware
// vendor's. PutPublicKeyOf does the same for every key type.
func (a *AdminSession) PutPublicKey(id []byte, label string, point []byte) error {
	if !pointOnP256(point) {
		return fmt.Errorf("emulator: the public key must be an uncompressed P-256 point")
	}
	pub, err := keys.ECPublic(spec.KeyKindP256, point)
	if err != nil {
		return err
	}
	return a.PutPublicKeyOf(id, label, pub)
}

// PutPublicKeyOf is PutPublicKey for a key of any IoT SAFE type: P-256 or
// brainpoolP256r1 (*ecdsa.PublicKey, ECDSA) or RSA-2048 (*rsa.PublicKey,
// PKCS#1 v1.5 and PSS), with SHA-256, SHA-384 and SHA-512.
func (a *AdminSession) PutPublicKeyOf(id []byte, label string, pub crypto.PublicKey) error {
	kind := keys.KindOf(pub)
	var value hexBytes
	switch kind {
	case spec.KeyKindP256, spec.KeyKindBrainpoolP256:
		value = keys.ECPoint(pub.(*ecdsa.PublicKey))
	case spec.KeyKindRSA2048:
		value = x509.MarshalPKCS1PublicKey(pub.(*rsa.PublicKey))
	default:
		return fmt.Errorf("emulator: a public key must be P-256, brainpoolP256r1 or RSA-2048, not %T", pub)
	}
	keyType, algs := kind.KeyType(), kind.SigAlgsFor()
	id = append([]byte(nil), id...)
	return a.mark(spec.KindPublicKey, id, func(st *state) error {
		o := st.find(spec.KindPublicKey, id)
		if o == nil {
			if st.count(spec.KindPublicKey) >= maxPublicKeys {
				return fmt.Errorf("emulator: the applet store holds %d public keys already", maxPublicKeys)
			}
			o = &object{Kind: spec.KindPublicKey, ID: id}
			st.Objects = append(st.Objects, o)
		}
		o.Label, o.Value, o.State, o.Access = label, value, spec.StateActivated, spec.AccessRead
		o.KeyType, o.Funcs, o.SigAlgs = keyType, spec.FuncSignature, algs
		o.HashAlgs = spec.HashSHA256 | spec.HashSHA384 | spec.HashSHA512
		return nil
	})
}
