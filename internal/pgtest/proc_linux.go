package pgtest

import "syscall"

// sysProcAttr puts initdb and postgres in their own process group, and has
// the kernel kill postgres if the test binary dies without running its
// cleanups (a panic, a -timeout); its children then exit on their own.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
