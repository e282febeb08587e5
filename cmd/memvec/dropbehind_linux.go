//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache hands the clean pages of [off, off+n) of f back to the kernel
// (POSIX_FADV_DONTNEED); advice, so an error is ignored.
func dropCache(f *os.File, off, n int64) {
	unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

// writeBackAndDrop writes [off, off+n) of f back to the disk, waiting for
// it (sync_file_range: not a durability point, which export does not
// need), then drops those pages, now clean.
func writeBackAndDrop(f *os.File, off, n int64) {
	const flags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if unix.SyncFileRange(int(f.Fd()), off, n, flags) == nil {
		dropCache(f, off, n)
	}
}
