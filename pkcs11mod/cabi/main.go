// Command cabi is the C ABI of libiotsafe-pkcs11: built with
// -buildmode=c-shared it exports the PKCS#11 functions (C_* symbols only)
// and converts between C and the pure-Go token engine of package pkcs11mod.
// Nothing else happens here: every export checks its pointers and lengths,
// calls the engine, copies the answer out, and turns a panic into
// CKR_GENERAL_ERROR so that the host process never crashes.
//
// Build: go build -buildmode=c-shared -o build/libiotsafe-pkcs11.so ./pkcs11mod/cabi
// (the Makefile adds a linker version script so that only C_* symbols are
// exported).
package main

/*
#cgo pkg-config: p11-kit-1
#include <stdlib.h>
#include "pkcs11_glue.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/go-iotsafe/iotsafe/pkcs11mod"
)

func main() {}

// module is the library's one token engine.
var module = &pkcs11mod.Module{Gate: func() func() {
	C.iotsafe_gate_enter()
	return func() { C.iotsafe_gate_leave() }
}}

// appLock is the application's mutex when it asked the library to use its
// callbacks (C_Initialize without CKF_OS_LOCKING_OK but with functions):
// then every call runs under it, as PKCS#11 requires.
var appLock struct {
	sync.Mutex // guards the fields
	mutex      unsafe.Pointer
	lock       C.CK_LOCKMUTEX
	unlock     C.CK_UNLOCKMUTEX
	destroy    C.CK_DESTROYMUTEX
}

// maxLen bounds lengths from callers: anything larger is a bug (or an
// attack), not a real buffer.
const maxLen = 1 << 28

// call runs f with panic recovery and the application's lock, if any.
// The C entry point (entry.c) holds the fork gate around the whole call.
func call(name string, f func() C.CK_RV) (rv C.CK_RV) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "iotsafe-pkcs11: internal error in %s (returned CKR_GENERAL_ERROR): %v\n%s", name, r, debug.Stack())
			rv = C.CKR_GENERAL_ERROR
		}
	}()
	appLock.Lock()
	m, lock, unlock := appLock.mutex, appLock.lock, appLock.unlock
	appLock.Unlock()
	if m != nil {
		if r := C.iotsafe_call_mutex(lock, m); r != C.CKR_OK {
			return C.CKR_CANT_LOCK
		}
		defer C.iotsafe_call_mutex(C.CK_LOCKMUTEX(unlock), m)
	}
	return f()
}

// procsBeforeFork is GOMAXPROCS while a fork is under way (0: none).
var (
	forkMu          sync.Mutex
	procsBeforeFork int
)

// forkSpareProcs is how many idle Ps a fork leaves the child.
const forkSpareProcs = 4

// iotsafeForkPrepare runs in the forking thread before fork(), with the
// fork gate held (no library call under way). The child gets only this
// thread: a P that another thread held (running Go code, or in a system
// call) stays held in the child by a thread that does not exist, and no
// monitor thread takes it back. So the collection under way, if any, is
// finished first, and the runtime is given spare idle Ps that the child's
// first call into the library takes. In the child nothing may stop the
// world (a garbage collection, GOMAXPROCS) while such Ps are held; a
// forked child should do its PKCS#11 work and exit or exec, as the
// standard asks of it.
//
//export iotsafeForkPrepare
func iotsafeForkPrepare() {
	forkMu.Lock()
	defer forkMu.Unlock()
	runtime.GC()
	procsBeforeFork = runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(procsBeforeFork + forkSpareProcs)
}

// iotsafeForkParent runs in the parent after fork(): the spare Ps go.
//
//export iotsafeForkParent
func iotsafeForkParent() {
	forkMu.Lock()
	defer forkMu.Unlock()
	if procsBeforeFork != 0 {
		runtime.GOMAXPROCS(procsBeforeFork)
		procsBeforeFork = 0
	}
}

// callUnlocked is call without the application's lock (the engine has
// its own) and outside the fork gate: for the blocking C_WaitForSlotEvent,
// which takes the gate itself while it looks at the slots (module.Gate).
func callUnlocked(name string, f func() C.CK_RV) (rv C.CK_RV) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "iotsafe-pkcs11: internal error in %s (returned CKR_GENERAL_ERROR): %v\n%s", name, r, debug.Stack())
			rv = C.CKR_GENERAL_ERROR
		}
	}()
	return f()
}

func goBytes(p *C.CK_BYTE, n C.CK_ULONG) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if p == nil || n > maxLen {
		return nil, false
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), true
}

// template copies a CK_ATTRIBUTE array (values included) into Go.
func template(p *C.CK_ATTRIBUTE, n C.CK_ULONG) ([]pkcs11mod.Attribute, bool) {
	if n == 0 {
		return nil, true
	}
	if p == nil || n > 4096 {
		return nil, false
	}
	src := unsafe.Slice(p, int(n))
	out := make([]pkcs11mod.Attribute, n)
	for i, a := range src {
		v, ok := goBytes((*C.CK_BYTE)(a.pValue), a.ulValueLen)
		if !ok {
			return nil, false
		}
		out[i] = pkcs11mod.Attribute{Type: uint(a._type), Value: v}
	}
	return out, true
}

func mechanism(p *C.CK_MECHANISM) (pkcs11mod.Mechanism, bool) {
	if p == nil {
		return pkcs11mod.Mechanism{}, false
	}
	m := pkcs11mod.Mechanism{Type: uint(p.mechanism)}
	if m.Type == pkcs11mod.CKM_ECDH1_DERIVE {
		if p.pParameter == nil || p.ulParameterLen != C.CK_ULONG(unsafe.Sizeof(C.CK_ECDH1_DERIVE_PARAMS{})) {
			return m, true // the engine answers CKR_MECHANISM_PARAM_INVALID
		}
		ep := (*C.CK_ECDH1_DERIVE_PARAMS)(p.pParameter)
		shared, ok1 := goBytes(ep.pSharedData, ep.ulSharedDataLen)
		public, ok2 := goBytes(ep.pPublicData, ep.ulPublicDataLen)
		if !ok1 || !ok2 {
			return m, false
		}
		m.ECDH = &pkcs11mod.ECDH1DeriveParams{KDF: uint(ep.kdf), SharedData: shared, PublicData: public}
		return m, true
	}
	switch m.Type {
	case pkcs11mod.CKM_RSA_PKCS_PSS, pkcs11mod.CKM_SHA1_RSA_PKCS_PSS, pkcs11mod.CKM_SHA224_RSA_PKCS_PSS,
		pkcs11mod.CKM_SHA256_RSA_PKCS_PSS, pkcs11mod.CKM_SHA384_RSA_PKCS_PSS, pkcs11mod.CKM_SHA512_RSA_PKCS_PSS:
		if p.pParameter == nil || p.ulParameterLen != C.CK_ULONG(unsafe.Sizeof(C.CK_RSA_PKCS_PSS_PARAMS{})) {
			return m, true // the engine answers CKR_MECHANISM_PARAM_INVALID
		}
		pp := (*C.CK_RSA_PKCS_PSS_PARAMS)(p.pParameter)
		m.PSS = &pkcs11mod.PSSParams{Hash: uint(pp.hashAlg), MGF: uint(pp.mgf), SaltLen: uint(pp.sLen)}
		return m, true
	}
	param, ok := goBytes((*C.CK_BYTE)(p.pParameter), p.ulParameterLen)
	m.Param = param
	return m, ok
}

// output copies a result with the two-call length convention: a NULL
// buffer only receives the length.
func output(out []byte, n int, rv uint, p *C.CK_BYTE, pl *C.CK_ULONG) C.CK_RV {
	*pl = C.CK_ULONG(n)
	if rv != pkcs11mod.CKR_OK || p == nil {
		return C.CK_RV(rv)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(out)), out)
	*pl = C.CK_ULONG(len(out))
	return C.CKR_OK
}

// outCap is the capacity the engine sees: -1 for a length query.
func outCap(p *C.CK_BYTE, pl *C.CK_ULONG) int {
	if p == nil {
		return -1
	}
	if *pl > maxLen {
		return maxLen
	}
	return int(*pl)
}

// pad fills a fixed-size, blank-padded CK_UTF8CHAR field; a longer
// string is cut at a character boundary so the field stays valid UTF-8.
func pad(dst unsafe.Pointer, size int, s string) {
	for len(s) > size {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	b := unsafe.Slice((*byte)(dst), size)
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
}

func version(v [2]byte) C.CK_VERSION {
	return C.CK_VERSION{major: C.CK_BYTE(v[0]), minor: C.CK_BYTE(v[1])}
}

//export iotsafeGo_C_Initialize
func iotsafeGo_C_Initialize(pInitArgs C.CK_VOID_PTR) (rv C.CK_RV) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "iotsafe-pkcs11: internal error in C_Initialize (returned CKR_GENERAL_ERROR): %v\n", r)
			rv = C.CKR_GENERAL_ERROR
		}
	}()
	var flags uint
	if pInitArgs != nil {
		args := (*C.CK_C_INITIALIZE_ARGS)(pInitArgs)
		if args.pReserved != nil {
			return C.CKR_ARGUMENTS_BAD
		}
		set := 0
		for _, f := range []unsafe.Pointer{unsafe.Pointer(args.CreateMutex), unsafe.Pointer(args.DestroyMutex), unsafe.Pointer(args.LockMutex), unsafe.Pointer(args.UnlockMutex)} {
			if f != nil {
				set++
			}
		}
		if set != 0 && set != 4 {
			return C.CKR_ARGUMENTS_BAD
		}
		flags = uint(args.flags)
		appLock.Lock()
		if appLock.mutex != nil {
			appLock.Unlock()
			return C.CKR_CRYPTOKI_ALREADY_INITIALIZED
		}
		if set == 4 && flags&pkcs11mod.CKF_OS_LOCKING_OK == 0 {
			// The application wants its own locking: one mutex of its
			// kind serializes every call.
			var m unsafe.Pointer
			if rv := C.iotsafe_call_create_mutex(args.CreateMutex, &m); rv != C.CKR_OK {
				appLock.Unlock()
				return C.CKR_CANT_LOCK
			}
			appLock.mutex, appLock.lock, appLock.unlock, appLock.destroy = m, args.LockMutex, args.UnlockMutex, args.DestroyMutex
		}
		appLock.Unlock()
	}
	rv = call("C_Initialize", func() C.CK_RV { return C.CK_RV(module.Initialize(flags)) })
	if rv != C.CKR_OK {
		releaseAppLock()
		return rv
	}
	C.iotsafe_register_atexit()
	return rv
}

// iotsafeGoCheckSession and iotsafeGoCheckSlot let the C entry points of the
// functions this token does not offer answer what every function answers
// first (CKR_CRYPTOKI_NOT_INITIALIZED, an invalid handle) before
// CKR_FUNCTION_NOT_SUPPORTED.
//
//export iotsafeGoCheckSession
func iotsafeGoCheckSession(h C.CK_SESSION_HANDLE) C.CK_RV {
	return call("session check", func() C.CK_RV { return C.CK_RV(module.CheckSession(uint(h))) })
}

//export iotsafeGoCopyObject
func iotsafeGoCopyObject(h C.CK_SESSION_HANDLE, o C.CK_OBJECT_HANDLE, pTemplate *C.CK_ATTRIBUTE, ulCount C.CK_ULONG, phObject *C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_CopyObject", func() C.CK_RV {
		tmpl, ok := template(pTemplate, ulCount)
		if !ok || phObject == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		n, rv := module.CopyObject(uint(h), uint(o), tmpl)
		if rv == pkcs11mod.CKR_OK {
			*phObject = C.CK_OBJECT_HANDLE(n)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGoCheckSlot
func iotsafeGoCheckSlot(id C.CK_SLOT_ID) C.CK_RV {
	return call("slot check", func() C.CK_RV { return C.CK_RV(module.CheckSlot(uint(id))) })
}

// iotsafeAtExit runs at process exit (atexit, registered by C_Initialize):
// it finalizes the library if the application did not, so that SIM logical
// channels and PC/SC handles are released. Bounded: a call still running
// in another thread must not hold the process's exit.
//
//export iotsafeAtExit
func iotsafeAtExit() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }()
		module.Finalize()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

func releaseAppLock() {
	appLock.Lock()
	defer appLock.Unlock()
	if appLock.mutex != nil {
		C.iotsafe_call_mutex(C.CK_LOCKMUTEX(appLock.destroy), appLock.mutex)
		appLock.mutex = nil
	}
}

//export iotsafeGo_C_Finalize
func iotsafeGo_C_Finalize(pReserved C.CK_VOID_PTR) C.CK_RV {
	if pReserved != nil {
		return C.CKR_ARGUMENTS_BAD
	}
	rv := call("C_Finalize", func() C.CK_RV { return C.CK_RV(module.Finalize()) })
	if rv == C.CKR_OK {
		releaseAppLock()
	}
	return rv
}

//export iotsafeGo_C_GetInfo
func iotsafeGo_C_GetInfo(pInfo *C.CK_INFO) C.CK_RV {
	return call("C_GetInfo", func() C.CK_RV {
		if pInfo == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		info, rv := module.Info()
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		pInfo.cryptokiVersion = version(info.CryptokiVersion)
		pad(unsafe.Pointer(&pInfo.manufacturerID), 32, info.Manufacturer)
		pInfo.flags = 0
		pad(unsafe.Pointer(&pInfo.libraryDescription), 32, info.Description)
		pInfo.libraryVersion = version(info.LibraryVersion)
		return C.CKR_OK
	})
}

//export iotsafeGo_C_GetSlotList
func iotsafeGo_C_GetSlotList(tokenPresent C.CK_BBOOL, pSlotList *C.CK_SLOT_ID, pulCount *C.CK_ULONG) C.CK_RV {
	return call("C_GetSlotList", func() C.CK_RV {
		if pulCount == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		ids, rv := module.SlotList(tokenPresent != 0)
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		if pSlotList == nil {
			*pulCount = C.CK_ULONG(len(ids))
			return C.CKR_OK
		}
		if *pulCount < C.CK_ULONG(len(ids)) {
			*pulCount = C.CK_ULONG(len(ids))
			return C.CKR_BUFFER_TOO_SMALL
		}
		dst := unsafe.Slice(pSlotList, len(ids))
		for i, id := range ids {
			dst[i] = C.CK_SLOT_ID(id)
		}
		*pulCount = C.CK_ULONG(len(ids))
		return C.CKR_OK
	})
}

//export iotsafeGo_C_GetSlotInfo
func iotsafeGo_C_GetSlotInfo(slotID C.CK_SLOT_ID, pInfo *C.CK_SLOT_INFO) C.CK_RV {
	return call("C_GetSlotInfo", func() C.CK_RV {
		if pInfo == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		info, rv := module.SlotInfo(uint(slotID))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		pad(unsafe.Pointer(&pInfo.slotDescription), 64, info.Description)
		pad(unsafe.Pointer(&pInfo.manufacturerID), 32, info.Manufacturer)
		pInfo.flags = C.CK_FLAGS(info.Flags)
		pInfo.hardwareVersion = version(info.HardwareVersion)
		pInfo.firmwareVersion = version(info.FirmwareVersion)
		return C.CKR_OK
	})
}

//export iotsafeGo_C_GetTokenInfo
func iotsafeGo_C_GetTokenInfo(slotID C.CK_SLOT_ID, pInfo *C.CK_TOKEN_INFO) C.CK_RV {
	return call("C_GetTokenInfo", func() C.CK_RV {
		if pInfo == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		t, rv := module.TokenInfo(uint(slotID))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		pad(unsafe.Pointer(&pInfo.label), 32, t.Label)
		pad(unsafe.Pointer(&pInfo.manufacturerID), 32, t.Manufacturer)
		pad(unsafe.Pointer(&pInfo.model), 16, t.Model)
		pad(unsafe.Pointer(&pInfo.serialNumber), 16, t.Serial)
		pInfo.flags = C.CK_FLAGS(t.Flags)
		pInfo.ulMaxSessionCount = C.CK_ULONG(t.MaxSessionCount)
		pInfo.ulSessionCount = C.CK_ULONG(t.SessionCount)
		pInfo.ulMaxRwSessionCount = C.CK_ULONG(t.MaxRwSessionCount)
		pInfo.ulRwSessionCount = C.CK_ULONG(t.RwSessionCount)
		pInfo.ulMaxPinLen = C.CK_ULONG(t.MaxPinLen)
		pInfo.ulMinPinLen = C.CK_ULONG(t.MinPinLen)
		pInfo.ulTotalPublicMemory = C.CK_ULONG(t.TotalPublicMemory)
		pInfo.ulFreePublicMemory = C.CK_ULONG(t.FreePublicMemory)
		pInfo.ulTotalPrivateMemory = C.CK_ULONG(t.TotalPrivateMemory)
		pInfo.ulFreePrivateMemory = C.CK_ULONG(t.FreePrivateMemory)
		pInfo.hardwareVersion = version(t.HardwareVersion)
		pInfo.firmwareVersion = version(t.FirmwareVersion)
		pad(unsafe.Pointer(&pInfo.utcTime), 16, t.UTCTime)
		return C.CKR_OK
	})
}

//export iotsafeGo_C_GetMechanismList
func iotsafeGo_C_GetMechanismList(slotID C.CK_SLOT_ID, pList *C.CK_MECHANISM_TYPE, pulCount *C.CK_ULONG) C.CK_RV {
	return call("C_GetMechanismList", func() C.CK_RV {
		if pulCount == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		list, rv := module.MechanismList(uint(slotID))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		if pList == nil {
			*pulCount = C.CK_ULONG(len(list))
			return C.CKR_OK
		}
		if *pulCount < C.CK_ULONG(len(list)) {
			*pulCount = C.CK_ULONG(len(list))
			return C.CKR_BUFFER_TOO_SMALL
		}
		dst := unsafe.Slice(pList, len(list))
		for i, m := range list {
			dst[i] = C.CK_MECHANISM_TYPE(m)
		}
		*pulCount = C.CK_ULONG(len(list))
		return C.CKR_OK
	})
}

//export iotsafeGo_C_GetMechanismInfo
func iotsafeGo_C_GetMechanismInfo(slotID C.CK_SLOT_ID, typ C.CK_MECHANISM_TYPE, pInfo *C.CK_MECHANISM_INFO) C.CK_RV {
	return call("C_GetMechanismInfo", func() C.CK_RV {
		if pInfo == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		info, rv := module.MechanismInfo(uint(slotID), uint(typ))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		pInfo.ulMinKeySize = C.CK_ULONG(info.MinKeySize)
		pInfo.ulMaxKeySize = C.CK_ULONG(info.MaxKeySize)
		pInfo.flags = C.CK_FLAGS(info.Flags)
		return C.CKR_OK
	})
}

//export iotsafeGo_C_OpenSession
func iotsafeGo_C_OpenSession(slotID C.CK_SLOT_ID, flags C.CK_FLAGS, pApplication C.CK_VOID_PTR, notify C.CK_NOTIFY, phSession *C.CK_SESSION_HANDLE) C.CK_RV {
	return call("C_OpenSession", func() C.CK_RV {
		if phSession == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		h, rv := module.OpenSession(uint(slotID), uint(flags))
		if rv == pkcs11mod.CKR_OK {
			*phSession = C.CK_SESSION_HANDLE(h)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_CloseSession
func iotsafeGo_C_CloseSession(h C.CK_SESSION_HANDLE) C.CK_RV {
	return call("C_CloseSession", func() C.CK_RV { return C.CK_RV(module.CloseSession(uint(h))) })
}

//export iotsafeGo_C_CloseAllSessions
func iotsafeGo_C_CloseAllSessions(slotID C.CK_SLOT_ID) C.CK_RV {
	return call("C_CloseAllSessions", func() C.CK_RV { return C.CK_RV(module.CloseAllSessions(uint(slotID))) })
}

//export iotsafeGo_C_GetSessionInfo
func iotsafeGo_C_GetSessionInfo(h C.CK_SESSION_HANDLE, pInfo *C.CK_SESSION_INFO) C.CK_RV {
	return call("C_GetSessionInfo", func() C.CK_RV {
		if pInfo == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		info, rv := module.SessionInfo(uint(h))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		pInfo.slotID = C.CK_SLOT_ID(info.SlotID)
		pInfo.state = C.CK_STATE(info.State)
		pInfo.flags = C.CK_FLAGS(info.Flags)
		pInfo.ulDeviceError = C.CK_ULONG(info.DeviceError)
		return C.CKR_OK
	})
}

//export iotsafeGo_C_Login
func iotsafeGo_C_Login(h C.CK_SESSION_HANDLE, userType C.CK_USER_TYPE, pPin *C.CK_UTF8CHAR, ulPinLen C.CK_ULONG) C.CK_RV {
	return call("C_Login", func() C.CK_RV {
		pin, ok := goBytes((*C.CK_BYTE)(pPin), ulPinLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		rv := module.Login(uint(h), uint(userType), pin)
		for i := range pin {
			pin[i] = 0
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_Logout
func iotsafeGo_C_Logout(h C.CK_SESSION_HANDLE) C.CK_RV {
	return call("C_Logout", func() C.CK_RV { return C.CK_RV(module.Logout(uint(h))) })
}

//export iotsafeGo_C_CreateObject
func iotsafeGo_C_CreateObject(h C.CK_SESSION_HANDLE, pTemplate *C.CK_ATTRIBUTE, ulCount C.CK_ULONG, phObject *C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_CreateObject", func() C.CK_RV {
		tmpl, ok := template(pTemplate, ulCount)
		if !ok || phObject == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		o, rv := module.CreateObject(uint(h), tmpl)
		if rv == pkcs11mod.CKR_OK {
			*phObject = C.CK_OBJECT_HANDLE(o)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_DestroyObject
func iotsafeGo_C_DestroyObject(h C.CK_SESSION_HANDLE, o C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_DestroyObject", func() C.CK_RV { return C.CK_RV(module.DestroyObject(uint(h), uint(o))) })
}

//export iotsafeGo_C_GetObjectSize
func iotsafeGo_C_GetObjectSize(h C.CK_SESSION_HANDLE, o C.CK_OBJECT_HANDLE, pulSize *C.CK_ULONG) C.CK_RV {
	return call("C_GetObjectSize", func() C.CK_RV {
		if pulSize == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		n, rv := module.GetObjectSize(uint(h), uint(o))
		if rv == pkcs11mod.CKR_OK {
			*pulSize = C.CK_ULONG(n)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_GetAttributeValue
func iotsafeGo_C_GetAttributeValue(h C.CK_SESSION_HANDLE, o C.CK_OBJECT_HANDLE, pTemplate *C.CK_ATTRIBUTE, ulCount C.CK_ULONG) C.CK_RV {
	return call("C_GetAttributeValue", func() C.CK_RV {
		if ulCount == 0 {
			_, rv := module.GetObjectSize(uint(h), uint(o))
			return C.CK_RV(rv)
		}
		if pTemplate == nil || ulCount > 4096 {
			return C.CKR_ARGUMENTS_BAD
		}
		attrs := unsafe.Slice(pTemplate, int(ulCount))
		types := make([]uint, len(attrs))
		for i, a := range attrs {
			types[i] = uint(a._type)
		}
		vals, rv := module.GetAttributeValue(uint(h), uint(o), types)
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		result := C.CK_RV(C.CKR_OK)
		for i := range attrs {
			a := &attrs[i]
			v := vals[i]
			switch {
			case v.RV != pkcs11mod.CKR_OK:
				a.ulValueLen = C.CK_ULONG(pkcs11mod.CK_UNAVAILABLE_INFORMATION)
				result = C.CK_RV(v.RV)
			case a.pValue == nil:
				a.ulValueLen = C.CK_ULONG(len(v.Value))
			case a.ulValueLen < C.CK_ULONG(len(v.Value)):
				a.ulValueLen = C.CK_ULONG(pkcs11mod.CK_UNAVAILABLE_INFORMATION)
				result = C.CKR_BUFFER_TOO_SMALL
			default:
				copy(unsafe.Slice((*byte)(a.pValue), len(v.Value)), v.Value)
				a.ulValueLen = C.CK_ULONG(len(v.Value))
			}
		}
		return result
	})
}

//export iotsafeGo_C_SetAttributeValue
func iotsafeGo_C_SetAttributeValue(h C.CK_SESSION_HANDLE, o C.CK_OBJECT_HANDLE, pTemplate *C.CK_ATTRIBUTE, ulCount C.CK_ULONG) C.CK_RV {
	return call("C_SetAttributeValue", func() C.CK_RV {
		tmpl, ok := template(pTemplate, ulCount)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.SetAttributeValue(uint(h), uint(o), tmpl))
	})
}

//export iotsafeGo_C_FindObjectsInit
func iotsafeGo_C_FindObjectsInit(h C.CK_SESSION_HANDLE, pTemplate *C.CK_ATTRIBUTE, ulCount C.CK_ULONG) C.CK_RV {
	return call("C_FindObjectsInit", func() C.CK_RV {
		tmpl, ok := template(pTemplate, ulCount)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.FindObjectsInit(uint(h), tmpl))
	})
}

//export iotsafeGo_C_FindObjects
func iotsafeGo_C_FindObjects(h C.CK_SESSION_HANDLE, phObject *C.CK_OBJECT_HANDLE, ulMaxObjectCount C.CK_ULONG, pulObjectCount *C.CK_ULONG) C.CK_RV {
	return call("C_FindObjects", func() C.CK_RV {
		if pulObjectCount == nil || (phObject == nil && ulMaxObjectCount > 0) {
			return C.CKR_ARGUMENTS_BAD
		}
		max := int(min(ulMaxObjectCount, maxLen))
		hs, rv := module.FindObjects(uint(h), max)
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		if len(hs) > 0 {
			dst := unsafe.Slice(phObject, len(hs))
			for i, o := range hs {
				dst[i] = C.CK_OBJECT_HANDLE(o)
			}
		}
		*pulObjectCount = C.CK_ULONG(len(hs))
		return C.CKR_OK
	})
}

//export iotsafeGo_C_FindObjectsFinal
func iotsafeGo_C_FindObjectsFinal(h C.CK_SESSION_HANDLE) C.CK_RV {
	return call("C_FindObjectsFinal", func() C.CK_RV { return C.CK_RV(module.FindObjectsFinal(uint(h))) })
}

//export iotsafeGo_C_DigestInit
func iotsafeGo_C_DigestInit(h C.CK_SESSION_HANDLE, pMechanism *C.CK_MECHANISM) C.CK_RV {
	return call("C_DigestInit", func() C.CK_RV {
		m, ok := mechanism(pMechanism)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.DigestInit(uint(h), m))
	})
}

//export iotsafeGo_C_Digest
func iotsafeGo_C_Digest(h C.CK_SESSION_HANDLE, pData *C.CK_BYTE, ulDataLen C.CK_ULONG, pDigest *C.CK_BYTE, pulDigestLen *C.CK_ULONG) C.CK_RV {
	return call("C_Digest", func() C.CK_RV {
		data, ok := goBytes(pData, ulDataLen)
		if !ok || pulDigestLen == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		out, n, rv := module.Digest(uint(h), data, outCap(pDigest, pulDigestLen))
		return output(out, n, rv, pDigest, pulDigestLen)
	})
}

//export iotsafeGoGetOperationState
func iotsafeGoGetOperationState(h C.CK_SESSION_HANDLE, pState *C.CK_BYTE, pulLen *C.CK_ULONG) C.CK_RV {
	return call("C_GetOperationState", func() C.CK_RV {
		if pulLen == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		out, n, rv := module.GetOperationState(uint(h), outCap(pState, pulLen))
		return output(out, n, rv, pState, pulLen)
	})
}

//export iotsafeGoSetOperationState
func iotsafeGoSetOperationState(h C.CK_SESSION_HANDLE, pState *C.CK_BYTE, ulLen C.CK_ULONG, enc, auth C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_SetOperationState", func() C.CK_RV {
		state, ok := goBytes(pState, ulLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.SetOperationState(uint(h), state, uint(enc), uint(auth)))
	})
}

//export iotsafeGo_C_DigestUpdate
func iotsafeGo_C_DigestUpdate(h C.CK_SESSION_HANDLE, pPart *C.CK_BYTE, ulPartLen C.CK_ULONG) C.CK_RV {
	return call("C_DigestUpdate", func() C.CK_RV {
		data, ok := goBytes(pPart, ulPartLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.DigestUpdate(uint(h), data))
	})
}

//export iotsafeGo_C_DigestFinal
func iotsafeGo_C_DigestFinal(h C.CK_SESSION_HANDLE, pDigest *C.CK_BYTE, pulDigestLen *C.CK_ULONG) C.CK_RV {
	return call("C_DigestFinal", func() C.CK_RV {
		if pulDigestLen == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		out, n, rv := module.DigestFinal(uint(h), outCap(pDigest, pulDigestLen))
		return output(out, n, rv, pDigest, pulDigestLen)
	})
}

//export iotsafeGo_C_SignInit
func iotsafeGo_C_SignInit(h C.CK_SESSION_HANDLE, pMechanism *C.CK_MECHANISM, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_SignInit", func() C.CK_RV {
		m, ok := mechanism(pMechanism)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.SignInit(uint(h), m, uint(hKey)))
	})
}

//export iotsafeGo_C_Sign
func iotsafeGo_C_Sign(h C.CK_SESSION_HANDLE, pData *C.CK_BYTE, ulDataLen C.CK_ULONG, pSignature *C.CK_BYTE, pulSignatureLen *C.CK_ULONG) C.CK_RV {
	return call("C_Sign", func() C.CK_RV {
		data, ok := goBytes(pData, ulDataLen)
		if !ok || pulSignatureLen == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		out, n, rv := module.Sign(uint(h), data, outCap(pSignature, pulSignatureLen))
		return output(out, n, rv, pSignature, pulSignatureLen)
	})
}

//export iotsafeGo_C_SignUpdate
func iotsafeGo_C_SignUpdate(h C.CK_SESSION_HANDLE, pPart *C.CK_BYTE, ulPartLen C.CK_ULONG) C.CK_RV {
	return call("C_SignUpdate", func() C.CK_RV {
		data, ok := goBytes(pPart, ulPartLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.SignUpdate(uint(h), data))
	})
}

//export iotsafeGo_C_SignFinal
func iotsafeGo_C_SignFinal(h C.CK_SESSION_HANDLE, pSignature *C.CK_BYTE, pulSignatureLen *C.CK_ULONG) C.CK_RV {
	return call("C_SignFinal", func() C.CK_RV {
		if pulSignatureLen == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		out, n, rv := module.SignFinal(uint(h), outCap(pSignature, pulSignatureLen))
		return output(out, n, rv, pSignature, pulSignatureLen)
	})
}

//export iotsafeGo_C_VerifyInit
func iotsafeGo_C_VerifyInit(h C.CK_SESSION_HANDLE, pMechanism *C.CK_MECHANISM, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_VerifyInit", func() C.CK_RV {
		m, ok := mechanism(pMechanism)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.VerifyInit(uint(h), m, uint(hKey)))
	})
}

//export iotsafeGo_C_Verify
func iotsafeGo_C_Verify(h C.CK_SESSION_HANDLE, pData *C.CK_BYTE, ulDataLen C.CK_ULONG, pSignature *C.CK_BYTE, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return call("C_Verify", func() C.CK_RV {
		data, ok1 := goBytes(pData, ulDataLen)
		sig, ok2 := goBytes(pSignature, ulSignatureLen)
		if !ok1 || !ok2 {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.Verify(uint(h), data, sig))
	})
}

//export iotsafeGo_C_VerifyUpdate
func iotsafeGo_C_VerifyUpdate(h C.CK_SESSION_HANDLE, pPart *C.CK_BYTE, ulPartLen C.CK_ULONG) C.CK_RV {
	return call("C_VerifyUpdate", func() C.CK_RV {
		data, ok := goBytes(pPart, ulPartLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.VerifyUpdate(uint(h), data))
	})
}

//export iotsafeGo_C_VerifyFinal
func iotsafeGo_C_VerifyFinal(h C.CK_SESSION_HANDLE, pSignature *C.CK_BYTE, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return call("C_VerifyFinal", func() C.CK_RV {
		sig, ok := goBytes(pSignature, ulSignatureLen)
		if !ok {
			return C.CKR_ARGUMENTS_BAD
		}
		return C.CK_RV(module.VerifyFinal(uint(h), sig))
	})
}

//export iotsafeGo_C_GenerateKeyPair
func iotsafeGo_C_GenerateKeyPair(h C.CK_SESSION_HANDLE, pMechanism *C.CK_MECHANISM,
	pPublicKeyTemplate *C.CK_ATTRIBUTE, ulPublicKeyAttributeCount C.CK_ULONG,
	pPrivateKeyTemplate *C.CK_ATTRIBUTE, ulPrivateKeyAttributeCount C.CK_ULONG,
	phPublicKey, phPrivateKey *C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_GenerateKeyPair", func() C.CK_RV {
		m, ok1 := mechanism(pMechanism)
		pub, ok2 := template(pPublicKeyTemplate, ulPublicKeyAttributeCount)
		priv, ok3 := template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)
		if !ok1 || !ok2 || !ok3 || phPublicKey == nil || phPrivateKey == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		hp, hk, rv := module.GenerateKeyPair(uint(h), m, pub, priv)
		if rv == pkcs11mod.CKR_OK {
			*phPublicKey, *phPrivateKey = C.CK_OBJECT_HANDLE(hp), C.CK_OBJECT_HANDLE(hk)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_DeriveKey
func iotsafeGo_C_DeriveKey(h C.CK_SESSION_HANDLE, pMechanism *C.CK_MECHANISM, hBaseKey C.CK_OBJECT_HANDLE,
	pTemplate *C.CK_ATTRIBUTE, ulAttributeCount C.CK_ULONG, phKey *C.CK_OBJECT_HANDLE) C.CK_RV {
	return call("C_DeriveKey", func() C.CK_RV {
		m, ok1 := mechanism(pMechanism)
		tmpl, ok2 := template(pTemplate, ulAttributeCount)
		if !ok1 || !ok2 || phKey == nil {
			return C.CKR_ARGUMENTS_BAD
		}
		k, rv := module.DeriveKey(uint(h), m, uint(hBaseKey), tmpl)
		if rv == pkcs11mod.CKR_OK {
			*phKey = C.CK_OBJECT_HANDLE(k)
		}
		return C.CK_RV(rv)
	})
}

//export iotsafeGo_C_SeedRandom
func iotsafeGo_C_SeedRandom(h C.CK_SESSION_HANDLE, pSeed *C.CK_BYTE, ulSeedLen C.CK_ULONG) C.CK_RV {
	return call("C_SeedRandom", func() C.CK_RV {
		if _, rv := module.SessionInfo(uint(h)); rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		if pSeed == nil && ulSeedLen > 0 {
			return C.CKR_ARGUMENTS_BAD
		}
		// The SIM's generator takes no seed.
		return C.CKR_RANDOM_SEED_NOT_SUPPORTED
	})
}

//export iotsafeGo_C_GenerateRandom
func iotsafeGo_C_GenerateRandom(h C.CK_SESSION_HANDLE, pRandomData *C.CK_BYTE, ulRandomLen C.CK_ULONG) C.CK_RV {
	return call("C_GenerateRandom", func() C.CK_RV {
		if (pRandomData == nil && ulRandomLen > 0) || ulRandomLen > maxLen {
			return C.CKR_ARGUMENTS_BAD
		}
		b, rv := module.GenerateRandom(uint(h), int(ulRandomLen))
		if rv != pkcs11mod.CKR_OK {
			return C.CK_RV(rv)
		}
		if len(b) != int(ulRandomLen) {
			return C.CKR_DEVICE_ERROR
		}
		if len(b) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(pRandomData)), len(b)), b)
		}
		return C.CKR_OK
	})
}

//export iotsafeGo_C_WaitForSlotEvent
func iotsafeGo_C_WaitForSlotEvent(flags C.CK_FLAGS, pSlot *C.CK_SLOT_ID, pReserved C.CK_VOID_PTR) C.CK_RV {
	// A blocking wait must not hold the application's mutex: the other
	// threads go on calling (C_Finalize ends the wait).
	run := call
	if flags&C.CKF_DONT_BLOCK == 0 {
		run = callUnlocked
	}
	return run("C_WaitForSlotEvent", func() C.CK_RV {
		if pSlot == nil || pReserved != nil {
			return C.CKR_ARGUMENTS_BAD
		}
		id, rv := module.WaitForSlotEvent(uint(flags))
		if rv == pkcs11mod.CKR_OK {
			*pSlot = C.CK_SLOT_ID(id)
		}
		return C.CK_RV(rv)
	})
}
