//go:build linux

package segment

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	adviseWillNeed = unix.MADV_WILLNEED
	adviseRandom   = unix.MADV_RANDOM
	adviseDontNeed = unix.MADV_DONTNEED
)

// madvise gives the kernel advice about mapped bytes b, whose start is
// page-aligned; advice not taken is ignored.
func madvise(b []byte, advice int) { unix.Madvise(b, advice) }

// mlockOnFault locks the pages of b as they are faulted in (mlock2 with
// MLOCK_ONFAULT, Linux 4.4 on); a variable so tests can refuse it.
var mlockOnFault = func(b []byte) error {
	_, _, e := unix.Syscall(unix.SYS_MLOCK2, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MLOCK_ONFAULT)
	if e != 0 {
		return e
	}
	return nil
}

// pageCached reports whether the first page of b (page-aligned) is in
// the page cache: true when mincore fails.
func pageCached(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	var vec [1]byte
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), 1, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return true
	}
	return vec[0]&1 == 1
}

// residency returns, for each page of b (page-aligned), whether it is not
// in the page cache (mincore), reusing buf; nil when mincore fails (then
// nothing is taken for cold).
func residency(b []byte, buf []bool) []bool {
	if len(b) == 0 {
		return nil
	}
	n := (int64(len(b)) + pageSize - 1) / pageSize
	vec := make([]byte, n)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return nil
	}
	out := buf[:0]
	for _, v := range vec {
		out = append(out, v&1 == 0)
	}
	return out
}
