//go:build !linux

package vfs

import "io/fs"

// Allocated returns the disk space fi's file takes; off Linux, its size
// (a sparse file takes less).
func Allocated(fi fs.FileInfo) int64 { return fi.Size() }
