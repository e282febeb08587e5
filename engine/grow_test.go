package engine

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// An Add whose rows need a new allocation step of the active segment's
// file, refused for space (ENOSPC), fails before anything is written and
// leaves the store writable: the next Add takes the IDs the failed one
// would have had, and a reopen finds exactly the acknowledged rows.
func TestAddNoSpaceForStep(t *testing.T) {
	f := vfs.NewFault(nil, 0)
	dir := filepath.Join(t.TempDir(), "s")
	cfg := Config{Dimension: 2, SegmentBytes: 4 << 20, FS: f}
	e, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Add(rows(10, 1)); err != nil {
		t.Fatal(err)
	}
	// Past the first step (allocStep of dimension-2 rows: 8192).
	f.SetHook(vfs.Nth(vfs.OpPreallocate, ".seg", 1, vfs.Decision{Err: syscall.ENOSPC}))
	if _, err := e.Add(rows(9000, 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Add with no space for its rows: %v", err)
	}
	f.SetHook(nil)
	ids, err := e.Add(rows(5, 20))
	if err != nil {
		t.Fatalf("Add after the disk freed up: %v", err)
	}
	if ids[0] != 10 {
		t.Fatalf("IDs %v after a refused Add, want 10..14", ids)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.FS = nil
	e2, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	for id, want := range map[uint64]float32{0: 1, 9: 10, 10: 20, 14: 24} {
		if v, err := e2.Get(id); err != nil || v[0] != want {
			t.Fatalf("Get(%d) = %v, %v; want %v", id, v, err, want)
		}
	}
	if _, err := e2.Get(15); err == nil {
		t.Fatal("Get(15) found a row of the refused Add")
	}
}
