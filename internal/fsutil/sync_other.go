//go:build !linux

package fsutil

import "os"

// Fdatasync flushes f to stable storage (a full fsync off Linux).
func Fdatasync(f *os.File) error { return f.Sync() }

// Preallocate sizes f to size bytes (sparse off Linux).
func Preallocate(f *os.File, size int64) error { return f.Truncate(size) }
