package pkcs11mod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-iotsafe/iotsafe"
	"github.com/go-iotsafe/iotsafe/simuri"
	"github.com/go-iotsafe/iotsafe/transport"
)

// Library identity, as reported by C_GetInfo.
const (
	Manufacturer       = "go-iotsafe"
	LibraryDescription = "IoT SAFE SIM keys (go-iotsafe)"
	LibraryMajor       = 0
	LibraryMinor       = 1
)

// opTimeout bounds each call that reaches a card.
const opTimeout = 30 * time.Second

// reopenInterval is how often a slot without a token tries its SIM again.
var reopenInterval = time.Second

// pollInterval is how often C_FindObjectsInit asks the card whether an
// operator changed it (one APDU), so that removed credentials disappear.
var pollInterval = time.Second

// Opener opens the transport of a SIM URI; simuri.Open by default.
type Opener func(ctx context.Context, uri string) (transport.Transport, error)

// Module is the PKCS#11 token engine: the whole library minus the C ABI.
// Every method is safe for concurrent use and answers with a CK_RV; none
// panics on bad input from the caller.
type Module struct {
	// Open opens SIM transports; nil means simuri.Open. Set before
	// Initialize.
	Open Opener
	// ConfigSource returns the configuration; nil means LoadConfig. Set
	// before Initialize.
	ConfigSource func() (*Config, error)
	// Gate, when set, is held while a blocking C_WaitForSlotEvent looks
	// at the slots (not while it sleeps): the C ABI's fork gate, so that
	// a fork never lands while the wait holds a slot's lock. It returns
	// the function that releases it.
	Gate func() (release func())

	mu          sync.Mutex
	initialized bool
	cfg         *Config
	log         *slog.Logger
	logFile     io.Closer
	slots       []*slot
	sessions    map[uint]*session
	finalized   chan struct{} // closed by Finalize: ends blocking waits
	nextSession uint
	handles     handleSpace
}

// handleSpace hands out object handles: card and host objects keep theirs
// across re-reads of the card (keyed by what they are), session objects get
// fresh ones.
type handleSpace struct {
	mu   sync.Mutex
	next uint
	keys map[string]uint
}

func (h *handleSpace) get(key string) uint {
	h.mu.Lock()
	defer h.mu.Unlock()
	if key != "" {
		if v, ok := h.keys[key]; ok {
			return v
		}
	}
	h.next++
	if key != "" {
		h.keys[key] = h.next
	}
	return h.next
}

// Initialize is C_Initialize once the C layer has checked the arguments.
// flags are the CK_C_INITIALIZE_ARGS flags (informational: the library uses
// Go's own locking, which is safe from any OS thread, and Go creates its
// own threads even when CKF_LIBRARY_CANT_CREATE_OS_THREADS is set, which
// is why it answers CKR_OK then, as SoftHSM2 does).
func (m *Module) Initialize(flags uint) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.initialized {
		return CKR_CRYPTOKI_ALREADY_INITIALIZED
	}
	src := m.ConfigSource
	if src == nil {
		src = LoadConfig
	}
	cfg, err := src()
	m.log, m.logFile = newLogger(cfg)
	if err != nil {
		m.log.Error("iotsafe-pkcs11: configuration error; the library offers one empty slot", "err", err)
		cfg = &Config{Store: defaultStore()}
	}
	m.cfg = cfg
	m.finalized = make(chan struct{})
	m.sessions = map[uint]*session{}
	m.handles = handleSpace{keys: map[string]uint{}}
	m.slots = nil
	if len(cfg.Slots) == 0 {
		m.log.Warn(fmt.Sprintf("iotsafe-pkcs11: no SIM configured: set %s=<SIM URI> (e.g. emulator:/path/sim.json, pcsc:, modem:/dev/ttyUSB2) or write a configuration file (%s, or the path in %s); offering one empty slot", EnvSIM, SystemConfig, EnvConfig))
		m.slots = append(m.slots, &slot{m: m, id: 0, unconfigured: true})
	}
	for i, sc := range cfg.Slots {
		s := &slot{m: m, id: uint(i), cfg: sc}
		s.label = sc.Label
		if s.label == "" {
			s.label = "IoT SAFE"
			if len(cfg.Slots) > 1 {
				s.label = fmt.Sprintf("IoT SAFE %d", i+1)
			}
		}
		m.slots = append(m.slots, s)
	}
	m.log.Debug("initialize", "flags", flags, "slots", len(m.slots), "config", cfg.Path)
	m.initialized = true
	// No SIM is opened here: every program that loads p11-kit's proxy
	// initializes this library, and most never use its slot. A slot's SIM
	// is opened when the slot is first used (present).
	return CKR_OK
}

// newLogger makes the library's logger. Without a configured destination
// the log goes to syslog (the journal on systemd machines) and, where there
// is none, nowhere: a library loaded into every program that uses p11-kit
// must not write on its host's standard error (a shell, a browser, a
// daemon's own log). "stderr" or a file path choose otherwise.
func newLogger(cfg *Config) (*slog.Logger, io.Closer) {
	level := slog.LevelWarn
	var w io.Writer = io.Discard
	var c io.Closer
	if sl := systemLog(); sl != nil {
		w, c = sl, sl
	}
	if cfg != nil {
		switch strings.ToLower(cfg.LogLevel) {
		case "debug":
			level = slog.LevelDebug
		case "info":
			level = slog.LevelInfo
		case "error":
			level = slog.LevelError
		}
		switch {
		case cfg.Log == "stderr":
			if c != nil {
				c.Close()
			}
			w, c = os.Stderr, nil
		case cfg.Log != "":
			f, err := openLogFile(cfg.Log)
			if err != nil {
				// The configured log cannot be written: say so once,
				// where the log would have gone otherwise.
				fmt.Fprintf(w, "iotsafe-pkcs11: cannot open log %s: %v\n", cfg.Log, err)
				break
			}
			if c != nil {
				c.Close()
			}
			w, c = f, f
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), c
}

// Finalize is C_Finalize: it closes every session and SIM. The module can
// be initialized again afterwards.
func (m *Module) Finalize() uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return CKR_CRYPTOKI_NOT_INITIALIZED
	}
	for _, s := range m.slots {
		s.mu.Lock()
		s.close()
		s.mu.Unlock()
	}
	m.slots, m.sessions = nil, nil
	m.initialized = false
	close(m.finalized)
	if m.logFile != nil {
		m.logFile.Close()
		m.logFile = nil
	}
	return CKR_OK
}

// Logger returns the module's logger (a discarding one before Initialize).
func (m *Module) Logger() *slog.Logger {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.log
}

// Info is C_GetInfo.
func (m *Module) Info() (Info, uint) {
	if rv := m.check(); rv != CKR_OK {
		return Info{}, rv
	}
	return Info{
		CryptokiVersion: [2]byte{2, 40},
		Manufacturer:    Manufacturer,
		Description:     LibraryDescription,
		LibraryVersion:  [2]byte{LibraryMajor, LibraryMinor},
	}, CKR_OK
}

func (m *Module) check() uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return CKR_CRYPTOKI_NOT_INITIALIZED
	}
	return CKR_OK
}

// CheckSession is what every function taking a session checks first, in
// order: the library is initialized, the session handle is valid. The C
// entry points of functions this token does not offer call it before they
// answer CKR_FUNCTION_NOT_SUPPORTED.
func (m *Module) CheckSession(h uint) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if _, ok := m.sessions[h]; !ok {
		return CKR_SESSION_HANDLE_INVALID
	}
	return CKR_OK
}

// CheckSlot is CheckSession for functions taking a slot ID.
func (m *Module) CheckSlot(id uint) uint {
	_, rv := m.slot(id)
	return rv
}

func (m *Module) slot(id uint) (*slot, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return nil, CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if id >= uint(len(m.slots)) {
		return nil, CKR_SLOT_ID_INVALID
	}
	return m.slots[id], CKR_OK
}

// SlotList is C_GetSlotList.
func (m *Module) SlotList(tokenPresent bool) ([]uint, uint) {
	m.mu.Lock()
	if !m.initialized {
		m.mu.Unlock()
		return nil, CKR_CRYPTOKI_NOT_INITIALIZED
	}
	slots := append([]*slot(nil), m.slots...)
	m.mu.Unlock()
	var ids []uint
	for _, s := range slots {
		if !tokenPresent {
			// Every slot, without asking the SIM: p11-kit's proxy
			// lists the slots of every module in every program.
			ids = append(ids, s.id)
			continue
		}
		s.mu.Lock()
		present := s.present()
		s.mu.Unlock()
		if present {
			ids = append(ids, s.id)
		}
	}
	return ids, CKR_OK
}

// SlotInfo is C_GetSlotInfo.
func (m *Module) SlotInfo(id uint) (SlotInfo, uint) {
	s, rv := m.slot(id)
	if rv != CKR_OK {
		return SlotInfo{}, rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info := SlotInfo{Manufacturer: Manufacturer, Flags: CKF_REMOVABLE_DEVICE | CKF_HW_SLOT}
	switch {
	case s.unconfigured:
		info.Description = "no SIM configured (set " + EnvSIM + ")"
	default:
		info.Description = "IoT SAFE SIM " + s.cfg.SIM
	}
	if len(info.Description) > 64 {
		info.Description = info.Description[:64]
	}
	if s.present() {
		info.Flags |= CKF_TOKEN_PRESENT
	}
	return info, CKR_OK
}

// slotEventInterval is how often a blocking C_WaitForSlotEvent looks at
// the slots. A look costs no APDU where the transport reports presence
// itself (PC/SC), and on other transports at most one APDU per
// idleProbeInterval.
var slotEventInterval = 500 * time.Millisecond

// idleProbeInterval is how often a blocking C_WaitForSlotEvent may ask a
// SIM whose transport cannot report presence (modem, MBIM, QMI, emulator)
// whether it is still there: one APDU a minute at most, 60 an hour, for a
// host that waits for its whole life (strongSwan's charon does). A removal
// is then reported within this interval, or at once by the next operation
// that fails.
var idleProbeInterval = time.Minute

// WaitForSlotEvent is C_WaitForSlotEvent: it reports a slot whose token
// appeared or disappeared since the last call. With CKF_DONT_BLOCK it
// answers CKR_NO_EVENT at once when there is none; otherwise it waits,
// looking at the slots every slotEventInterval, until there is one or
// C_Finalize is called (CKR_CRYPTOKI_NOT_INITIALIZED).
func (m *Module) WaitForSlotEvent(flags uint) (uint, uint) {
	m.mu.Lock()
	if !m.initialized {
		m.mu.Unlock()
		return 0, CKR_CRYPTOKI_NOT_INITIALIZED
	}
	slots := append([]*slot(nil), m.slots...)
	finalized := m.finalized
	m.mu.Unlock()
	for {
		release := func() {}
		if m.Gate != nil {
			release = m.Gate()
		}
		for _, s := range slots {
			s.mu.Lock()
			p := s.probe()
			changed := p != s.reported
			s.reported = p
			s.mu.Unlock()
			if changed {
				release()
				return s.id, CKR_OK
			}
		}
		release()
		if flags&CKF_DONT_BLOCK != 0 {
			return 0, CKR_NO_EVENT
		}
		select {
		case <-finalized:
			return 0, CKR_CRYPTOKI_NOT_INITIALIZED
		case <-time.After(slotEventInterval):
		}
	}
}

// probe reports whether the slot holds a working SIM. A present one is
// asked without an APDU where the transport can tell (PC/SC); elsewhere
// with one APDU, at most once per idleProbeInterval since the card last
// answered. Called with s.mu held.
func (s *slot) probe() bool {
	if s.applet != nil {
		known, err := s.applet.CardPresent()
		switch {
		case known && err == nil:
		case known && errors.Is(err, transport.ErrCardRemoved):
			s.lost(err)
		case known || time.Since(s.lastPoll) >= idleProbeInterval:
			// A reset card (re-selected by Poll), or no way to tell
			// without asking the card.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.applet.Poll(ctx)
			cancel()
			s.lastPoll = time.Now()
			if err != nil && rvFor(err) == CKR_DEVICE_REMOVED {
				s.lost(err)
			}
		}
	}
	return s.present()
}

// slot is one configured SIM.
type slot struct {
	m            *Module
	id           uint
	cfg          SlotConfig
	label        string
	unconfigured bool

	mu       sync.Mutex // guards everything below
	applet   *iotsafe.Applet
	lastTry  time.Time
	openErr  error
	reported bool // token presence last reported by WaitForSlotEvent
	looked   bool // the slot was used (present) since C_Initialize
	ident    tokenIdentity
	store    *Store
	objects  []*object
	gen      uint64
	built    bool // key objects and data files are mapped (object list only)
	// complete: the rest is mapped too (public key points, certificate
	// files, host-side objects); done only when a caller needs it.
	complete bool
	// simID identifies the SIM for host-side objects (the public key of
	// its first factory key), read only when host objects are needed.
	simID []byte
	// dirLoaded: the applet's directory came from the directory cache
	// (Config.DirectoryCache) at applet generation dirGen, or was kept
	// there; dirVerified: the card's certificate files matched it.
	dirLoaded, dirVerified bool
	dirGen                 uint64
	lastPoll               time.Time
	loggedIn               bool
	// epoch counts losses of the SIM: sessions opened in an earlier
	// epoch are gone.
	epoch uint64
}

type tokenIdentity struct {
	serial, model, manufacturer string
	fw                          byte
}

// present reports whether the slot holds a working SIM, trying to open it
// again when it has been away for a while. Called with s.mu held.
func (s *slot) present() bool {
	if s.unconfigured {
		return false
	}
	if s.applet == nil {
		s.tryOpen(false)
	}
	if !s.looked {
		// The first use of the slot: its state now is the baseline of
		// slot events (changes after it are reported).
		s.looked = true
		s.reported = s.applet != nil
	}
	return s.applet != nil
}

// tryOpen opens the SIM. Called with s.mu held.
func (s *slot) tryOpen(force bool) {
	if s.applet != nil || (!force && time.Since(s.lastTry) < reopenInterval) {
		return
	}
	s.lastTry = time.Now()
	log := s.m.log
	open := s.m.Open
	if open == nil {
		open = simuri.Open
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	t, err := open(ctx, s.cfg.SIM)
	if err == nil {
		var a *iotsafe.Applet
		a, err = iotsafe.Open(ctx, t, &iotsafe.Options{Logger: log, ShortAPDUs: s.cfg.ShortAPDUs})
		if err == nil {
			s.applet = a
			s.loadDirectory(a)
			err = s.identify(ctx)
			if err != nil {
				a.Close()
				s.applet = nil
			} else {
				// identify has just asked the card (application
				// information): that counts as the first poll.
				s.lastPoll = time.Now()
			}
		}
	}
	if err != nil {
		if s.openErr == nil || s.openErr.Error() != err.Error() {
			log.Error("iotsafe-pkcs11: cannot open the SIM; its slot stays empty", "slot", s.id, "sim", s.cfg.SIM, "err", err)
		}
		s.openErr = err
		return
	}
	if s.openErr != nil {
		log.Info("iotsafe-pkcs11: SIM is back", "slot", s.id, "sim", s.cfg.SIM)
	}
	s.openErr = nil
	s.built, s.complete = false, false
	// identify has just read the card: no poll needed for a while.
	s.lastPoll = time.Now()
}

// close drops the SIM and every session of the slot. Called with s.mu held.
func (s *slot) close() {
	if s.applet != nil {
		s.applet.Close()
		s.applet = nil
	}
	s.objects, s.built, s.complete, s.simID, s.loggedIn = nil, false, false, nil, false
	s.epoch++
}

// lost is called when the card went away: the slot forgets it.
func (s *slot) lost(err error) {
	s.m.log.Warn("iotsafe-pkcs11: SIM lost", "slot", s.id, "err", err)
	if s.applet != nil {
		s.applet.Close()
		s.applet = nil
	}
	s.objects, s.built, s.complete, s.simID, s.loggedIn = nil, false, false, nil, false
	s.epoch++
	s.lastTry = time.Time{}
}
