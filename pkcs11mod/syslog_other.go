//go:build !unix

package pkcs11mod

import "io"

// systemLog is nil where there is no syslog (Windows): without a
// configured log file the library logs nowhere.
func systemLog() io.WriteCloser { return nil }
