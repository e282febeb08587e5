//go:build linux

package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

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

// TestFadviseDontNeed: DONTNEED drops the clean, unmapped page-cache pages
// of the range, and only those (mincore sees the page cache through a
// mapping that touches nothing). The kernel drops whole folios only, and
// a page-cache folio is at most 2 MiB, naturally aligned: the test drops
// the second 2 MiB of a 4 MiB file.
func TestFadviseDontNeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	const pages = 1024
	f, err := OS.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, pages*4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Datasync(); err != nil { // dirty pages are not dropped
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, pages*4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Fadvise(512*4096, 512*4096, AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	m, err := OS.Map(f, pages*4096)
	if err != nil {
		t.Fatal(err)
	}
	defer OS.Unmap(m)
	vec := make([]byte, pages)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for i, v := range vec {
		if in := i >= 512; (v&1 == 0) != in {
			t.Fatalf("page %d resident %v after DONTNEED of pages 512..1024", i, v&1 == 1)
		}
	}
}
