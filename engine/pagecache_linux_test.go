//go:build linux

package engine

import "golang.org/x/sys/unix"

// mlockWorks reports whether this process may lock a few MiB (root, or a
// generous RLIMIT_MEMLOCK).
func mlockWorks() bool {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) != nil {
		return false
	}
	return unix.Geteuid() == 0 || r.Cur >= 64<<20
}
