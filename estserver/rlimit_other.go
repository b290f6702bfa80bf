//go:build !unix

package estserver

// maxOpenFiles is 0 (unknown) where there is no RLIMIT_NOFILE.
func maxOpenFiles() uint64 { return 0 }
