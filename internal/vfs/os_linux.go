//go:build linux

package vfs

import (
	"errors"
	"io"
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

// preallocate reserves the blocks of [off, off+n) of f without changing
// its size (FALLOC_FL_KEEP_SIZE), so that later writes there cannot fail
// for lack of space. File systems without fallocate are left alone: their
// writes allocate.
//
// A range beyond the space left fails at once with ENOSPC: fallocate would
// first take every free block of the file system, failing the writes of
// every other process on it, before giving them back.
func preallocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil && st.Bsize > 0 && uint64(n)/uint64(st.Bsize) > st.Bavail {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: unix.ENOSPC}
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// nextData is lseek(SEEK_DATA), with the descriptor's offset (which Write
// uses) put back after it: ENXIO means no data at or after off.
func nextData(f *os.File, off int64) (int64, error) {
	fd := int(f.Fd())
	cur, err := unix.Seek(fd, 0, io.SeekCurrent)
	if err != nil {
		return 0, &fs.PathError{Op: "lseek", Path: f.Name(), Err: err}
	}
	n, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if _, rerr := unix.Seek(fd, cur, io.SeekStart); rerr != nil && err == nil {
		err = rerr
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, unix.ENXIO):
		fi, serr := f.Stat()
		if serr != nil {
			return 0, serr
		}
		return max(fi.Size(), off), nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return off, nil
	}
	return 0, &fs.PathError{Op: "lseek", Path: f.Name(), Err: err}
}

// fadviseFlags maps Advice to POSIX_FADV_*.
var fadviseFlags = [...]int{
	AdviseWillNeed:   unix.FADV_WILLNEED,
	AdviseDontNeed:   unix.FADV_DONTNEED,
	AdviseRandom:     unix.FADV_RANDOM,
	AdviseSequential: unix.FADV_SEQUENTIAL,
}

// fadvise is posix_fadvise(2).
func fadvise(f *os.File, off, n int64, advice Advice) error {
	if advice < 0 || int(advice) >= len(fadviseFlags) {
		return &fs.PathError{Op: "fadvise", Path: f.Name(), Err: unix.EINVAL}
	}
	if err := unix.Fadvise(int(f.Fd()), off, n, fadviseFlags[advice]); err != nil {
		return &fs.PathError{Op: "fadvise", Path: f.Name(), Err: err}
	}
	return nil
}
