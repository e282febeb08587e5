package recovery

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// Whichever operation of Recover fails, it returns an error wrapping the
// injected one and releases everything (the lock included): the next
// Recover, on the real file system, finds the store as it was.
func TestRecoverFaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	buildStore(t, dir, 10, [][]uint64{{3}, {4, 5}})
	// Leftovers for Recover to remove.
	if err := os.WriteFile(filepath.Join(dir, segment.FileName(9)), []byte("orphan"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 1; ; i++ {
		work := filepath.Join(t.TempDir(), "s")
		copyTree(t, dir, work)
		f := vfs.NewFault(nil, 0)
		f.SetHook(vfs.Nth(vfs.AnyKind, "", i, vfs.Decision{Err: syscall.EIO}))
		st, err := Recover(work, Config{FS: f})
		if err == nil {
			st.Close()
			if f.Injected() == 0 {
				break
			}
			continue // a failure Recover may shrug off (none today)
		}
		n++
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("operation %d: Recover returned %v", i, err)
		}
		st = mustRecover(t, work, Config{})
		if st.Segments[0].Rows() != 10 || !st.Segments[0].Tomb.Has(5) {
			t.Fatalf("operation %d: %d rows after the failed Recover", i, st.Segments[0].Rows())
		}
		st.Close()
	}
	t.Logf("%d operations of Recover failed in turn", n)
}

// A power cut at any sync point of creating a store leaves either no store
// (Recover creates it again) or an empty one.
func TestCreateCuts(t *testing.T) {
	cuts := 0
	for i := 1; ; i++ {
		dir := filepath.Join(t.TempDir(), "s")
		f := vfs.NewFault(nil, uint64(i))
		f.SetHook(vfs.Nth(vfs.AnySync, "", i, vfs.Decision{Crash: true}))
		st, err := Recover(dir, Config{Dimension: 2, FS: f})
		if err == nil {
			st.Close()
			break
		}
		cuts++
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("sync %d: Recover returned %v", i, err)
		}
		st = mustRecover(t, dir, Config{Dimension: 2})
		if len(st.Segments) != 0 || st.Manifest.Dimension != 2 {
			t.Fatalf("sync %d: recovered %+v", i, st.Manifest)
		}
		st.Close()
		if _, err := manifest.Load(nil, dir); err != nil {
			t.Fatal(err)
		}
	}
	if cuts == 0 {
		t.Fatal("creating a store syncs nothing")
	}
}

// copyTree copies the directory tree src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Whichever operation of creating a store fails, Recover returns an error
// wrapping it, and a later Recover creates the store.
func TestCreateFaults(t *testing.T) {
	n := 0
	for i := 1; ; i++ {
		dir := filepath.Join(t.TempDir(), "s")
		f := vfs.NewFault(nil, 0)
		f.SetHook(vfs.Nth(vfs.AnyKind, "", i, vfs.Decision{Err: syscall.ENOSPC}))
		st, err := Recover(dir, Config{Dimension: 2, FS: f})
		if err == nil {
			st.Close()
			break
		}
		n++
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("operation %d: Recover returned %v", i, err)
		}
		mustRecover(t, dir, Config{Dimension: 2}).Close()
	}
	t.Logf("%d operations of creating a store failed in turn", n)
}
