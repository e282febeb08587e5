//go:build linux

package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cachedPages returns how many pages of the first n bytes of path are in
// the page cache (mincore through a mapping that touches nothing).
func cachedPages(t *testing.T, path string, n int) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (n+4095)/4096)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	c := 0
	for _, v := range vec {
		c += int(v & 1)
	}
	return c
}

// A file written through a dropWriter, then read through a dropReader,
// leaves the page cache behind them: only the last chunks stay.
func TestDropBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 6 * dropChunk
	w := &dropWriter{f: f}
	buf := make([]byte, 1<<20)
	for i := 0; i < size; i += len(buf) {
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if n := cachedPages(t, path, 4*dropChunk); n != 0 {
		t.Fatalf("%d pages of the first 4 chunks cached after writing", n)
	}
	// Read it all back into the cache, then through a dropReader.
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, &dropReader{f: f}); err != nil {
		t.Fatal(err)
	}
	if n := cachedPages(t, path, 5*dropChunk); n != 0 {
		t.Fatalf("%d pages of the first 5 chunks cached after reading", n)
	}
}
