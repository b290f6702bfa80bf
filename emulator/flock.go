package emulator

import "syscall"

const (
	lockSH = syscall.LOCK_SH
	lockEX = syscall.LOCK_EX
	lockUN = syscall.LOCK_UN
)
