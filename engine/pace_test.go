package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A compaction waits paceIdle times its work after a chunk only while
// searches run; the first chunk and chunks without searches never wait;
// a wait that ends with the context ends the job.
func TestPacer(t *testing.T) {
	var (
		searches atomic.Int64
		clock    = time.Unix(1000, 0)
		waits    []time.Duration
		waitErr  error
	)
	p := &pacer{searches: &searches, now: func() time.Time { return clock },
		wait: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			clock = clock.Add(d)
			return waitErr
		}}
	step := func(work time.Duration, want []time.Duration) {
		t.Helper()
		clock = clock.Add(work)
		if err := p.pace(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(waits) != len(want) || (len(want) > 0 && waits[len(waits)-1] != want[len(want)-1]) {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	searches.Store(1)
	step(7*time.Millisecond, nil) // the first chunk: no start to measure from
	step(10*time.Millisecond, []time.Duration{20 * time.Millisecond})
	step(3*time.Millisecond, []time.Duration{20 * time.Millisecond, 6 * time.Millisecond})
	searches.Store(0)
	step(50*time.Millisecond, []time.Duration{20 * time.Millisecond, 6 * time.Millisecond}) // no search: no wait
	searches.Store(2)
	step(4*time.Millisecond, []time.Duration{20 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond})
	waitErr = context.Canceled
	clock = clock.Add(time.Millisecond)
	if err := p.pace(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("pace with its wait cancelled: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitFor(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("waitFor a cancelled context: %v", err)
	}
}

// The engine's compactions are paced while a Search is in progress, not
// otherwise, and a paced compaction still commits the same map.
func TestCompactionPacedWhileSearching(t *testing.T) {
	for _, searching := range []bool{false, true} {
		e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: 8, SegmentBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		var waits atomic.Int64
		e.paceWait = func(context.Context, time.Duration) error { waits.Add(1); return nil }
		ids, err := e.Add(randVecs(rand.New(rand.NewPCG(1, 1)), 30000, 8))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete(everyNth(ids, 7)); err != nil {
			t.Fatal(err)
		}
		if searching {
			e.searching.Add(1) // as SearchShared does for its duration
		}
		if err := copyAndCommit(e, prepareAll(t, e)); err != nil {
			t.Fatal(err)
		}
		if got := waits.Load(); (got > 0) != searching {
			t.Errorf("searching %v: the compaction waited %d times", searching, got)
		}
		if searching {
			e.searching.Add(-1)
		}
		e.Close()
	}
}

func everyNth(ids []uint64, n int) []uint64 {
	var out []uint64
	for i := 0; i < len(ids); i += n {
		out = append(out, ids[i])
	}
	return out
}
