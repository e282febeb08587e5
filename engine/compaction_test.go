package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
)

// TestLateDeletesFollowTheirRows drives a compaction by hand so that
// deletes land between the snapshot and the commit: they must end up
// deleted at the rows' new IDs, durably, and be counted once.
func TestLateDeletesFollowTheirRows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	e, err := Open(dir, Config{Dimension: 2, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	vecs := make([][]float32, 50)
	for i := range vecs {
		vecs[i] = []float32{1, float32(i + 1)}
	}
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.Delete([]uint64{0, 1}); n != 2 {
		t.Fatal("setup delete")
	}
	job := prepareAll(t, e)
	// Late deletes: 10 and 11 are being copied; 1 was already deleted.
	if n, err := e.Delete([]uint64{10, 11, 1}); n != 2 || err != nil {
		t.Fatalf("late Delete = %d, %v", n, err)
	}
	out, err := compactor.Copy(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Commit(job, out); err != nil {
		t.Fatal(err)
	}
	job.Release() // Close waits for jobs to be released
	check := func(e *Engine) {
		t.Helper()
		for old := uint64(0); old < 50; old++ {
			newID := job.FirstID + old - 2 // 0 and 1 were gone before the snapshot
			_, err := e.Get(newID)
			switch {
			case old < 2:
			case old == 10 || old == 11:
				if !errors.Is(err, errs.ErrNotFound) {
					t.Fatalf("late-deleted row %d readable at new ID %d: %v", old, newID, err)
				}
			default:
				if err != nil {
					t.Fatalf("row %d not at new ID %d: %v", old, newID, err)
				}
			}
			if _, err := e.Get(old); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("old ID %d readable after the commit: %v", old, err)
			}
		}
		st, _ := e.Stats()
		if st.Live != 46 || st.Deleted != 2 {
			t.Fatalf("stats %+v", st)
		}
	}
	check(e)
	// Deleting a late-deleted row again counts 0.
	if n, _ := e.Delete([]uint64{job.FirstID + 8}); n != 0 {
		t.Fatalf("re-delete of a carried tombstone counted %d", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = Open(dir, Config{SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	check(e)
}

func TestCommitAfterCloseIsRefused(t *testing.T) {
	e := openEngine(t, 2)
	e.Add([][]float32{{1, 0}, {0, 1}, {1, 1}})
	e.Delete([]uint64{1})
	segs, _ := e.Segments()
	job, err := e.Prepare([]uint64{segs[0].Number})
	if err != nil || job == nil {
		t.Fatalf("Prepare: %v", err)
	}
	out, err := compactor.Copy(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	go func() { closed <- e.Close() }()
	// Close waits for the job; the commit it then attempts is refused.
	for !e.closed.Load() {
	}
	if _, err := e.Commit(job, out); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("Commit after Close began: %v", err)
	}
	job.Release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// prepareAll prepares a compaction of every segment of e.
func prepareAll(t *testing.T, e *Engine) *compactor.Job {
	t.Helper()
	segs, err := e.Segments()
	if err != nil {
		t.Fatal(err)
	}
	nums := make([]uint64, len(segs))
	for i, s := range segs {
		nums[i] = s.Number
	}
	job, err := e.Prepare(nums)
	if err != nil || job == nil {
		t.Fatalf("Prepare = %v, %v", job, err)
	}
	return job
}
