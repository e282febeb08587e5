//go:build linux

package fsutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Fdatasync flushes f's data (and the metadata needed to read it back) to
// stable storage. It is cheaper than fsync because it skips timestamps.
func Fdatasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}

// Preallocate reserves size bytes of disk for f so that later writes cannot
// fail for lack of space and reads through a mapping never hit a hole past
// EOF. File systems without fallocate fall back to a sparse truncate.
func Preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}
