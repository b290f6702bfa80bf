package pkcs11mod

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/go-iotsafe/iotsafe/internal/atomicfile"
	"github.com/go-iotsafe/iotsafe/internal/flock"
)

// Store is the host-side object store of one token: the certificates and
// data objects that applications create with C_CreateObject (what
// pkcs11-tool --write-object and crypto11 do after an enrolment), kept as
// one JSON file per object in a directory named after the token serial, so
// that they stay bound to that SIM. Writes are atomic (temporary file +
// rename) and the files are private to their owner (0600).
type Store struct {
	dir string
}

// OpenStore returns the store of the token with this serial under root.
// Nothing is created until something is stored: listing a token leaves no
// trace on the machine (unless the certificate cache is on, Config.CertCache).
func OpenStore(root, serial string) (*Store, error) {
	if root == "" {
		return nil, errors.New("no store directory (set store in the configuration or IOTSAFE_PKCS11_STORE)")
	}
	return &Store{dir: filepath.Join(root, sanitize(serial))}, nil
}

// ensure creates the store's directory (0700) and checks that it and its
// parent belong to this user and that nobody else can write to them: a
// directory another user prepared could hold their objects, or reset the
// PIN retry counter.
func (s *Store) ensure() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("host object store: %w", err)
	}
	return s.checkDirs()
}

// checkDirs checks the store's directory and its parent as ensure does,
// creating nothing.
func (s *Store) checkDirs() error {
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		if err := checkOwned(d, true); err != nil {
			return err
		}
	}
	return nil
}

// readOwned reads a store file, refusing (as checkOwned) a link, a file of
// another user or one that others can write to. The checks are made on the
// descriptor read from, so a file swapped in between is not read.
func readOwned(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("host object store: %s: %w (ignored)", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkMode(path, fi, false); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, maxStoredObject))
}

// maxStoredObject bounds what one store file may hold (certificates and
// data objects are far smaller).
const maxStoredObject = 1 << 20

// checkOwned refuses a path that is not of the expected type (a directory,
// or a regular file: never a link), belongs to another user, or that group
// or others can write to.
func checkOwned(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("host object store: %w", err)
	}
	return checkMode(path, fi, dir)
}

func checkMode(path string, fi os.FileInfo, dir bool) error {
	switch {
	case dir && !fi.IsDir():
		return fmt.Errorf("host object store: %s is not a directory", path)
	case !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("host object store: %s is not a regular file: ignored", path)
	}
	return checkOwner(path, fi)
}

// CheckStoreRoot checks the host store's root directory as the library
// does before it reads or writes there: absent is fine (it is created on
// the first write), otherwise it must be a directory of this user that
// nobody else can write to.
func CheckStoreRoot(root string) error {
	if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return checkOwned(root, true)
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func sanitize(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "token"
	}
	return b.String()
}

// StoredObject is one host-side object: its attributes, by type.
type StoredObject struct {
	// Name is the file name (without directory) the object is kept in.
	Name string `json:"-"`
	// Attrs maps attribute types to values.
	Attrs map[uint][]byte `json:"-"`
}

type storedJSON struct {
	Attrs map[string]string `json:"attributes"`
}

// List returns every object of the store, ordered by name. Reading applies
// the checks writing does: a store directory (or its parent) that belongs
// to another user or that others can write to lists nothing, and a file
// that is not a regular file of this user writable by nobody else is
// ignored; those, and files that do not parse, are reported in the error,
// which does not stop the others from loading.
func (s *Store) List() ([]StoredObject, error) {
	if _, err := os.Lstat(s.dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err := s.checkDirs(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []StoredObject
	var errs []error
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := readOwned(filepath.Join(s.dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var j storedJSON
		if err := json.Unmarshal(b, &j); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		o := StoredObject{Name: e.Name(), Attrs: map[uint][]byte{}}
		for k, v := range j.Attrs {
			t, err1 := strconv.ParseUint(k, 0, 64)
			val, err2 := hex.DecodeString(v)
			if err1 != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("%s: bad attribute %q", e.Name(), k))
				o.Attrs = nil
				break
			}
			o.Attrs[uint(t)] = val
		}
		if o.Attrs != nil {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// Put writes an object under a new name and returns the name.
func (s *Store) Put(attrs map[uint][]byte) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	name := hex.EncodeToString(r[:]) + ".json"
	return name, s.Replace(name, attrs)
}

// Replace writes an object under an existing name, atomically.
func (s *Store) Replace(name string, attrs map[uint][]byte) error {
	j := storedJSON{Attrs: map[string]string{}}
	for t, v := range attrs {
		j.Attrs[fmt.Sprintf("0x%x", t)] = hex.EncodeToString(v)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := s.ensure(); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.dir, name), b, 0o600)
}

// Delete removes an object.
func (s *Store) Delete(name string) error {
	err := os.Remove(filepath.Join(s.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// certCacheDir is the store's subdirectory for copies of the card's
// certificate files (Config.CertCache).
const certCacheDir = "cert-cache"

// certCacheName names the copy of a certificate file of size bytes that
// ends with tail.
func certCacheName(size int, tail []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", size)
	h.Write(tail)
	return hex.EncodeToString(h.Sum(nil)) + ".der"
}

// cachedCertificate returns the copy of a certificate file of size bytes
// that ends with tail, nil when there is none. It is read as every store
// file is (a regular file of this user that nobody else can write, in
// directories likewise), and must have that size and end with that tail.
func (s *Store) cachedCertificate(size int, tail []byte) []byte {
	dir := filepath.Join(s.dir, certCacheDir)
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	if s.checkDirs() != nil || checkOwned(dir, true) != nil {
		return nil
	}
	b, err := readOwned(filepath.Join(dir, certCacheName(size, tail)))
	if err != nil || len(b) != size || !bytes.HasSuffix(b, tail) {
		return nil
	}
	return b
}

// cacheCertificate keeps der, a certificate file read whole from the card,
// under the name its size and last tailLen bytes give (0600, atomically).
func (s *Store) cacheCertificate(der []byte, tailLen int) error {
	if err := s.ensure(); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, certCacheDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := checkOwned(dir, true); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, certCacheName(len(der), der[max(0, len(der)-tailLen):])), der, 0o600)
}

// pinFailures is the persistent retry counter of a token's user PIN, kept
// in the store so that it survives the process and counts across
// processes. It fails closed: a counter that cannot be read, or does not
// parse, is an error (the caller then refuses the login).
func (s *Store) pinFailures() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "pin-failures"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("PIN retry counter %s is corrupt", filepath.Join(s.dir, "pin-failures"))
	}
	return n, nil
}

func (s *Store) setPINFailures(n int) error {
	p := filepath.Join(s.dir, "pin-failures")
	if n == 0 {
		err := os.Remove(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return atomicfile.Write(p, []byte(strconv.Itoa(n)+"\n"), 0o600)
}

// lock takes an exclusive lock on the store for read-modify-write of the
// PIN counter across processes.
func (s *Store) lock() (func(), error) {
	if err := s.ensure(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, err
	}
	return func() { flock.Unlock(f); f.Close() }, nil
}
