//go:build linux

package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// diskBytes is the disk f takes (st_blocks, in 512-byte units).
func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// Preallocate reserves the blocks of a range of a sparse file without
// changing its size or its contents, on the OS and through a Fault; a
// refused Preallocate (ENOSPC from the hook) reserves nothing.
func TestPreallocateRange(t *testing.T) {
	const size, off, n = 1 << 20, 256 << 10, 128 << 10
	for _, fault := range []bool{false, true} {
		var fsys FS = OS
		if fault {
			f := NewFault(OS, 1)
			f.SetHook(Nth(OpPreallocate, "", 1, Decision{Err: syscall.ENOSPC}))
			fsys = f
		}
		path := filepath.Join(t.TempDir(), "f")
		f, err := fsys.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if d := diskBytes(t, path); d != 0 {
			t.Skipf("a sparse truncate takes %d bytes of disk here", d)
		}
		if fault {
			if err := f.Preallocate(off, n); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Preallocate failed by the hook: %v", err)
			}
			if d := diskBytes(t, path); d != 0 {
				t.Fatalf("a failed Preallocate took %d bytes", d)
			}
		}
		if err := f.Preallocate(off, n); err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if d := diskBytes(t, path); fi.Size() != size || d < n || d >= size {
			t.Fatalf("fault %v: after Preallocate(%d, %d) of a %d-byte file: size %d, %d bytes of disk", fault, off, n, size, fi.Size(), d)
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("byte %d of the reserved range reads %d", off+i, c)
			}
		}
		f.Close()
	}
}

// A crash right after a Preallocate, or after writes into the range it
// reserved that were never synced, leaves the file as of its last sync:
// its size, and zeros in the range.
func TestCrashAfterPreallocate(t *testing.T) {
	for _, cutAt := range []Kind{OpPreallocate, OpWrite} {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		f := NewFault(OS, 1)
		h, err := f.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Truncate(64 << 10); err != nil {
			t.Fatal(err)
		}
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		f.SetHook(Nth(cutAt, "", 1, Decision{Crash: true}))
		err = h.Preallocate(4096, 8192)
		if cutAt == OpWrite {
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.WriteAt([]byte("rows"), 4096)
		}
		if !errors.Is(err, ErrCrashed) {
			t.Fatalf("cut at %v: %v", cutAt, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 64<<10 {
			t.Fatalf("cut at %v: %d bytes after the crash", cutAt, len(b))
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("cut at %v: byte %d reads %d after the crash", cutAt, i, c)
			}
		}
	}
}

// NextData skips holes: in a sparse file with data in one block it finds
// that block from before it, and the file's size from past it, on the OS
// and through a Fault; Write's offset does not move.
func TestNextData(t *testing.T) {
	for _, fsys := range []FS{OS, NewFault(OS, 1)} {
		path := filepath.Join(t.TempDir(), "f")
		f, err := fsys.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("head")); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 20); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("data"), 512<<10+100); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ off, want int64 }{{0, 0}, {8192, 512 << 10}, {512<<10 + 100, 512<<10 + 100}, {516 << 10, 1 << 20}} {
			got, err := f.NextData(c.off)
			if err != nil || got != c.want && !(got == c.off && c.off < c.want) {
				t.Fatalf("NextData(%d) = %d, %v; want %d", c.off, got, err, c.want)
			}
		}
		if _, err := f.Write([]byte("tail")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, 0); err != nil || string(b) != "headtail" {
			t.Fatalf("Write after NextData: %q, %v", b, err)
		}
		f.Close()
	}
}
