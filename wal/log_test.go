package wal

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

func TestAppendReplayReopenAcrossSegments(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		opts := Options{NoSync: noSync, SegmentSize: smallSegments}
		l := openLog(t, dir, opts)
		checkReplay(t, l, 1, 0)
		appendRange(t, l, 1, 100)
		checkReplay(t, l, 1, 100)
		if n := len(segmentFiles(t, dir)); n < 5 {
			t.Fatalf("noSync=%v: %d segment files, want several cycles", noSync, n)
		}
		l = reopenLog(t, l, dir, opts)
		checkReplay(t, l, 1, 100)
		appendRange(t, l, 101, 150)
		checkReplay(t, l, 1, 150)
	}
}

func TestSyncedWatermark(t *testing.T) {
	t.Run("sync", func(t *testing.T) {
		l := openLog(t, t.TempDir(), Options{SegmentSize: smallSegments})
		appendRange(t, l, 1, 40)
		for _, r := range replayAll(t, l) {
			if r.Synced != r.Seq-1 {
				t.Fatalf("seq %d: synced %d, want %d", r.Seq, r.Synced, r.Seq-1)
			}
		}
	})
	t.Run("nosync", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, Options{NoSync: true, SegmentSize: smallSegments})
		appendRange(t, l, 1, 3)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		appendRange(t, l, 4, 40)
		recs := replayAll(t, l)
		for _, r := range recs[:3] {
			if r.Synced != 0 {
				t.Fatalf("seq %d: synced %d before any Sync", r.Seq, r.Synced)
			}
		}
		if recs[3].Synced != 3 {
			t.Fatalf("seq 4: synced %d, want 3 after Sync", recs[3].Synced)
		}
		// tidwall fsyncs a full segment before starting the next, so the
		// first record of every later segment has everything before it
		// durable.
		segs := segmentFiles(t, dir)
		if len(segs) < 3 {
			t.Fatalf("%d segments, want at least 3", len(segs))
		}
		for _, path := range segs[1:] {
			first, _ := parseSegmentName(filepath.Base(path))
			if first > 40 {
				continue
			}
			if r := recs[first-1]; r.Synced != first-1 {
				t.Fatalf("seq %d opens a segment but has synced %d", first, r.Synced)
			}
		}
		if err := l.Verify(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTruncateFront(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: smallSegments}
	l := openLog(t, dir, opts)
	appendRange(t, l, 1, 60)
	before := l.Size()
	if err := l.TruncateFront(25); err != nil {
		t.Fatal(err)
	}
	checkReplay(t, l, 25, 60)
	if l.Size() >= before {
		t.Fatalf("Size %d did not shrink from %d", l.Size(), before)
	}
	if err := l.TruncateFront(10); err != nil {
		t.Fatalf("TruncateFront below the first seq: %v", err)
	}
	if err := l.TruncateFront(62); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("TruncateFront past LastSeq+1: err = %v, want ErrInvalidArgument", err)
	}
	l = reopenLog(t, l, dir, opts)
	checkReplay(t, l, 25, 60)
	if err := l.TruncateFront(61); err != nil {
		t.Fatalf("TruncateFront of everything: %v", err)
	}
	checkReplay(t, l, 61, 60)
	if l.Size() != 0 {
		t.Fatalf("empty log has Size %d", l.Size())
	}
	l = reopenLog(t, l, dir, opts)
	checkReplay(t, l, 61, 60)
	appendRange(t, l, 61, 70)
	checkReplay(t, l, 61, 70)
	if err := l.TruncateFront(71); err != nil {
		t.Fatal(err)
	}
	appendRange(t, l, 71, 75)
	l = reopenLog(t, l, dir, opts)
	checkReplay(t, l, 71, 75)
}

// TestReopenWithSmallerSegments makes tidwall cycle before a write (its
// tail already exceeds the new target), not after one.
func TestReopenWithSmallerSegments(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, Options{NoSync: noSync, SegmentSize: 1 << 20})
		appendRange(t, l, 1, 30)
		l = reopenLog(t, l, dir, Options{NoSync: noSync, SegmentSize: 64})
		appendRange(t, l, 31, 31)
		segs := segmentFiles(t, dir)
		if len(segs) < 2 || filepath.Base(segs[1]) != segmentName(31) {
			t.Fatalf("noSync=%v: segments %v, want a new one starting at 31", noSync, segs)
		}
		if got := l.segs[1].path; got != segs[1] {
			t.Fatalf("Log's second segment is %s, want %s", got, segs[1])
		}
		appendRange(t, l, 32, 40)
		recs := replayAll(t, l)
		if recs[30].Synced != 30 {
			t.Fatalf("noSync=%v: seq 31 has synced %d, want 30", noSync, recs[30].Synced)
		}
		checkReplay(t, l, 1, 40)
	}
}

func TestAppendRejectsEmpty(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if _, err := l.Append(nil); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("Append(nil): err = %v, want ErrInvalidArgument", err)
	}
	checkReplay(t, l, 1, 0)
}

func TestOpenRejectsNegativeSegmentSize(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{SegmentSize: -1}); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
}

func TestOpenCreatesNestedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "wal")
	l := openLog(t, dir, Options{})
	appendRange(t, l, 1, 3)
	checkReplay(t, l, 1, 3)
}

func TestClosed(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{NoSync: true})
	appendRange(t, l, 1, 2)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("second Close: err = %v, want ErrClosed", err)
	}
	calls := map[string]error{
		"Sync":          l.Sync(),
		"TruncateFront": l.TruncateFront(2),
		"Verify":        l.Verify(),
		"Replay":        l.Replay(func(Record) error { return nil }),
	}
	_, calls["Append"] = l.Append([]uint64{1})
	for name, err := range calls {
		if !errors.Is(err, errs.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if l.LastSeq() != 2 || l.FirstSeq() != 1 {
		t.Errorf("bounds after Close: %d..%d, want 1..2", l.FirstSeq(), l.LastSeq())
	}
}

func TestReplayStopsOnCallbackError(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendRange(t, l, 1, 10)
	stop := errors.New("stop")
	var seen []uint64
	err := l.Replay(func(r Record) error {
		seen = append(seen, r.Seq)
		if r.Seq == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(seen) != 4 {
		t.Fatalf("Replay returned %v after seqs %v, want stop after 1..4", err, seen)
	}
}

// TestSizeWhileAppending runs Size from other goroutines during appends
// (meaningful under -race) and checks that it only grows and ends exact.
func TestSizeWhileAppending(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{NoSync: true, SegmentSize: smallSegments})
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev int64
			for {
				select {
				case <-done:
					return
				default:
				}
				n := l.Size()
				if n < prev {
					errc <- errors.New("Size went down during appends")
					return
				}
				prev = n
				_ = l.LastSeq()
			}
		}()
	}
	appendRange(t, l, 1, 300)
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	checkReplay(t, l, 1, 300)
}
