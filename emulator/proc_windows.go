//go:build windows

package emulator

import (
	"os"

	"golang.org/x/sys/windows"
)

// processExists reports whether a process with this PID still runs.
func processExists(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Access denied: it exists, under another user.
		return err == windows.ERROR_ACCESS_DENIED
	}
	defer windows.CloseHandle(h)
	var code uint32
	if windows.GetExitCodeProcess(h, &code) != nil {
		return true
	}
	const stillActive = 259
	return code == stillActive
}

// inode is 0 on Windows: the modification time and size alone tell a
// changed state file.
func inode(os.FileInfo) uint64 { return 0 }
