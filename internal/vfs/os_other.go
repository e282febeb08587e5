//go:build !linux

package vfs

import "os"

// fdatasync flushes f to stable storage (a full fsync off Linux).
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate sizes f to size bytes (sparse off Linux).
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }
