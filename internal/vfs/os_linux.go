//go:build linux

package vfs

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data (and the metadata needed to read it back) to
// stable storage. It is cheaper than fsync because it skips timestamps.
func fdatasync(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// preallocate reserves size bytes of disk for f so that later writes cannot
// fail for lack of space and reads through a mapping never hit a hole past
// EOF. File systems without fallocate fall back to a sparse truncate.
//
// A size beyond the space left fails at once with ENOSPC: fallocate would
// first take every free block of the file system, failing the writes of
// every other process on it, before giving them back.
func preallocate(f *os.File, size int64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil && st.Bsize > 0 && uint64(size)/uint64(st.Bsize) > st.Bavail {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: unix.ENOSPC}
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size)
	}
	if err != nil {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}
