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

// faultEach runs Recover once per operation of kinds, i = 1, 2, ...: try
// i uses a vfs.Fault seeded with i (the seed only shapes what a crash
// tears) whose hook hands d to the i-th such operation. fresh returns the
// directory of try i and cfg its configuration but for the FS. A try that
// fails must return an error wrapping want; check then looks at what it
// left. A try that succeeds with a fault injected (Recover shrugged it
// off) goes on to the next; the first that meets none ends the run.
// faultEach returns how many tries failed.
func faultEach(t *testing.T, kinds vfs.Kind, d vfs.Decision, want error, cfg Config, fresh func() string, check func(i int, dir string)) int {
	t.Helper()
	n := 0
	for i := 1; ; i++ {
		dir := fresh()
		f := vfs.NewFault(nil, uint64(i))
		f.SetHook(vfs.Nth(kinds, "", i, d))
		cfg := cfg
		cfg.FS = f
		st, err := Recover(dir, cfg)
		if err == nil {
			st.Close()
			if f.Injected() == 0 {
				return n
			}
			continue
		}
		n++
		if !errors.Is(err, want) {
			t.Fatalf("operation %d: Recover returned %v, want %v", i, err, want)
		}
		check(i, dir)
	}
}

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
	fresh := func() string {
		work := filepath.Join(t.TempDir(), "s")
		copyTree(t, dir, work)
		return work
	}
	n := faultEach(t, vfs.AnyKind, vfs.Decision{Err: syscall.EIO}, syscall.EIO, Config{}, fresh, func(i int, work string) {
		st := mustRecover(t, work, Config{})
		if st.Segments[0].Rows() != 10 || !st.Segments[0].Tomb.Has(5) {
			t.Fatalf("operation %d: %d rows after the failed Recover", i, st.Segments[0].Rows())
		}
		st.Close()
	})
	t.Logf("%d operations of Recover failed in turn", n)
}

// newDir returns, for faultEach, a function that returns a fresh path,
// not yet created, for a store.
func newDir(t *testing.T) func() string {
	return func() string { return filepath.Join(t.TempDir(), "s") }
}

// A power cut at any sync point of creating a store leaves either no store
// (Recover creates it again) or an empty one.
func TestCreateCuts(t *testing.T) {
	cuts := faultEach(t, vfs.AnySync, vfs.Decision{Crash: true}, vfs.ErrCrashed, Config{Dimension: 2}, newDir(t), func(i int, dir string) {
		st := mustRecover(t, dir, Config{Dimension: 2})
		if len(st.Segments) != 0 || st.Manifest.Dimension != 2 {
			t.Fatalf("sync %d: recovered %+v", i, st.Manifest)
		}
		st.Close()
		if _, err := manifest.Load(nil, dir); err != nil {
			t.Fatal(err)
		}
	})
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
	n := faultEach(t, vfs.AnyKind, vfs.Decision{Err: syscall.ENOSPC}, syscall.ENOSPC, Config{Dimension: 2}, newDir(t), func(_ int, dir string) {
		mustRecover(t, dir, Config{Dimension: 2}).Close()
	})
	t.Logf("%d operations of creating a store failed in turn", n)
}
