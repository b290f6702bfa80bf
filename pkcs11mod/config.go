package pkcs11mod

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables and paths the library reads its configuration from.
const (
	// EnvConfig names the configuration file; it wins over everything else.
	EnvConfig = "IOTSAFE_PKCS11_CONF"
	// EnvSIM is the one-variable shortcut: one slot on this SIM URI, used
	// when EnvConfig is not set.
	EnvSIM = "IOTSAFE_SIM"
	// EnvStore overrides the directory of the host-side object store.
	EnvStore = "IOTSAFE_PKCS11_STORE"
	// EnvLog sends the library's log to a file ("stderr" for standard error);
	// the default is syslog (the journal) for warnings only, or nowhere
	// where the machine has no syslog: never the host program's stderr.
	EnvLog = "IOTSAFE_PKCS11_LOG"
	// SystemConfig is read when neither EnvConfig nor EnvSIM is set.
	SystemConfig = "/etc/iotsafe/pkcs11.conf"
)

// Config is the library's configuration: global settings and one SlotConfig
// per SIM.
//
// The file format is line based; '#' starts a comment. Global keys come
// first, then one "[slot]" section per SIM:
//
//	# /etc/iotsafe/pkcs11.conf
//	store: /var/lib/iotsafe/pkcs11   # host-side objects (C_CreateObject)
//	log: /var/log/iotsafe-pkcs11.log # or "stderr"
//	log-level: info                  # debug, info, warn, error
//	cert-cache: no                   # yes: keep the SIM's certificates in the store, checked by their last 64 bytes
//	directory-cache: no              # e.g. 1h: keep the SIM's object list and public keys that long (implies cert-cache)
//
//	[slot]
//	sim: pcsc:                       # any SIM URI (emulator:, pcsc:, modem:)
//	label: device                    # token label (default "IoT SAFE")
//	hex-ids: no                      # yes: CKA_ID "01" for card ID 01 (Thales module style)
//	user-pin: pbkdf2-sha256$...      # optional; see HashPIN
//	pin-tries: 5                     # retry counter for the user PIN
//	peer-key: 05                     # public key container for ECDH peers (default: first writable one)
//	replace-keys: no                 # yes: C_GenerateKeyPair may overwrite an active key
//	secret-keys: no                  # yes: show the SIM's PRF/HKDF secrets as CKO_SECRET_KEY
//	short-apdus: no                  # yes: no extended-length APDUs even when the card's ATR offers them
type Config struct {
	// Path is the file the configuration came from ("" for the environment).
	Path string
	// Store is the directory of the host-side object store.
	Store string
	// Log is where the log goes: "" (syslog, warnings only; nowhere
	// without syslog), "stderr", or a file path.
	Log string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// CertCache keeps a copy of each certificate file the library reads
	// from a SIM in the token's host store, and from then on reads only
	// the file's last 64 bytes (inside the certificate's signature, which
	// no two certificates share) and its size (from the object list) to
	// know that the copy is the card's: one command instead of a whole
	// file (bench/REPORT.md has curl with and without it). A certificate
	// replaced over the air ends differently and is read again. Default
	// no: listing a token then writes nothing on the machine.
	CertCache bool
	// DirectoryCache, when above zero, keeps the applet's directory (its
	// application information, object list and the public keys read) in
	// the host store between processes, for at most this long, so that a
	// process that starts, signs once and exits (curl, a device agent run
	// by cron) does not read it from the SIM each time. It implies
	// CertCache. The copy is checked the first time the certificates are
	// listed: the card's certificate files must end as it says (one short
	// read each, which also tells one SIM from another); a process that
	// signs before it lists them uses the copy unchecked until its first
	// signature, which is verified with the copied public key. The copy is
	// dropped when a certificate file does not match, when a signature does
	// not verify with it, when the card reports a remote administration
	// (63CF) or refuses an operation on an object, and when this library
	// changes the card. A change made by another program or over the air
	// that none of these catches (an object added while the 63CF went to
	// another host) is seen when the copy expires. Default 0: off.
	DirectoryCache time.Duration
	// Slots lists the SIMs, one slot each.
	Slots []SlotConfig
}

// SlotConfig configures one slot.
type SlotConfig struct {
	// SIM is the SIM URI (see package simuri).
	SIM string
	// Label is the token label; default "IoT SAFE", or "IoT SAFE n" for
	// the n-th slot when there are several.
	Label string
	// HexIDs presents CKA_ID as the ASCII hex of the card's ID bytes
	// (card ID 01 becomes CKA_ID "01" = 0x30 0x31), as the Thales module
	// does, so that its users' pkcs11:id=%30%31 URIs keep working.
	HexIDs bool
	// UserPIN is a PIN hash from HashPIN. When set, the token requires a
	// login and checks the PIN; when empty the token declares that no
	// login is required.
	UserPIN string
	// PINTries is the number of wrong PINs before the PIN locks (default 5).
	PINTries int
	// PeerKey is the ID (hex) of the public key container that receives
	// the peer's key for CKM_ECDH1_DERIVE; default the first writable
	// public key container that allows key agreement.
	PeerKey string
	// ReplaceKeys lets C_GenerateKeyPair overwrite a container that holds
	// an active key (default no: the old key would be lost for good).
	ReplaceKeys bool
	// SecretKeys shows the SIM's secret keys (PRF/HKDF secrets) as
	// CKO_SECRET_KEY objects. Default no: no PKCS#11 mechanism of this
	// library uses them, the card does not say their length (CKA_VALUE_LEN
	// can only be answered as unavailable), and consumers that read it for
	// every key they list (Java's KeyStore, OpenSC's p11test) fail on them.
	SecretKeys bool
	// ShortAPDUs keeps to short APDUs even when the card's answer to reset
	// says it takes extended-length ones (with an RSA key a signature then
	// takes a GET RESPONSE): for a reader or driver that cannot carry them.
	ShortAPDUs bool
}

// LoadConfig finds the configuration: the file named by $IOTSAFE_PKCS11_CONF,
// else one slot for $IOTSAFE_SIM, else SystemConfig if it exists. It returns
// an empty Config (no slots) and a nil error when nothing is configured.
func LoadConfig() (*Config, error) {
	var cfg *Config
	switch path := os.Getenv(EnvConfig); {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s (from $%s): %w", path, EnvConfig, err)
		}
		if cfg, err = ParseConfig(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		cfg.Path = path
	case os.Getenv(EnvSIM) != "":
		cfg = &Config{Slots: []SlotConfig{{SIM: os.Getenv(EnvSIM)}}}
	default:
		b, err := os.ReadFile(SystemConfig)
		switch {
		case errors.Is(err, os.ErrNotExist):
			cfg = &Config{}
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", SystemConfig, err)
		default:
			if cfg, err = ParseConfig(b); err != nil {
				return nil, fmt.Errorf("%s: %w", SystemConfig, err)
			}
			cfg.Path = SystemConfig
		}
	}
	if s := os.Getenv(EnvStore); s != "" {
		cfg.Store = s
	}
	if s := os.Getenv(EnvLog); s != "" {
		cfg.Log = s
	}
	if cfg.Store == "" {
		cfg.Store = defaultStore()
	}
	return cfg, nil
}

func defaultStore() string {
	if os.Geteuid() == 0 {
		return "/var/lib/iotsafe/pkcs11"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "iotsafe", "pkcs11")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "iotsafe", "pkcs11")
	}
	// No predictable /tmp fallback: another user could create it first.
	return ""
}

// ParseConfig parses the configuration file format described at Config.
func ParseConfig(b []byte) (*Config, error) {
	cfg := &Config{}
	var slot *SlotConfig
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line == "[slot]" {
			cfg.Slots = append(cfg.Slots, SlotConfig{})
			slot = &cfg.Slots[len(cfg.Slots)-1]
			continue
		}
		// "key: value" or "key = value": the first separator counts (a
		// SIM URI holds a colon).
		i := strings.IndexAny(line, ":=")
		if i < 0 {
			return nil, fmt.Errorf("line %d: want \"key: value\" or \"[slot]\", got %q", n, line)
		}
		k, v := line[:i], line[i+1:]
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if slot == nil {
			switch k {
			case "store":
				cfg.Store = v
			case "log":
				cfg.Log = v
			case "log-level":
				cfg.LogLevel = v
			case "cert-cache":
				b, err := parseBool(v)
				if err != nil {
					return nil, fmt.Errorf("line %d: cert-cache: %w", n, err)
				}
				cfg.CertCache = b
			case "directory-cache":
				d, err := parseCacheAge(v)
				if err != nil {
					return nil, fmt.Errorf("line %d: directory-cache: %w", n, err)
				}
				cfg.DirectoryCache = d
			default:
				return nil, fmt.Errorf("line %d: unknown global key %q (store, log, log-level, cert-cache, directory-cache; SIMs go in [slot] sections)", n, k)
			}
			continue
		}
		switch k {
		case "sim":
			slot.SIM = v
		case "label":
			if len(v) > 32 {
				return nil, fmt.Errorf("line %d: label %q is longer than 32 bytes", n, v)
			}
			slot.Label = v
		case "hex-ids":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: hex-ids: %w", n, err)
			}
			slot.HexIDs = b
		case "user-pin":
			if _, _, _, err := parsePINHash(v); err != nil {
				return nil, fmt.Errorf("line %d: user-pin: %w", n, err)
			}
			slot.UserPIN = v
		case "pin-tries":
			t, err := strconv.Atoi(v)
			if err != nil || t < 1 || t > 100 {
				return nil, fmt.Errorf("line %d: pin-tries: want a number from 1 to 100, got %q", n, v)
			}
			slot.PINTries = t
		case "peer-key":
			if id, err := hex.DecodeString(v); err != nil || len(id) == 0 || len(id) > 20 {
				return nil, fmt.Errorf("line %d: peer-key %q: want an IoT SAFE ID in hex (1 to 20 bytes, e.g. 05)", n, v)
			}
			slot.PeerKey = v
		case "secret-keys":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: secret-keys: %w", n, err)
			}
			slot.SecretKeys = b
		case "replace-keys":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: replace-keys: %w", n, err)
			}
			slot.ReplaceKeys = b
		case "short-apdus":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: short-apdus: %w", n, err)
			}
			slot.ShortAPDUs = b
		default:
			return nil, fmt.Errorf("line %d: unknown slot key %q (sim, label, hex-ids, user-pin, pin-tries, peer-key, replace-keys, secret-keys, short-apdus)", n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, s := range cfg.Slots {
		if s.SIM == "" {
			return nil, fmt.Errorf("slot %d has no \"sim:\" line", i+1)
		}
	}
	return cfg, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %q", v)
}

// certCache reports whether certificate files are cached (CertCache, or
// implied by DirectoryCache).
func (c *Config) certCache() bool { return c.CertCache || c.DirectoryCache > 0 }

// maxDirectoryCache bounds directory-cache: a change made behind the
// library's back that no check notices is seen within this at worst.
const maxDirectoryCache = 7 * 24 * time.Hour

// parseCacheAge parses directory-cache: "no" (off) or a Go duration from
// one second to maxDirectoryCache.
func parseCacheAge(v string) (time.Duration, error) {
	if b, err := parseBool(v); err == nil {
		if b {
			return 0, errors.New(`want "no" or how long the copy is kept (a duration such as 1h), got "yes"`)
		}
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > maxDirectoryCache {
		return 0, fmt.Errorf("want \"no\" or a duration from 1s to %s (such as 1h), got %q", maxDirectoryCache, v)
	}
	return d, nil
}

// PIN lengths the token accepts (CK_TOKEN_INFO ulMinPinLen/ulMaxPinLen).
const (
	minPINLen = 4
	maxPINLen = 64
)

// pinIterations is the PBKDF2 cost of a PIN hash: about 50 ms on a small
// ARM core, which with the retry counter bounds guessing.
const pinIterations = 100_000

// HashPIN returns the form of a user PIN that the configuration stores:
// "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64). The PIN itself is never
// stored.
func HashPIN(pin string) (string, error) {
	if len(pin) < minPINLen || len(pin) > maxPINLen {
		return "", fmt.Errorf("a PIN has %d to %d characters, this one %d", minPINLen, maxPINLen, len(pin))
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h, err := pbkdf2.Key(sha256.New, pin, salt, pinIterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pinIterations, enc.EncodeToString(salt), enc.EncodeToString(h)), nil
}

func parsePINHash(s string) (iter int, salt, hash []byte, err error) {
	f := strings.Split(s, "$")
	if len(f) != 4 || f[0] != "pbkdf2-sha256" {
		return 0, nil, nil, errors.New(`want "pbkdf2-sha256$ITERATIONS$SALT$HASH" (make one with: iotsafe pkcs11 hash-pin)`)
	}
	iter, err = strconv.Atoi(f[1])
	if err != nil || iter < 1000 {
		return 0, nil, nil, errors.New("iteration count missing or below 1000")
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(f[2]); err != nil || len(salt) < 8 {
		return 0, nil, nil, errors.New("bad salt")
	}
	if hash, err = enc.DecodeString(f[3]); err != nil || len(hash) < 16 {
		return 0, nil, nil, errors.New("bad hash")
	}
	return iter, salt, hash, nil
}

// checkPIN reports whether pin matches the stored hash, in constant time.
func checkPIN(stored string, pin []byte) bool {
	iter, salt, want, err := parsePINHash(stored)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, string(pin), salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
