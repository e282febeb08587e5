package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
)

// rangeIDs collects what Range yields; each vector must be {1, id+1}.
func rangeIDs(t *testing.T, e *Engine) []uint64 {
	t.Helper()
	var ids []uint64
	err := e.Range(context.Background(), func(id uint64, vec []float32) error {
		ids = append(ids, id)
		if len(vec) != 2 || cap(vec) != 2 {
			t.Fatalf("id %d: len %d cap %d", id, len(vec), cap(vec))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestRangeAndSegmentDetails(t *testing.T) {
	e := openEngine(t, 2) // 8 KiB segments: a few hundred rows each
	var vecs [][]float32
	for i := 0; i < 1000; i++ {
		vecs = append(vecs, []float32{1, float32(i + 1)})
	}
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add(vecs[:10]); err != nil { // into the active segment
		t.Fatal(err)
	}
	if _, err := e.Delete([]uint64{0, 5, 999, 1005}); err != nil {
		t.Fatal(err)
	}
	want := func(skip map[uint64]bool, n uint64) []uint64 {
		var w []uint64
		for id := uint64(0); id < n; id++ {
			if !skip[id] {
				w = append(w, id)
			}
		}
		return w
	}
	ids := rangeIDs(t, e)
	w := want(map[uint64]bool{0: true, 5: true, 999: true, 1005: true}, 1010)
	if len(ids) != len(w) {
		t.Fatalf("Range yielded %d ids, want %d", len(ids), len(w))
	}
	for i := range w {
		if ids[i] != w[i] {
			t.Fatalf("Range id %d = %d, want %d", i, ids[i], w[i])
		}
	}

	segs, err := e.SegmentDetails()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	var rows, deleted uint64
	active := 0
	for i, s := range segs {
		rows += s.Rows
		deleted += s.Deleted
		if !s.Sealed {
			active++
		}
		if i > 0 && s.Number <= segs[i-1].Number {
			t.Fatalf("segments not by number: %+v", segs)
		}
		if s.Rows > 0 && (s.Runs == 0 || s.LastID < s.FirstID || s.Bytes <= 0 || s.Capacity < s.Rows) {
			t.Fatalf("bad segment %+v", s)
		}
	}
	if rows != 1010 || deleted != 4 || active != 1 {
		t.Fatalf("rows %d deleted %d active %d", rows, deleted, active)
	}
	if segs[0].FirstID != 0 {
		t.Fatalf("first segment starts at %d", segs[0].FirstID)
	}

	// A compaction moves live rows to fresh IDs: Range still goes by ID.
	job := prepareAll(t, e)
	out, err := compactor.Copy(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Commit(job, out); err != nil {
		t.Fatal(err)
	}
	job.Release()
	ids = rangeIDs(t, e)
	if len(ids) != len(w) || ids[0] != job.FirstID {
		t.Fatalf("after compaction: %d ids from %d, want %d from %d", len(ids), ids[0], len(w), job.FirstID)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("not ascending: %d after %d", ids[i], ids[i-1])
		}
	}
}

func TestRangeStops(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Add([][]float32{{1, 1}, {1, 2}, {1, 3}, {1, 4}}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err := e.Range(context.Background(), func(id uint64, vec []float32) error {
		calls++
		if id == 1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("fn error: Range = %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = e.Range(ctx, func(id uint64, vec []float32) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("cancel: Range = %v after %d calls", err, calls)
	}

	// fn may use the engine, even close it: the snapshot stays readable
	// and Range stops with ErrClosed.
	calls = 0
	err = e.Range(context.Background(), func(id uint64, vec []float32) error {
		calls++
		if _, err := e.Delete([]uint64{id + 1}); err != nil {
			return err
		}
		if id == 0 {
			if vec[1] != 1 {
				t.Errorf("vec %v", vec)
			}
			return e.Close()
		}
		return nil
	})
	if !errors.Is(err, errs.ErrClosed) || calls != 1 {
		t.Fatalf("Close in fn: Range = %v after %d calls", err, calls)
	}
	if err := e.Range(context.Background(), func(uint64, []float32) error { return nil }); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("closed: Range = %v", err)
	}
	if _, err := e.SegmentDetails(); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("closed: SegmentDetails = %v", err)
	}
}
