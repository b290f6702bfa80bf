// Package emulator is a software SIM with a GSMA IoT SAFE applet: the card
// side of the wire, strict by default, able to play the variants of real
// applets. A Card implements transport.Transport, so the host side (package
// iotsafe) uses it exactly like a card in a reader or behind a modem; this
// package never imports the host side and is tested against the golden byte
// vectors of the protocol reference.
//
// # What it does
//
// Logical channels (MANAGE CHANNEL, 4 by default), SELECT by AID on any
// channel, and every IoT SAFE command: Get Random, Get Data (application
// information, object list with 6300 continuation, object information),
// Read File, Compute Signature in the three modes (full text over several
// blocks, last block from a host SHA-256 state, pad-and-sign), Verify
// Signature, Generate Key Pair, Read Public Key, Put Public Key (chained),
// Compute DH, Compute PRF (TLS 1.2, P_SHA256) and Compute HKDF (RFC 5869;
// Extract only without an output length, Extract and Expand with one).
// Keys are NIST P-256. brainpoolP256r1 is not offered: the Go standard
// library has no implementation, and the only third-party ones rely on the
// deprecated generic crypto/elliptic code, which is neither constant-time nor
// maintained; a card whose objects name a brainpool key type would have to
// refuse them.
//
// Every length and TLV of a command is checked; misuse answers the status
// word of the protocol reference: 6A82 unknown object, 6A80 bad or unknown
// data, 6A86 bad P1/P2 or offset, 6700 bad length, 6985 object deactivated
// or lacking the function (or Compute DH before Put Public Key), 6984 while
// a remote administration touches the object, 63CF once after one ended,
// 6D00 nothing selected or unknown instruction, 6E00 wrong class family,
// 6881 channel not open, 6884 chaining.
//
// # Profiles
//
// ProfileGSMA (the default) takes IoT SAFE commands in class 8X only and
// writes signatures 33 00 40; ProfileThalesMVP has the Thales MVP AID,
// class 0X only, 33 40, a 14-byte applet identifier, objects grouped per
// kind and file information without its C3 wrapper; ProfileOrange has the
// GSMA AID with class 0X and 33 40 (Orange's library's flow). Options.T0 makes any
// profile answer 61xx to every command with response data, as a T=0 card
// behind a modem does. ProfileKeyTypes adds RSA-2048 and brainpoolP256r1
// containers. Options.ExtendedLength makes the card take extended-length
// APDUs and announce them in its ATR (6700 for them otherwise, as a card
// taking short APDUs only answers). Variant fields override single behaviours (3-byte
// IDs as on ZARIOT cards, DER signatures, keys that get new IDs when
// generated, a 1-byte hash field, small object-list parts).
//
// # Factory layout
//
// IDs are shown for the default 1-byte IDs; with Variant.IDLen n they are
// left-padded with zeros to n bytes (00 00 01 for n = 3).
//
//	private + public key 01 "device-key"  P-256, signature (SHA-256/384/512), TLS 1.3 usage;
//	                                       its certificate is file 02
//	private + public key 02 "ztp-key"     empty container: signature + key generation, for
//	                                       zero-touch provisioning
//	private + public key 04 "ecdh-key"    P-256 key agreement (+ key generation), generated
//	public key          05 "peer-key"    empty slot for a peer's public key (Put Public Key)
//	secret key          06 "psk"         32 random bytes, PRF and HKDF
//	file                02 "device-cert" DER certificate of key 01, from a factory CA
//	file                03 "ca-cert"     that factory CA's certificate (its key is discarded)
//	file                10 "data"        512-byte general-purpose file, read and update
//
// All keys are persistent: the emulator keeps no volatile keys.
//
// # Persistence and several processes
//
// Create and Open keep the SIM in one JSON state file (format marker
// "go-iotsafe-emulator", version 1), written atomically (temporary file,
// fsync, rename, fsync of the directory) with mode 0600, and refused with a
// clear error when corrupt or foreign. The file holds the private keys: it
// is the SIM. A lock file beside it (".lock") serializes writers; every
// command checks with one stat whether another process changed the file
// and reloads it, and every update reloads, applies and saves under the
// exclusive lock, so no update is lost however many processes share a SIM.
//
// # Operator administration, faults, timing
//
// BeginAdmin opens a remote administration session (the over-the-air path
// of a mobile operator) that puts files, creates, deactivates and deletes
// keys and secrets; its marks live in the state file, so a device process
// sees 6984 on those objects while an operator process runs the session,
// and 63CF once after Commit. SetFaults injects truncated, garbled,
// dropped or delayed answers and disconnections; Timing delays answers like
// a real SIM behind a 115200-baud modem (off by default).
package emulator
