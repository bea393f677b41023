//go:build !linux

package pgtest

import "syscall"

// sysProcAttr puts initdb and postgres in their own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
