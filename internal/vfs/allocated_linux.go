package vfs

import (
	"io/fs"
	"syscall"
)

// Allocated returns the disk space fi's file takes: its allocated blocks
// (st_blocks x 512) when fi comes from the OS, else its size. A segment
// file is sparse until its rows fill it, so its size overstates it.
func Allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
