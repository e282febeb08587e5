//go:build !linux

package vfs

import "os"

// fdatasync flushes f to stable storage (a full fsync off Linux).
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate does nothing off Linux: writes allocate their blocks.
func preallocate(f *os.File, off, n int64) error { return nil }

// nextData cannot tell holes off Linux: everything may hold data.
func nextData(f *os.File, off int64) (int64, error) { return off, nil }

// fadvise does nothing off Linux: the page cache takes no advice here.
func fadvise(f *os.File, off, n int64, advice Advice) error { return nil }
