// Package environ hides the server's environment from other processes.
//
// The kernel serves /proc/<pid>/environ from the process's original
// environment block, which any process of the same user can read. The server
// reads its credentials from the environment (S3 keys, ${ENV} in the config)
// and runs UDF code in processes that may share its user: Hide moves the
// environment into the heap and zeroes the original block, so /proc shows
// nothing, and marks the process non-dumpable, so that processes of the same
// user cannot read its memory either.
package environ

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Hide copies every variable into memory the process owns, zeroes the block
// /proc/self/environ reads and makes the process non-dumpable. Variables stay
// readable with os.Getenv (and getenv in C code).
func Hide() error {
	vars := os.Environ()
	kept := make([]string, len(vars))
	for i, kv := range vars {
		kept[i] = strings.Clone(kv) // os.Environ's strings point into the block
	}
	os.Clearenv()
	for _, kv := range kept {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("environ: %v", err)
			}
		}
	}
	start, end, err := block()
	if err != nil {
		return err
	}
	if end > start {
		mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("environ: %v", err)
		}
		defer mem.Close()
		if _, err := mem.WriteAt(make([]byte, end-start), int64(start)); err != nil {
			return fmt.Errorf("environ: zeroing the block: %v", err)
		}
	}
	// PR_SET_DUMPABLE 0: /proc/<pid>/{environ,mem,maps,...} and ptrace need
	// CAP_SYS_PTRACE, not just the same user.
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("environ: prctl: %v", e)
	}
	return nil
}

// block reads env_start and env_end, fields 50 and 51 of /proc/self/stat.
func block() (uint64, uint64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("environ: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 49 {
		return 0, 0, fmt.Errorf("environ: /proc/self/stat has %d fields", len(f)+2)
	}
	start, err1 := strconv.ParseUint(f[47], 10, 64)
	end, err2 := strconv.ParseUint(f[48], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("environ: /proc/self/stat: env_start %q, env_end %q", f[47], f[48])
	}
	return start, end, nil
}
