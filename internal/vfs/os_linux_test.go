//go:build linux

package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPreallocateBeyondFreeSpace: asking for more than the file system has
// left fails with ENOSPC before any block is taken, so other writers on
// the file system never see it full.
func TestPreallocateBeyondFreeSpace(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Skip(err)
	}
	f, err := OS.OpenFile(filepath.Join(dir, "big"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(st.Bavail+st.Bavail/2+1) * st.Bsize
	if err := f.Preallocate(0, size); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Preallocate(%d bytes, %d free) = %v; want ENOSPC", size, st.Bavail*uint64(st.Bsize), err)
	}
	var fst unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "big"), &fst); err != nil {
		t.Fatal(err)
	}
	if fst.Blocks != 0 || fst.Size != 0 {
		t.Fatalf("a refused Preallocate left %d blocks, size %d", fst.Blocks, fst.Size)
	}
}
