package memvec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// openT is Open for tests: after the test (its own cleanups first, so
// after it closed the store) it runs checkStore on a read-only reopening
// of dir, like bbolt's btesting.MustCreateDB runs tx_check. A store whose
// last open in the test failed is left unchecked (the test broke it on
// purpose), and so is one opened through a fault-injecting file system.
func openT(tb testing.TB, dir string, opts Options) (*DB, error) {
	tb.Helper()
	db, err := Open(dir, opts)
	checkedMu.Lock()
	defer checkedMu.Unlock()
	if err == nil && opts.ReadOnly {
		readOnlyOpened(dir)
	}
	last, seen := checkedLast[dir]
	readOnly := last.readOnly
	if err == nil {
		readOnly = opts.ReadOnly // a writer's open removes the orphans
	}
	checkedLast[dir] = openedStore{db: db, opts: opts, err: err, damaged: last.damaged, readOnly: readOnly}
	if !seen {
		tb.Cleanup(func() {
			checkedMu.Lock()
			last := checkedLast[dir]
			delete(checkedLast, dir)
			checkedMu.Unlock()
			checkAfter(tb, dir, last)
		})
	}
	return db, err
}

// openedStore is the last open of a directory by openT.
type openedStore struct {
	db      *DB
	opts    Options
	err     error
	damaged bool // set by leftDamaged
	// readOnly: the store was opened read-only since its last writer
	// (through this path or another: a bind mount), which removes no
	// orphan.
	readOnly bool
}

// readOnlyOpened marks every store checkedLast holds that is the one in
// dir, whatever the path. checkedMu must be held.
func readOnlyOpened(dir string) {
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	for d, st := range checkedLast {
		if other, err := os.Stat(d); err == nil && os.SameFile(fi, other) {
			st.readOnly = true
			checkedLast[d] = st
		}
	}
}

// leftDamaged says that the test damages the store in dir on purpose and
// leaves it so (a flipped byte Open does not read, a file removed): openT's
// check skips it.
func leftDamaged(tb testing.TB, dir string) {
	checkedMu.Lock()
	defer checkedMu.Unlock()
	st := checkedLast[dir]
	st.damaged = true
	checkedLast[dir] = st
}

var (
	checkedMu   sync.Mutex
	checkedLast = map[string]openedStore{} // by directory
)

// checkAfter is openT's cleanup.
func checkAfter(tb testing.TB, dir string, last openedStore) {
	// A store opened through a fault-injecting file system has that
	// file system's state (cut power, failing calls): its test checks it
	// itself, with checkStore, when it reopens it (checkReopened,
	// checkFaultModel).
	if last.err != nil || last.opts.fs != nil || last.damaged || tb.Failed() {
		return
	}
	if _, err := last.db.SegmentInfo(); !errors.Is(err, ErrClosed) {
		last.db.Close() // left open by the test: the check needs it closed
	}
	db, err := Open(dir, Options{ReadOnly: true, fs: last.opts.fs})
	if err != nil {
		tb.Errorf("structural check: reopening %s read-only: %v", dir, err)
		return
	}
	defer db.Close()
	// A read-only open removes no orphan: the files a test planted or a
	// crash left stay until a writer opens the store.
	if err := checkStore(db, dir, last.opts.fs, !last.readOnly); err != nil {
		tb.Errorf("structural check of %s: %v", dir, err)
	}
}

// checkStore checks the structure of the open store db of directory dir
// (read through fsys, nil: the real one), quiescent (no writer at work): the files (memvectest.CheckDir), and
// that the store's own descriptions of itself agree. ID runs do not overlap
// and agree with the ID index (every ID of a segment's rows is found by
// Get, or deleted, and Range finds exactly the live ones), per-segment
// counts add up to Stats, NextID is above every ID, and the kept ID maps
// are the manifest's.
//
// With orphansRemoved (the last open was a writer's) no store file that
// the manifest does not name may be left.
func checkStore(db *DB, dir string, fsys vfs.FS, orphansRemoved bool) error {
	s := db.Stats()
	infos, err := db.SegmentInfo()
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	rows := make(map[uint64]uint64, len(infos))
	var total, deleted uint64
	for _, si := range infos {
		rows[si.Number] = si.Rows
		total += si.Rows
		deleted += si.Deleted
		if si.Deleted > si.Rows || si.Rows > si.Capacity {
			bad("segment %d: %d deleted of %d rows, capacity %d", si.Number, si.Deleted, si.Rows, si.Capacity)
		}
		if si.Rows > 0 && si.LastID >= s.NextID {
			bad("segment %d: ID %d at or past NextID %d", si.Number, si.LastID, s.NextID)
		}
	}
	if total != s.Total || deleted != s.Deleted || s.Total != s.Live+s.Deleted || len(infos) != s.Segments {
		bad("segments add up to %d rows, %d deleted, in %d segments; Stats %+v", total, deleted, len(infos), s)
	}

	m, err := memvectest.CheckDir(fsys, dir, rows, orphansRemoved)
	if err != nil {
		errs = append(errs, err)
	}
	if m == nil {
		return errors.Join(errs...)
	}
	if m.Epoch != s.Epoch || m.NextID > s.NextID {
		bad("manifest epoch %d, NextID %d; Stats %+v", m.Epoch, m.NextID, s)
	}

	// Every ID of the sealed segments' runs is live (Get finds its
	// vector) or deleted, as many live as SegmentInfo says; the live IDs
	// Range finds outside them are the active segments'.
	inRuns := map[uint64]bool{}
	for _, ms := range m.Segments {
		if !ms.Sealed {
			continue
		}
		var live uint64
		for _, r := range ms.Runs {
			for id := r.FirstID; id < r.FirstID+r.Count; id++ {
				inRuns[id] = true
				if _, err := db.Get(id); err == nil {
					live++
				} else if !errors.Is(err, ErrNotFound) {
					bad("Get(%d) of segment %d: %v", id, ms.Number, err)
				}
			}
		}
		if si := infoOf(infos, ms.Number); si == nil || live != si.Rows-si.Deleted {
			bad("sealed segment %d: %d of its IDs live; SegmentInfo %+v", ms.Number, live, si)
		}
	}
	var activeLive, rangeLive uint64
	for _, si := range infos {
		if !si.Sealed {
			activeLive += si.Rows - si.Deleted
		}
	}
	prev, outside := uint64(0), uint64(0)
	var queries [][]float32 // a few stored vectors, to search with
	err = db.Range(context.Background(), func(id uint64, vec []float32) error {
		if len(queries) < 3 {
			queries = append(queries, vec)
		}
		if rangeLive > 0 && id <= prev {
			bad("Range: ID %d after %d", id, prev)
		}
		prev = id
		rangeLive++
		if id >= s.NextID {
			bad("Range: ID %d at or past NextID %d", id, s.NextID)
		}
		if !inRuns[id] {
			outside++
		}
		if got, err := db.Get(id); err != nil || !bitsEqual(got, vec) {
			bad("Get(%d) = %v, %v; Range gave %v", id, got, err, vec)
		}
		return nil
	})
	if err != nil {
		bad("Range: %v", err)
	}
	if rangeLive != s.Live || outside != activeLive {
		bad("Range: %d live IDs, %d outside the sealed runs; Stats.Live %d, %d live in active segments", rangeLive, outside, s.Live, activeLive)
	}

	// The codes never change an answer: every search equals the same
	// search over every float32 row, bit for bit.
	for _, q := range queries {
		for _, k := range []int{1, 10} {
			got, err := db.Search(context.Background(), q, SearchOptions{TopK: k, MinScore: -1})
			if err != nil {
				bad("Search: %v", err)
				continue
			}
			want, err := db.Search(context.Background(), q, SearchOptions{TopK: k, MinScore: -1, Exhaustive: true})
			if err != nil || !sameHits(got, want) {
				bad("Search(top %d) = %v; Exhaustive %v, %v", k, got, want, err)
			}
		}
	}

	// No key is live in two rows, and each live key leads GetRecord to
	// its row, vector and payload.
	keyed := map[string]uint64{}
	err = db.RangeRecords(context.Background(), func(r Record) error {
		if r.Key == "" {
			return nil
		}
		if prev, dup := keyed[r.Key]; dup {
			bad("key %q live in IDs %d and %d", r.Key, prev, r.ID)
		}
		keyed[r.Key] = r.ID
		got, err := db.GetRecord(r.Key)
		if err != nil || got.ID != r.ID || !bitsEqual(got.Vector, r.Vector) || !bytes.Equal(got.Payload, r.Payload) {
			bad("GetRecord(%q) = %+v, %v; RangeRecords gave %+v", r.Key, got, err, r)
		}
		return nil
	})
	if err != nil {
		bad("RangeRecords: %v", err)
	}

	maps, err := db.IDMapsSince(0)
	if err != nil {
		bad("IDMapsSince(0): %v", err)
	}
	if len(maps) != len(m.IDMaps) {
		bad("IDMapsSince(0): %d maps; the manifest keeps %d", len(maps), len(m.IDMaps))
	} else {
		for i, mp := range maps {
			if mp.Epoch != m.IDMaps[i] || mp.Epoch > s.Epoch {
				bad("IDMapsSince(0): map %d of epoch %d; the manifest keeps %v, at epoch %d", i, mp.Epoch, m.IDMaps, s.Epoch)
			}
		}
	}
	return errors.Join(errs...)
}

func infoOf(infos []SegmentInfo, n uint64) *SegmentInfo {
	for i := range infos {
		if infos[i].Number == n {
			return &infos[i]
		}
	}
	return nil
}

// TestCheckStoreFindsBreakage: the structural check is not vacuous: each
// kind of breakage it looks for in a sound store's files is reported.
func TestCheckStoreFindsBreakage(t *testing.T) {
	for name, brk := range map[string]func(dir string) error{
		"none": func(string) error { return nil },
		"orphan segment": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, segment.FileName(7)), []byte("x"), 0o644)
		},
		"manifest temp file": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, manifest.FileName+".tmp"), nil, 0o644)
		},
		"ID map missing": func(dir string) error {
			return os.Remove(filepath.Join(dir, manifest.IDMapFileName(1)))
		},
		"key live twice": func(dir string) error {
			// Two rows under one key, appended behind the engine's back
			// (a Put would have superseded the first).
			m, err := manifest.Load(nil, dir)
			if err != nil {
				return err
			}
			for _, ms := range m.Segments {
				if ms.Sealed {
					continue
				}
				seg, err := segment.OpenActive(nil, dir, ms.Number, m.Dimension, ms.Capacity, ms.Rows)
				if err != nil {
					return err
				}
				defer seg.Close()
				vecs := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}}
				return seg.AppendRecords(m.NextID, vecs, []float32{1, 1}, [][]byte{[]byte("dup"), []byte("dup")}, nil, nil, true)
			}
			return errors.New("no active segment")
		},
	} {
		t.Run(name, func(t *testing.T) {
			db, dir := openTest(t, 4)
			add, del := modelOps(t, db, newOracle(4), rand.New(rand.NewSource(3)))
			add(150)
			del(1, 2, 3, 70, 71)
			if _, err := db.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
			add(10)
			db.Close()
			leftDamaged(t, dir) // checked here, not after the test
			if err := brk(dir); err != nil {
				t.Fatal(err)
			}
			ro, err := Open(dir, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			err = checkStore(ro, dir, nil, true)
			t.Logf("checkStore: %v", err)
			if (err == nil) != (name == "none") {
				t.Fatalf("checkStore: %v", err)
			}
		})
	}
}
