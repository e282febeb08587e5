//go:build unix

package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

// guardedInt8 returns n int8s in memory of their own whose last element
// is the last byte before an inaccessible page (atEnd) or whose first is
// the first byte after one, so that a kernel reading one byte past either
// end of the slice faults instead of passing silently. free unmaps it (a
// test that kept thousands of them would run out of mappings).
func guardedInt8(tb testing.TB, n int, atEnd bool) (b []int8, free func()) {
	tb.Helper()
	page := unix.Getpagesize()
	size := (n + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size+2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		tb.Fatalf("mmap: %v", err)
	}
	free = func() { unix.Munmap(mem) }
	if err := unix.Mprotect(mem[:page], unix.PROT_NONE); err != nil {
		free()
		tb.Fatalf("mprotect: %v", err)
	}
	if err := unix.Mprotect(mem[page+size:], unix.PROT_NONE); err != nil {
		free()
		tb.Fatalf("mprotect: %v", err)
	}
	if atEnd {
		return int8s(mem[page+size-n : page+size]), free
	}
	return int8s(mem[page : page+n]), free
}
