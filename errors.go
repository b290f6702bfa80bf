package iotsafe

import (
	"errors"
	"fmt"

	"github.com/go-iotsafe/iotsafe/apdu"
)

// Sentinel errors. A *CardError matches the sentinel of its status word with
// errors.Is; transport errors (transport.ErrCardRemoved, ...) are wrapped as
// they come.
var (
	ErrNotFound               = errors.New("iotsafe: object or applet not found")
	ErrConditionsNotSatisfied = errors.New("iotsafe: conditions of use not satisfied")
	ErrSecurityStatus         = errors.New("iotsafe: security status not satisfied")
	ErrRemoteAdminInProgress  = errors.New("iotsafe: remote administration in progress (retry later)")
	ErrRemoteAdminFailed      = errors.New("iotsafe: object changed by a remote administration, or capacity reached")
	ErrIncorrectData          = errors.New("iotsafe: card refused the command data")
	ErrWrongLength            = errors.New("iotsafe: wrong length")
	ErrIncorrectParameters    = errors.New("iotsafe: incorrect parameters P1 P2")
	ErrNotSupported           = errors.New("iotsafe: not supported by the applet")
	ErrSignatureMismatch      = errors.New("iotsafe: signature does not match")
	ErrOutOfMemory            = errors.New("iotsafe: not enough memory on the card")
	ErrIntegrity              = errors.New("iotsafe: applet store integrity issue")
	ErrOffsetOutOfBounds      = errors.New("iotsafe: file offset out of bounds")
	ErrCardError              = errors.New("iotsafe: card error")

	// ErrMalformedResponse means the card's answer could not be decoded.
	ErrMalformedResponse = errors.New("iotsafe: malformed card response")
	// ErrAppletNotFound means no known IoT SAFE applet could be selected.
	ErrAppletNotFound = errors.New("iotsafe: no IoT SAFE applet on the card")
	// ErrClosed is returned by an Applet used after Close.
	ErrClosed = errors.New("iotsafe: applet closed")
)

// CardError is a status word other than success, with what was asked of
// which object.
type CardError struct {
	Op     string          // the operation, e.g. "compute signature"
	Object string          // the object concerned, e.g. "private key 01"; may be empty
	INS    byte            // the instruction that failed
	SW     apdu.StatusWord // what the card answered
}

func (e *CardError) Error() string {
	obj := ""
	if e.Object != "" {
		obj = " of " + e.Object
	}
	return fmt.Sprintf("iotsafe: %s%s: card answered %s", e.Op, obj, e.SW)
}

// Is matches the sentinel error of the status word.
func (e *CardError) Is(target error) bool {
	return target == sentinelFor(e.SW, e.INS)
}

func sentinelFor(sw apdu.StatusWord, ins byte) error {
	switch sw {
	case apdu.SWNotFound, apdu.SWReferenceNotFound:
		return ErrNotFound
	case apdu.SWConditionsNotSatisfied:
		return ErrConditionsNotSatisfied
	case apdu.SWSecurityStatus:
		return ErrSecurityStatus
	case apdu.SWDataInvalidated:
		return ErrRemoteAdminInProgress
	case apdu.SWRemoteAdminFailed:
		return ErrRemoteAdminFailed
	case apdu.SWIncorrectData:
		return ErrIncorrectData
	case apdu.SWWrongLength:
		return ErrWrongLength
	case apdu.SWIncorrectP1P2, apdu.SWWrongP1P2:
		if ins == 0xB0 {
			return ErrOffsetOutOfBounds
		}
		return ErrIncorrectParameters
	case apdu.SWInvalidInstruction, apdu.SWInvalidClass, apdu.SWFunctionNotSupported:
		return ErrNotSupported
	case apdu.SWSignatureMismatch:
		return ErrSignatureMismatch
	case apdu.SWNotEnoughMemory:
		return ErrOutOfMemory
	case apdu.SWIntegrity:
		return ErrIntegrity
	case apdu.SWIncompatibleFile:
		if ins == 0xB0 {
			return ErrOffsetOutOfBounds
		}
	}
	return ErrCardError
}

// IsRetryable reports whether err means the operation may succeed if tried
// again later unchanged: a remote administration session was running on the
// object (6984).
func IsRetryable(err error) bool { return errors.Is(err, ErrRemoteAdminInProgress) }

func malformed(op, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedResponse, op, fmt.Sprintf(format, args...))
}
