// Package pkcs11mod is the PKCS#11 token engine of libiotsafe-pkcs11: the
// whole PKCS#11 library except its C ABI, in pure Go and testable with go
// test. The C ABI (package pkcs11mod/cabi, built with -buildmode=c-shared)
// only converts pointers and structures and calls a Module.
//
// A Module has one slot per configured SIM (see Config and LoadConfig: a
// configuration file, or IOTSAFE_SIM=<SIM URI> for one slot). Each slot's
// token maps the IoT SAFE applet store to PKCS#11 objects:
//
//   - key containers: CKO_PRIVATE_KEY (CKK_EC, P-256, sensitive, never
//     extractable, CKA_SIGN/CKA_DERIVE as the container allows) and
//     CKO_PUBLIC_KEY with CKA_EC_POINT as a DER OCTET STRING;
//   - certificate files: CKO_CERTIFICATE with the CKA_ID and CKA_LABEL of
//     the key pair they certify; other files: CKO_DATA; secrets:
//     CKO_SECRET_KEY (derive only);
//   - objects applications create (certificates, data) in a host-side
//     Store bound to the token's serial (see CertStore for delivering a
//     provisioned certificate there).
//
// Mechanisms are advertised only when the SIM can do them: CKM_ECDSA (any
// digest length, X9.62 truncation) and CKM_ECDSA_SHA* on the SIM,
// CKM_ECDH1_DERIVE and CKM_EC_KEY_PAIR_GEN on the SIM, verification and
// digests on the host, random numbers from the SIM.
//
// IoT SAFE has no PIN, so a token declares that no login is required
// unless a user PIN (hashed with HashPIN) is configured, which is then
// verified with a persistent retry counter.
//
// Every Module method is safe for concurrent use, answers with a CK_RV and
// never panics on bad input; card status words become specific CK_RVs
// (CKR_DEVICE_REMOVED for a pulled card, CKR_DEVICE_ERROR for a malformed
// answer, CKR_KEY_FUNCTION_NOT_PERMITTED for refused conditions, ...).
package pkcs11mod
