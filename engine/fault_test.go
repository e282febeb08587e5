package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/vfs"
)

func openFault(t *testing.T, f *vfs.Fault) (*Engine, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	e, err := Open(dir, Config{Dimension: 2, SegmentBytes: 8 << 10, FS: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, dir
}

func rows(n int, base float32) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = []float32{base + float32(i), 1}
	}
	return out
}

// A new segment whose creation failed and whose cleanup failed too stays
// on disk; the next Add must not trip over it (its number is not reused).
func TestAddAfterFailedCreateAndCleanup(t *testing.T) {
	f := vfs.NewFault(nil, 0)
	e, dir := openFault(t, f)
	hooks := []vfs.Hook{
		vfs.Nth(vfs.OpPreallocate, "", 1, vfs.Decision{Err: syscall.ENOSPC}),
		vfs.Nth(vfs.OpRemove, ".seg", 1, vfs.Decision{Err: syscall.EIO}),
	}
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		for _, h := range hooks {
			if d := h(ev); d.Err != nil {
				return d
			}
		}
		return vfs.Decision{}
	})
	if _, err := e.Add(rows(3, 1)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Add with a full disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "000000.seg")); err != nil {
		t.Fatalf("the test expects the failed segment to stay: %v", err)
	}
	ids, err := e.Add(rows(3, 1))
	if err != nil {
		t.Fatalf("Add after the disk freed up: %v", err)
	}
	if ids[0] != 0 {
		t.Fatalf("IDs %v", ids)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Recovery removes the leftover.
	e2, err := Open(dir, Config{SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if _, err := os.Stat(filepath.Join(dir, "000000.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover segment after reopen: %v", err)
	}
	if v, err := e2.Get(2); err != nil || v[0] != 3 {
		t.Fatalf("Get(2) = %v, %v", v, err)
	}
}

// A failed fdatasync of the active segment makes the engine read-only:
// every later write returns the same error, reads go on.
func TestFailedSyncIsSticky(t *testing.T) {
	f := vfs.NewFault(nil, 0)
	e, _ := openFault(t, f)
	if _, err := e.Add(rows(2, 1)); err != nil {
		t.Fatal(err)
	}
	f.SetHook(vfs.Nth(vfs.OpDatasync, ".seg", 1, vfs.Decision{Err: syscall.EIO}))
	_, err := e.Add(rows(1, 5))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Add with a failed fdatasync: %v", err)
	}
	syncs := f.Count(vfs.AnySync)
	if _, err2 := e.Add(rows(100, 5)); err2 != err {
		t.Fatalf("Add after the failure: %v, not the sticky %v", err2, err)
	}
	if _, err2 := e.Delete([]uint64{0}); err2 != err {
		t.Fatalf("Delete after the failure: %v", err2)
	}
	if err2 := e.Sync(); err2 != err {
		t.Fatalf("Sync after the failure: %v", err2)
	}
	if _, err2 := e.Prepare([]uint64{0}); err2 != err {
		t.Fatalf("Prepare after the failure: %v", err2)
	}
	if n := f.Count(vfs.AnySync); n != syncs {
		t.Fatalf("%d syncs after the failed one", n-syncs)
	}
	if v, err := e.Get(1); err != nil || v[0] != 2 {
		t.Fatalf("Get after the failure: %v, %v", v, err)
	}
	if err2 := e.Close(); !errors.Is(err2, syscall.EIO) {
		t.Fatalf("Close after the failure: %v", err2)
	}
}

// ENOSPC while a compaction writes its output or its commit files aborts
// it: its files are removed, the old segments keep serving, and the store
// stays writable.
func TestCompactionENOSPC(t *testing.T) {
	for _, suffix := range []string{".seg", ".tombs", ".idmap"} {
		f := vfs.NewFault(nil, 0)
		e, dir := openFault(t, f)
		if _, err := e.Add(rows(40, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete([]uint64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		before := storeFiles(t, dir)
		f.SetHook(func(ev vfs.Event) vfs.Decision {
			if ev.Kind == vfs.OpWrite && strings.HasSuffix(ev.Path, suffix) && !strings.HasSuffix(ev.Path, "MANIFEST.tmp") {
				return vfs.Decision{Err: syscall.ENOSPC, Short: ev.Len / 2}
			}
			return vfs.Decision{}
		})
		err := copyAndCommit(e, prepareAll(t, e))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: compaction on a full disk: %v", suffix, err)
		}
		f.SetHook(nil)
		// Sealing the active segment for the job is the only change.
		after := storeFiles(t, dir)
		if strings.Join(after, " ") != strings.Join(before, " ") {
			t.Fatalf("%s: files before %v, after %v", suffix, before, after)
		}
		if v, err := e.Get(39); err != nil || v[0] != 40 {
			t.Fatalf("%s: Get after the failed compaction: %v, %v", suffix, v, err)
		}
		if _, err := e.Add(rows(1, 100)); err != nil {
			t.Fatalf("%s: Add after the failed compaction: %v", suffix, err)
		}
	}
}

func copyAndCommit(e *Engine, job *compactor.Job) error {
	defer job.Release()
	out, err := compactor.Copy(context.Background(), job)
	if err != nil {
		return err
	}
	_, err = e.Commit(job, out)
	return err
}

// storeFiles lists the segment, tombstone and ID-map files in dir.
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".seg") || strings.HasSuffix(n, ".tombs") || strings.HasSuffix(n, ".idmap") || strings.HasSuffix(n, ".tmp") {
			out = append(out, n)
		}
	}
	return out
}
