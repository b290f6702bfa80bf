package emulator

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
	"github.com/go-iotsafe/iotsafe/internal/flock"
	"github.com/go-iotsafe/iotsafe/spec"
)

// The state file's format marker and version.
const (
	stateFormat  = "go-iotsafe-emulator"
	stateVersion = 1
)

// ErrStateFile is matched by errors about the state file: missing, corrupt,
// foreign, or in use.
var ErrStateFile = errors.New("emulator: state file")

func errorf(format string, args ...any) error { return fmt.Errorf("emulator: "+format, args...) }

// hexBytes marshals as a hex string in the state file.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

// object is one object of the applet store. For keys Value holds the
// private scalar (private key), the uncompressed point (public key) or the
// secret (secret key); for files the contents.
type object struct {
	Kind         spec.ObjectKind `json:"kind"`
	ID           hexBytes        `json:"id"`
	Label        string          `json:"label,omitempty"`
	Access       byte            `json:"access"`
	State        byte            `json:"state"`
	KeyType      byte            `json:"key_type,omitempty"`
	KeyUsage     byte            `json:"key_usage,omitempty"`
	Funcs        byte            `json:"functions,omitempty"`
	SigAlgs      byte            `json:"signature_algorithms,omitempty"`
	HashAlgs     uint16          `json:"hash_algorithms,omitempty"`
	KeyAgreement byte            `json:"key_agreement,omitempty"`
	KDF          byte            `json:"key_derivation,omitempty"`
	FileUsage    byte            `json:"file_usage,omitempty"`
	Size         int             `json:"size,omitempty"` // files: fixed size
	Value        hexBytes        `json:"value,omitempty"`
}

func (o *object) key() string { return objKey(o.Kind, o.ID) }

func objKey(k spec.ObjectKind, id []byte) string { return fmt.Sprintf("%02X/%X", byte(k), id) }

func (o *object) active() bool { return o.State == spec.StateActivated }

// adminMark is an administration session in progress.
type adminMark struct {
	PID     int      `json:"pid"`
	Started string   `json:"started"`
	Objects []string `json:"objects"` // objKey of objects being administered
	// ProcStart is the kernel's start time of process PID (field 22 of
	// /proc/PID/stat), so that a reused PID is not taken for the owner.
	ProcStart string `json:"proc_start,omitempty"`
}

// procStart returns the start time of process pid, "" when unknown.
func procStart(pid int) string {
	_, start := procStat(pid)
	return start
}

// procStat returns the state (field 3 of /proc/PID/stat: R, S, D, Z, X,
// ...) and the start time (field 22) of process pid, "" when unknown.
func procStat(pid int) (state, start string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", ""
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", ""
	}
	return f[0], f[19]
}

// alive reports whether the process that started the administration
// session still runs. A session whose process died (killed mid-session) is
// stale: its changes were never applied (they take effect only at Commit,
// in one state write), so it is ignored and may be replaced.
func (m *adminMark) alive() bool {
	if m == nil {
		return false
	}
	if m.PID == os.Getpid() {
		return true
	}
	if m.PID <= 0 || !processExists(m.PID) {
		return false
	}
	st, now := procStat(m.PID)
	if st == "Z" || st == "X" {
		return false // killed or exited, not yet reaped by its parent
	}
	if m.ProcStart != "" && now != "" && now != m.ProcStart {
		return false // the PID now belongs to another process
	}
	return true
}

// state is everything the state file holds.
type state struct {
	Format   string     `json:"format"`
	Version  int        `json:"version"`
	Profile  Profile    `json:"profile"`
	Variant  Variant    `json:"variant"`
	Serial   hexBytes   `json:"serial"`
	Objects  []*object  `json:"objects"`
	Admin    *adminMark `json:"admin,omitempty"`
	AdminGen uint64     `json:"admin_generation"`
}

func (s *state) find(k spec.ObjectKind, id []byte) *object {
	for _, o := range s.Objects {
		if o.Kind == k && bytes.Equal(o.ID, id) {
			return o
		}
	}
	return nil
}

func (s *state) findLabel(k spec.ObjectKind, label string) *object {
	for _, o := range s.Objects {
		if o.Kind == k && o.Label == label {
			return o
		}
	}
	return nil
}

func (s *state) count(k spec.ObjectKind) int {
	n := 0
	for _, o := range s.Objects {
		if o.Kind == k {
			n++
		}
	}
	return n
}

func (s *state) clone() *state {
	b, _ := json.Marshal(s)
	var c state
	_ = json.Unmarshal(b, &c)
	return &c
}

// Capacity of the applet store, advertised in the application information.
const (
	maxFiles       = 8
	maxPrivateKeys = 8
	maxPublicKeys  = 8
	maxSecretKeys  = 4
)

func padID(id byte, n int) hexBytes {
	b := make([]byte, n)
	b[n-1] = id
	return b
}

// factoryState builds the factory layout (see the package documentation).
func factoryState(p Profile, v Variant, rnd io.Reader) (*state, error) {
	serial := make([]byte, 10)
	if _, err := io.ReadFull(rnd, serial); err != nil {
		return nil, err
	}
	s := &state{Format: stateFormat, Version: stateVersion, Profile: p, Variant: v, Serial: serial}
	id := func(b byte) hexBytes { return padID(b, v.IDLen) }
	allHashes := spec.HashSHA256 | spec.HashSHA384 | spec.HashSHA512

	signKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	signPub, _ := signKey.PublicKey.Bytes()
	signPriv, _ := signKey.Bytes()
	dhKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	dhPub, _ := dhKey.PublicKey.Bytes()
	dhPriv, _ := dhKey.Bytes()
	psk := make([]byte, 32)
	if _, err := io.ReadFull(rnd, psk); err != nil {
		return nil, err
	}
	cert, caCert, err := factoryCertificates(signKey, serial, rnd)
	if err != nil {
		return nil, err
	}
	data := make([]byte, 512)
	copy(data, "go-iotsafe emulator data file\n")

	keyPair := func(b byte, label string, funcs, usage byte, priv, pub []byte) []*object {
		return typedKeyPair(id(b), label, spec.KeyTypeP256Persistent, funcs, usage, priv, pub)
	}
	s.Objects = append(s.Objects, keyPair(0x01, "device-key", spec.FuncSignature, spec.KeyUsageTLS13, signPriv, signPub)...)
	s.Objects = append(s.Objects, keyPair(0x02, "ztp-key", spec.FuncSignature|spec.FuncKeyGeneration, spec.KeyUsageTLS13, nil, nil)...)
	s.Objects = append(s.Objects, keyPair(0x04, "ecdh-key", spec.FuncKeyAgreement|spec.FuncKeyGeneration, spec.KeyUsageGeneral, dhPriv, dhPub)...)
	s.Objects = append(s.Objects,
		&object{Kind: spec.KindPublicKey, ID: id(0x05), Label: "peer-key", Access: spec.AccessRead | spec.AccessUpdate,
			State: spec.StateDeactivated, KeyType: spec.KeyTypeP256Volatile, KeyUsage: spec.KeyUsageGeneral,
			Funcs: spec.FuncKeyAgreement | spec.FuncSignature, SigAlgs: spec.SigECDSA, HashAlgs: allHashes, KeyAgreement: spec.KeyAgreementECKA},
		&object{Kind: spec.KindSecretKey, ID: id(0x06), Label: "psk", Access: 0, State: spec.StateActivated,
			KeyType: spec.KeyTypeHMAC, Funcs: spec.FuncKeyDerivation, KDF: spec.KDFPRFSHA256 | spec.KDFHKDF, Value: psk},
		&object{Kind: spec.KindFile, ID: id(0x02), Label: "device-cert", Access: spec.AccessRead, State: spec.StateActivated,
			FileUsage: spec.FileUsageCertificate, Size: len(cert), Value: cert},
		&object{Kind: spec.KindFile, ID: id(0x03), Label: "ca-cert", Access: spec.AccessRead, State: spec.StateActivated,
			FileUsage: spec.FileUsageCertificate, Size: len(caCert), Value: caCert},
		&object{Kind: spec.KindFile, ID: id(0x10), Label: "data", Access: spec.AccessRead | spec.AccessUpdate, State: spec.StateActivated,
			FileUsage: spec.FileUsageGeneral, Size: len(data), Value: data},
	)
	if p == ProfileThalesMVP {
		// The Thales PKCS#11 module reads the public key of every private
		// key container it lists and dereferences the result whatever the
		// card answered (docs/foreign-hosts.md): an empty container kills
		// its host. So this profile ships container 02 filled, as after a
		// first key generation; generating again needs --replace.
		ztpPriv, ztpPub, err := genKey(rnd, spec.KeyTypeP256Persistent)
		if err != nil {
			return nil, err
		}
		for _, o := range s.Objects {
			if (o.Kind == spec.KindPrivateKey || o.Kind == spec.KindPublicKey) && bytes.Equal(o.ID, id(0x02)) {
				o.State = spec.StateActivated
				if o.Kind == spec.KindPrivateKey {
					o.Value = ztpPriv
				} else {
					o.Value = ztpPub
				}
			}
		}
	}
	if p == ProfileKeyTypes {
		// The optional key types, filled at the factory: RSA-2048 in
		// container 07, brainpoolP256r1 in container 08.
		rsaPriv, rsaPub, err := genKey(rnd, spec.KeyTypeRSA2048)
		if err != nil {
			return nil, err
		}
		bpPriv, bpPub, err := genKey(rnd, spec.KeyTypeBrainpoolPersistent)
		if err != nil {
			return nil, err
		}
		s.Objects = append(s.Objects, typedKeyPair(id(0x07), "rsa-key", spec.KeyTypeRSA2048,
			spec.FuncSignature|spec.FuncKeyGeneration, spec.KeyUsageTLS13, rsaPriv, rsaPub)...)
		s.Objects = append(s.Objects, typedKeyPair(id(0x08), "brainpool-key", spec.KeyTypeBrainpoolPersistent,
			spec.FuncSignature|spec.FuncKeyAgreement|spec.FuncKeyGeneration, spec.KeyUsageTLS13, bpPriv, bpPub)...)
		s.Objects = append(s.Objects, &object{Kind: spec.KindPublicKey, ID: id(0x09), Label: "brainpool-peer-key",
			Access: spec.AccessRead | spec.AccessUpdate, State: spec.StateDeactivated, KeyType: spec.KeyTypeBrainpoolVolatile,
			KeyUsage: spec.KeyUsageGeneral, Funcs: spec.FuncKeyAgreement | spec.FuncSignature, SigAlgs: spec.SigECDSA,
			HashAlgs: allHashes, KeyAgreement: spec.KeyAgreementECKA})
	}
	return s, nil
}

// typedKeyPair returns a private and a public key object of one container
// (deactivated when priv is nil).
func typedKeyPair(id hexBytes, label string, keyType, funcs, usage byte, priv, pub []byte) []*object {
	state := spec.StateDeactivated
	if priv != nil {
		state = spec.StateActivated
	}
	common := object{ID: id, Label: label, KeyType: keyType, KeyUsage: usage, Funcs: funcs, State: state}
	if funcs&spec.FuncSignature != 0 {
		common.SigAlgs = spec.KindOfKeyType(keyType).SigAlgsFor()
		common.HashAlgs = spec.HashSHA256 | spec.HashSHA384 | spec.HashSHA512
	}
	if funcs&spec.FuncKeyAgreement != 0 {
		common.KeyAgreement = spec.KeyAgreementECKA
	}
	pr, pu := common, common
	pr.Kind, pr.Access, pr.Value = spec.KindPrivateKey, spec.AccessUpdate, priv
	pu.Kind, pu.Access, pu.Value = spec.KindPublicKey, spec.AccessRead|spec.AccessUpdate, pub
	if funcs&spec.FuncKeyGeneration == 0 {
		pr.Access, pu.Access = 0, spec.AccessRead
	}
	return []*object{&pr, &pu}
}

// factoryCertificates issues the device certificate for key 01 from a
// throw-away factory CA whose private key is discarded.
func factoryCertificates(dev *ecdsa.PrivateKey, serial []byte, rnd io.Reader) (cert, caCert []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial), Subject: pkix.Name{CommonName: "go-iotsafe emulator factory CA", Organization: []string{"go-iotsafe"}},
		NotBefore: now, NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caCert, err = x509.CreateCertificate(rnd, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, _ := x509.ParseCertificate(caCert)
	devTmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Add(new(big.Int).SetBytes(serial), big.NewInt(1)),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("go-iotsafe emulator device %X", serial), Organization: []string{"go-iotsafe"}},
		NotBefore:    now, NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames: []string{fmt.Sprintf("%x.devices.go-iotsafe.invalid", serial)},
	}
	cert, err = x509.CreateCertificate(rnd, devTmpl, ca, dev.Public(), caKey)
	return cert, caCert, err
}

// ---- persistence ----

type stamp struct {
	mtime int64
	size  int64
	ino   uint64
}

func statStamp(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	st := stamp{mtime: fi.ModTime().UnixNano(), size: fi.Size()}
	st.ino = inode(fi)
	return st, nil
}

// fileStore is the state file with its lock file (path + ".lock"), which
// serializes writers and lets readers load a consistent file.
type fileStore struct {
	path string
	lock *os.File
}

func openStore(path string) (*fileStore, error) {
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w %s: lock file: %v", ErrStateFile, path, err)
	}
	return &fileStore{path: path, lock: lf}, nil
}

// flock takes lock how (lockSH, lockEX) on the lock file, blocking, or
// releases it (lockUN).
func (f *fileStore) flock(how int) error {
	if how == lockUN {
		return flock.Unlock(f.lock)
	}
	return flock.Lock(f.lock, how)
}

func (f *fileStore) close() error { return f.lock.Close() }

// load reads and checks the state file.
func (f *fileStore) load() (*state, stamp, error) {
	st, err := statStamp(f.path)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("%w %s: %v", ErrStateFile, f.path, err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("%w %s: %v", ErrStateFile, f.path, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, stamp{}, fmt.Errorf("%w %s is corrupt or not a go-iotsafe emulator state file: %v", ErrStateFile, f.path, err)
	}
	if s.Format != stateFormat {
		return nil, stamp{}, fmt.Errorf("%w %s is not a go-iotsafe emulator state file (format %q)", ErrStateFile, f.path, s.Format)
	}
	if s.Version != stateVersion {
		return nil, stamp{}, fmt.Errorf("%w %s has version %d; this program reads version %d", ErrStateFile, f.path, s.Version, stateVersion)
	}
	if err := s.Variant.validate(); err != nil {
		return nil, stamp{}, fmt.Errorf("%w %s: %v", ErrStateFile, f.path, err)
	}
	for i, o := range s.Objects {
		if o == nil || len(o.ID) == 0 || len(o.ID) > spec.MaxIDLen || len(o.Label) > spec.MaxLabelLen {
			return nil, stamp{}, fmt.Errorf("%w %s: object %d is invalid", ErrStateFile, f.path, i)
		}
	}
	return &s, st, nil
}

// save writes s atomically: a temporary file in the same directory, fsync,
// rename, fsync of the directory; mode 0600. Callers hold the exclusive lock.
func (f *fileStore) save(s *state) (stamp, error) {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return stamp{}, err
	}
	// Writers hold the exclusive lock: a temporary file now is a leftover
	// of a killed writer, with a superseded copy of the keys.
	_ = atomicfile.RemoveStale(f.path)
	if err := atomicfile.Write(f.path, b, 0o600); err != nil {
		return stamp{}, fmt.Errorf("%w %s: %v", ErrStateFile, f.path, err)
	}
	return statStamp(f.path)
}

// pointOnP256 reports whether p is an uncompressed point on P-256.
func pointOnP256(p []byte) bool {
	_, err := ecdh.P256().NewPublicKey(p)
	return err == nil && len(p) == spec.P256PointLen
}
