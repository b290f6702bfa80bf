package apdu

import "fmt"

// StatusWord is the two trailing bytes SW1 SW2 of a response APDU.
type StatusWord uint16

// Status words of ISO/IEC 7816-4 and of the GSMA IoT SAFE applet that the
// project names. Where IoT SAFE gives an ISO code a more specific meaning, the
// comment says so.
const (
	SWSuccess                StatusWord = 0x9000
	SWMoreData               StatusWord = 0x6300 // IoT SAFE: more data available (Get Data object list)
	SWRemoteAdminDone        StatusWord = 0x63CF // IoT SAFE: success; a remote administration session has completed
	SWIntegrity              StatusWord = 0x6400 // IoT SAFE: applet store integrity issue
	SWMemoryFailure          StatusWord = 0x6581
	SWWrongLength            StatusWord = 0x6700
	SWLogicalChannelNotSupp  StatusWord = 0x6881
	SWSecureMessagingNotSup  StatusWord = 0x6882
	SWChainingNotSupported   StatusWord = 0x6884
	SWIncompatibleFile       StatusWord = 0x6981 // IoT SAFE: also Read File offset out of bounds
	SWSecurityStatus         StatusWord = 0x6982
	SWDataInvalidated        StatusWord = 0x6984 // IoT SAFE: remote administration in progress on the object
	SWConditionsNotSatisfied StatusWord = 0x6985
	SWCommandNotAllowed      StatusWord = 0x6986
	SWRemoteAdminFailed      StatusWord = 0x6989 // IoT SAFE: remote admin updated the object and the command failed, or capacity reached
	SWIncorrectData          StatusWord = 0x6A80
	SWFunctionNotSupported   StatusWord = 0x6A81
	SWNotFound               StatusWord = 0x6A82
	SWNotEnoughMemory        StatusWord = 0x6A84
	SWIncorrectP1P2          StatusWord = 0x6A86
	SWReferenceNotFound      StatusWord = 0x6A88
	SWWrongP1P2              StatusWord = 0x6B00
	SWInvalidInstruction     StatusWord = 0x6D00
	SWSignatureMismatch      StatusWord = 0x6D01 // IoT SAFE: provided signature does not match
	SWInvalidClass           StatusWord = 0x6E00
	SWUnknown                StatusWord = 0x6F00
)

// SW1 returns the first status byte.
func (sw StatusWord) SW1() byte { return byte(sw >> 8) }

// SW2 returns the second status byte.
func (sw StatusWord) SW2() byte { return byte(sw) }

// OK reports whether sw is 9000 or 63CF (success after a completed remote
// administration).
func (sw StatusWord) OK() bool { return sw == SWSuccess || sw == SWRemoteAdminDone }

// ResponseAvailable reports whether sw is 61xx: xx bytes (00 = 256) wait to
// be fetched with GET RESPONSE.
func (sw StatusWord) ResponseAvailable() bool { return sw.SW1() == 0x61 }

// WrongLe reports whether sw is 6Cxx: the command must be sent again with
// Le = xx.
func (sw StatusWord) WrongLe() bool { return sw.SW1() == 0x6C }

// Name returns the status word's short name, or "" when it has none.
func (sw StatusWord) Name() string {
	if n, ok := swNames[sw]; ok {
		return n
	}
	switch sw.SW1() {
	case 0x61:
		return fmt.Sprintf("%d response bytes available", countOf(sw.SW2()))
	case 0x6C:
		return fmt.Sprintf("wrong Le, %d bytes available", countOf(sw.SW2()))
	case 0x91:
		return "success, proactive command pending"
	case 0x9F:
		return fmt.Sprintf("%d response bytes available (GSM)", countOf(sw.SW2()))
	case 0x63:
		if sw&0xFFF0 == 0x63C0 {
			return fmt.Sprintf("verification failed, %d tries left", sw&0x0F)
		}
		return "warning, non-volatile memory changed"
	case 0x62:
		return "warning, non-volatile memory unchanged"
	case 0x64:
		return "execution error, non-volatile memory unchanged"
	case 0x65:
		return "execution error, non-volatile memory changed"
	case 0x67:
		return "wrong length"
	case 0x68:
		return "functions in CLA not supported"
	case 0x69:
		return "command not allowed"
	case 0x6A:
		return "wrong parameters"
	}
	return ""
}

// String returns the hex status word and its name, e.g. "6A82 (not found)".
func (sw StatusWord) String() string {
	if n := sw.Name(); n != "" {
		return fmt.Sprintf("%04X (%s)", uint16(sw), n)
	}
	return fmt.Sprintf("%04X", uint16(sw))
}

func countOf(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

var swNames = map[StatusWord]string{
	SWSuccess:                "success",
	SWMoreData:               "more data available",
	SWRemoteAdminDone:        "success, remote administration completed",
	SWIntegrity:              "applet store integrity issue",
	SWMemoryFailure:          "memory failure",
	SWWrongLength:            "wrong length",
	SWLogicalChannelNotSupp:  "logical channel not supported",
	SWSecureMessagingNotSup:  "secure messaging not supported",
	SWChainingNotSupported:   "command chaining not supported",
	SWIncompatibleFile:       "command incompatible with file structure or offset out of bounds",
	SWSecurityStatus:         "security status not satisfied",
	SWDataInvalidated:        "referenced data invalidated (remote administration in progress)",
	SWConditionsNotSatisfied: "conditions of use not satisfied",
	SWCommandNotAllowed:      "command not allowed",
	SWRemoteAdminFailed:      "remote administration changed the object, or maximum capacity reached",
	SWIncorrectData:          "incorrect data",
	SWFunctionNotSupported:   "function not supported",
	SWNotFound:               "not found",
	SWNotEnoughMemory:        "not enough memory",
	SWIncorrectP1P2:          "incorrect P1 P2",
	SWReferenceNotFound:      "referenced data not found",
	SWWrongP1P2:              "wrong P1 P2",
	SWInvalidInstruction:     "instruction not supported",
	SWSignatureMismatch:      "signature does not match",
	SWInvalidClass:           "class not supported",
	SWUnknown:                "unknown error",
}
