package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

func openEngine(t *testing.T, dim int) *Engine {
	t.Helper()
	e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: dim, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestSnapshotIsolation(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Add([][]float32{{1, 0}, {0, 1}}); err != nil {
		t.Fatal(err)
	}
	old := e.acquire()
	if _, err := e.Delete([]uint64{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add([][]float32{{1, 1}}); err != nil {
		t.Fatal(err)
	}
	si, row, ok := old.index.Find(0)
	if !ok || old.segs.at(si).tomb.has(row) {
		t.Fatal("a snapshot taken before a delete sees it")
	}
	if _, _, ok := old.index.Find(2); ok {
		t.Fatal("a snapshot taken before an add sees its row")
	}
	old.release()
	cur := e.acquire()
	defer cur.release()
	si, row, _ = cur.index.Find(0)
	if !cur.segs.at(si).tomb.has(row) {
		t.Fatal("the current version misses the delete")
	}
}

func TestSegmentsReleasedWithLastVersion(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Add([][]float32{{1, 0}}); err != nil {
		t.Fatal(err)
	}
	v := e.acquire()
	ref := v.segs.at(0).ref
	if n := ref.refs.Load(); n != 1 {
		t.Fatalf("segment refs %d with one segment set", n)
	}
	// An Add into the active segment and a Delete publish versions that
	// share the segment set: no reference per segment.
	if _, err := e.Add([][]float32{{0, 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete([]uint64{0}); err != nil {
		t.Fatal(err)
	}
	if n := ref.refs.Load(); n != 1 {
		t.Fatalf("segment refs %d after writes that keep the segments", n)
	}
	if cur := e.cur.Load(); cur.set != v.set || v.set.refs.Load() != 2 {
		t.Fatalf("set shared: %v, set refs %d; want true, 2 (the old and the current version)", cur.set == v.set, v.set.refs.Load())
	}
	// Sealing publishes a new set, which takes its own reference; the old
	// set keeps its own while the old version is held.
	e.writeMu.Lock()
	err := e.sealActiveLocked()
	e.writeMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if n := ref.refs.Load(); n != 2 {
		t.Fatalf("segment refs %d with two segment sets", n)
	}
	v.release()
	if n := ref.refs.Load(); n != 1 {
		t.Fatalf("segment refs %d after releasing the old version", n)
	}
}

func TestFailedWriteIsSticky(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Add([][]float32{{1, 0}}); err != nil {
		t.Fatal(err)
	}
	e.wal.Close() // the next WAL append fails
	_, err := e.Delete([]uint64{0})
	if err == nil {
		t.Fatal("Delete with a broken WAL succeeded")
	}
	if _, err2 := e.Add([][]float32{{0, 1}}); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("after a failed write, Add returned %v, want the same error %v", err2, err)
	}
	// Reads go on.
	if _, err := e.Get(0); err != nil {
		t.Fatalf("Get after a failed write: %v", err)
	}
	if _, err := e.Search(context.Background(), []float32{1, 0}, 1, -1); err != nil {
		t.Fatalf("Search after a failed write: %v", err)
	}
}

func TestStatsAccounting(t *testing.T) {
	e := openEngine(t, 4)
	vecs := make([][]float32, 100)
	for i := range vecs {
		vecs[i] = []float32{1, 2, 3, float32(i)}
	}
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Delete([]uint64{1, 2, 3, 50}); n != 4 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	s, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != 100 || s.Live != 96 || s.Deleted != 4 || s.ReclaimableBytes != 4*(4*4+4) || s.WALBytes <= 0 || s.Segments < 2 {
		t.Fatalf("stats %+v", s)
	}
	if s.DiskBytes < s.WALBytes+int64(s.Segments)*4096 {
		t.Fatalf("DiskBytes %d too small for %d segments", s.DiskBytes, s.Segments)
	}
	e.Close()
	if _, err := e.Stats(); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("Stats after Close: %v", err)
	}
}
