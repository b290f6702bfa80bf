package pkcs11mod

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
)

// The directory cache (Config.DirectoryCache) keeps, per slot, the card's
// answers that describe its applet store (iotsafe.Directory) in the store
// root's directory-cache subdirectory, one file per SIM URI. It is read as
// every store file is: a regular file of this user that nobody else can
// write, in directories likewise; anything else is ignored.
const dirCacheDir = "directory-cache"

// dirCacheFile is the JSON form of a kept directory.
type dirCacheFile struct {
	Saved      int64             `json:"saved"` // Unix seconds
	AID        string            `json:"aid"`
	AppInfo    string            `json:"app_info"`
	ObjectList string            `json:"object_list"`
	PublicKeys map[string]string `json:"public_keys"`
}

// dirCachePath is the file of the slot on this SIM URI.
func dirCachePath(root, sim string) string {
	h := sha256.Sum256([]byte(sim))
	return filepath.Join(root, dirCacheDir, hex.EncodeToString(h[:16])+".json")
}

// errDirExpired reports a kept directory older than the configured age.
var errDirExpired = errors.New("directory cache: expired")

// readDirCache returns the slot's kept directory when it is at most maxAge
// old; os.ErrNotExist when there is none.
func readDirCache(root, sim string, maxAge time.Duration, now time.Time) (iotsafe.Directory, error) {
	p := dirCachePath(root, sim)
	if _, err := os.Lstat(p); err != nil {
		return iotsafe.Directory{}, err
	}
	for _, d := range []string{root, filepath.Dir(p)} {
		if err := checkOwned(d, true); err != nil {
			return iotsafe.Directory{}, err
		}
	}
	b, err := readOwned(p)
	if err != nil {
		return iotsafe.Directory{}, err
	}
	var f dirCacheFile
	if err := json.Unmarshal(b, &f); err != nil {
		return iotsafe.Directory{}, fmt.Errorf("directory cache %s: %w", p, err)
	}
	age := now.Sub(time.Unix(f.Saved, 0))
	if age < -time.Minute || age > maxAge {
		return iotsafe.Directory{}, errDirExpired
	}
	d := iotsafe.Directory{PublicKeys: map[string][]byte{}}
	fields := []struct {
		v   string
		dst *[]byte
	}{{f.AID, &d.AID}, {f.AppInfo, &d.AppInfo}, {f.ObjectList, &d.ObjectList}}
	for _, x := range fields {
		if *x.dst, err = hex.DecodeString(x.v); err != nil {
			return iotsafe.Directory{}, fmt.Errorf("directory cache %s: %w", p, err)
		}
	}
	for k, v := range f.PublicKeys {
		if d.PublicKeys[k], err = hex.DecodeString(v); err != nil {
			return iotsafe.Directory{}, fmt.Errorf("directory cache %s: %w", p, err)
		}
	}
	if len(d.AID) == 0 || len(d.AppInfo) == 0 || len(d.ObjectList) == 0 {
		return iotsafe.Directory{}, fmt.Errorf("directory cache %s: incomplete", p)
	}
	return d, nil
}

// writeDirCache keeps d as the slot's directory (0600, atomically), in
// directories of this user that nobody else can write.
func writeDirCache(root, sim string, d iotsafe.Directory, now time.Time) error {
	p := dirCachePath(root, sim)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	for _, dir := range []string{root, filepath.Dir(p)} {
		if err := checkOwned(dir, true); err != nil {
			return err
		}
	}
	f := dirCacheFile{
		Saved: now.Unix(), AID: hex.EncodeToString(d.AID),
		AppInfo: hex.EncodeToString(d.AppInfo), ObjectList: hex.EncodeToString(d.ObjectList),
		PublicKeys: map[string]string{},
	}
	for k, v := range d.PublicKeys {
		f.PublicKeys[k] = hex.EncodeToString(v)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}

// loadDirectory gives a freshly opened applet the slot's kept directory,
// when the cache is on and one is there. Called with s.mu held.
func (s *slot) loadDirectory(a *iotsafe.Applet) {
	s.dirLoaded, s.dirVerified = false, false
	cfg := s.m.cfg
	if cfg.DirectoryCache <= 0 || cfg.Store == "" {
		return
	}
	d, err := readDirCache(cfg.Store, s.cfg.SIM, cfg.DirectoryCache, time.Now())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return
	case errors.Is(err, errDirExpired):
		s.m.log.Debug("iotsafe-pkcs11: directory cache expired; reading the SIM", "slot", s.id)
		return
	case err != nil:
		s.m.log.Warn("iotsafe-pkcs11: directory cache not used", "slot", s.id, "err", err)
		return
	}
	if err := a.LoadDirectory(d); err != nil {
		s.m.log.Warn("iotsafe-pkcs11: directory cache not used", "slot", s.id, "err", err)
		return
	}
	s.dirLoaded, s.dirGen = true, a.Generation()
	s.m.log.Debug("iotsafe-pkcs11: directory from the cache; checked against the certificate files when they are listed", "slot", s.id)
}

// dropDirectory removes the slot's kept directory: what it describes is
// no longer the card's. Called with s.mu held.
func (s *slot) dropDirectory(why string) {
	loaded := s.dirLoaded
	s.dirLoaded, s.dirVerified = false, false
	cfg := s.m.cfg
	if cfg.DirectoryCache <= 0 || cfg.Store == "" {
		return
	}
	p := dirCachePath(cfg.Store, s.cfg.SIM)
	if err := os.Remove(p); err == nil || loaded {
		s.m.log.Info("iotsafe-pkcs11: directory cache dropped", "slot", s.id, "why", why)
	}
}

// saveDirectory keeps the applet's directory (application information,
// object list, the public keys read, which completeObjects makes every
// key's) when the cache is on and the next process can check it:
// checkable says that a certificate file of the card certifies one of its
// keys and is in the certificate cache, so that its tail tells this SIM
// from another. Called with s.mu held at the end of completeObjects.
func (s *slot) saveDirectory(checkable bool) {
	cfg := s.m.cfg
	if cfg.DirectoryCache <= 0 || cfg.Store == "" || s.applet == nil || (s.dirLoaded && s.dirVerified) {
		return
	}
	if !checkable {
		s.m.log.Debug("iotsafe-pkcs11: directory not cached: no certificate file of the SIM can check it", "slot", s.id)
		return
	}
	d := s.applet.Directory()
	if d.AppInfo == nil || d.ObjectList == nil {
		return
	}
	if err := writeDirCache(cfg.Store, s.cfg.SIM, d, time.Now()); err != nil {
		s.m.log.Warn("iotsafe-pkcs11: directory cache not written", "slot", s.id, "err", err)
		return
	}
	s.dirLoaded, s.dirVerified, s.dirGen = true, true, s.applet.Generation()
}

// checkSignature verifies a signature the card just made with the public
// key the directory cache gave the key object, once per key: a key
// generated again behind the library's back signs with its new key, and
// the kept copy is then dropped. The signature itself is the card's and
// is returned as it is. Called with s.mu held.
func (s *slot) checkSignature(ctx context.Context, o *object, digest, sig []byte) {
	if !s.dirLoaded || o.pointChecked || len(sig) != 64 {
		return
	}
	if o.pointPending {
		// From the kept directory, which holds every key's: no command.
		if s.resolvePoint(ctx, o) != CKR_OK || o.point == nil {
			return
		}
	}
	if o.point == nil {
		return
	}
	pub, ok := o.publicKey().(*ecdsa.PublicKey)
	if !ok {
		return
	}
	o.pointChecked = true
	r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if ecdsa.Verify(pub, digest, r, ss) {
		return
	}
	s.m.log.Warn("iotsafe-pkcs11: a signature of the SIM does not verify with the public key of the directory cache: the key changed; dropping the cache", "slot", s.id, "id", hex.EncodeToString(o.cardID))
	s.dropDirectory("a signature does not verify with the kept public key")
	s.applet.Refresh()
}
