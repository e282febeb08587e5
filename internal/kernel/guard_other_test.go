//go:build !unix

package kernel

import "testing"

// guardedInt8 returns n int8s of their own; without mmap there is no
// guard page, so over-reads are caught only by the race detector.
func guardedInt8(tb testing.TB, n int, atEnd bool) (b []int8, free func()) {
	return make([]int8, n), func() {}
}
