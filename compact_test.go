package memvec

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// applyMap moves the oracle's vectors as a compaction moved the store's,
// checking the map's shape on the way: runs sorted by old ID, old IDs
// live, new IDs fresh (at or above the oracle's next ID) and consecutive.
func (o *oracle) applyMap(t *testing.T, m IDMap) {
	t.Helper()
	moved := map[uint64][]float32{}
	prevNew := uint64(0)
	for i, r := range m.Runs {
		if r.Len == 0 || (i > 0 && r.Old < m.Runs[i-1].Old+m.Runs[i-1].Len) {
			t.Fatalf("map run %d %+v empty or out of order", i, r)
		}
		if r.New < o.next || (i > 0 && r.New != prevNew) {
			t.Fatalf("map run %d %+v: new IDs not fresh and consecutive (next %d, expected %d)", i, r, o.next, prevNew)
		}
		prevNew = r.New + r.Len
		for k := uint64(0); k < r.Len; k++ {
			v, ok := o.vecs[r.Old+k]
			if !ok {
				t.Fatalf("map moves ID %d, which is not live", r.Old+k)
			}
			moved[r.New+k] = v
			delete(o.vecs, r.Old+k)
		}
	}
	for id, v := range moved {
		o.vecs[id] = v
	}
	if prevNew > o.next {
		o.next = prevNew
	}
}

func TestCompactMovesLiveVectors(t *testing.T) {
	const dim = 12
	rng := rand.New(rand.NewSource(5))
	var seen []IDMap
	var mu sync.Mutex
	opts := func(o *Options) {
		o.OnCompact = func(m IDMap) { mu.Lock(); seen = append(seen, m); mu.Unlock() }
	}
	db, dir := openTest(t, dim, opts)
	o := newOracle(dim)
	var maps []IDMap
	for round := 0; round < 4; round++ {
		for b := 0; b < 6; b++ {
			vecs := randVecs(rng, 1+rng.Intn(70), dim)
			ids, err := db.Add(vecs)
			if err != nil {
				t.Fatal(err)
			}
			o.add(ids, vecs)
		}
		var del []uint64
		for id := range o.vecs {
			if rng.Intn(3) == 0 {
				del = append(del, id)
			}
		}
		if n, err := db.Delete(del); err != nil || n != len(del) {
			t.Fatalf("Delete = %d, %v; want %d", n, err, len(del))
		}
		o.delete(del)
		before := map[uint64]bool{}
		for id := range o.vecs {
			before[id] = true
		}
		m, err := db.Compact(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if m.Epoch != uint64(round+1) {
			t.Fatalf("epoch %d, want %d", m.Epoch, round+1)
		}
		o.applyMap(t, m)
		maps = append(maps, m)
		for old := range before {
			if _, moved := m.Lookup(old); moved {
				if _, err := db.Get(old); !errors.Is(err, ErrNotFound) {
					t.Fatalf("old ID %d still readable after the move: %v", old, err)
				}
			}
		}
		s := db.Stats()
		if s.Deleted != 0 || s.ReclaimableBytes != 0 || s.Total != s.Live || s.Epoch != m.Epoch {
			t.Fatalf("after Compact: %+v", s)
		}
		mu.Lock()
		if len(seen) != len(maps) || !reflect.DeepEqual(seen[len(seen)-1], m) {
			t.Fatalf("OnCompact saw %d maps, last %+v; Compact returned %+v", len(seen), seen, m)
		}
		mu.Unlock()
		checkAgainst(t, db, o, rng)
		db = reopen(t, db, dir, opts)
		checkAgainst(t, db, o, rng)
		got, err := db.IDMapsSince(0)
		if err != nil || !reflect.DeepEqual(got, maps) {
			t.Fatalf("IDMapsSince(0) after reopen = %+v, %v; want %+v", got, err, maps)
		}
	}
	if err := db.ReleaseIDMaps(2); err != nil {
		t.Fatal(err)
	}
	got, err := db.IDMapsSince(0)
	if err != nil || !reflect.DeepEqual(got, maps[2:]) {
		t.Fatalf("after ReleaseIDMaps(2): %+v, %v", got, err)
	}
	if got, _ := db.IDMapsSince(3); !reflect.DeepEqual(got, maps[3:]) {
		t.Fatalf("IDMapsSince(3) = %+v", got)
	}
	db = reopen(t, db, dir)
	if got, _ := db.IDMapsSince(0); !reflect.DeepEqual(got, maps[2:]) {
		t.Fatalf("released maps came back after reopen: %+v", got)
	}
}

func TestCompactNothingToReclaim(t *testing.T) {
	db, dir := openTest(t, 4)
	if m, err := db.Compact(context.Background()); err != nil || m.Epoch != 0 || len(m.Runs) != 0 {
		t.Fatalf("Compact of an empty store = %+v, %v", m, err)
	}
	rng := rand.New(rand.NewSource(1))
	if _, err := db.Add(randVecs(rng, 100, 4)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	if m, err := db.Compact(context.Background()); err != nil || m.Epoch != 0 || len(m.Runs) != 0 {
		t.Fatalf("Compact without deletes = %+v, %v", m, err)
	}
	after, _ := os.ReadDir(dir)
	if len(before) != len(after) || db.Stats().Epoch != 0 {
		t.Fatalf("Compact without deletes changed the store: %d -> %d files, epoch %d", len(before), len(after), db.Stats().Epoch)
	}
}

func TestCompactCancelledLeavesStore(t *testing.T) {
	db, _ := openTest(t, 4)
	rng := rand.New(rand.NewSource(2))
	o := newOracle(4)
	vecs := randVecs(rng, 300, 4)
	ids, _ := db.Add(vecs)
	o.add(ids, vecs)
	db.Delete(ids[:50])
	o.delete(ids[:50])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Compact: %v", err)
	}
	if s := db.Stats(); s.Epoch != 0 || s.Deleted != 50 {
		t.Fatalf("cancelled Compact changed the store: %+v", s)
	}
	checkAgainst(t, db, o, rng)
}

func TestCompactKeepsWALBounded(t *testing.T) {
	db, _ := openTest(t, 4)
	rng := rand.New(rand.NewSource(3))
	ids, _ := db.Add(randVecs(rng, 2000, 4))
	for _, id := range ids[:1000] {
		if _, err := db.Delete([]uint64{id}); err != nil {
			t.Fatal(err)
		}
	}
	grown := db.Stats().WALBytes
	if _, err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := db.Stats().WALBytes; after >= grown/10 {
		t.Fatalf("WAL is %d bytes after compaction, %d before: tombstones of retired rows were kept", after, grown)
	}
}

func TestBackgroundCompaction(t *testing.T) {
	done := make(chan IDMap, 16)
	db, _ := openTest(t, 8, func(o *Options) {
		o.DisableAutoCompaction = false
		o.CompactionGarbageRatio = 0.3
		o.OnCompact = func(m IDMap) { done <- m }
	})
	rng := rand.New(rand.NewSource(4))
	o := newOracle(8)
	vecs := randVecs(rng, 400, 8)
	ids, _ := db.Add(vecs)
	o.add(ids, vecs)
	// Half of every sealed segment's rows: well past the ratio.
	var del []uint64
	for i := 0; i < 300; i += 2 {
		del = append(del, ids[i])
	}
	db.Delete(del)
	o.delete(del)
	select {
	case m := <-done:
		o.applyMap(t, m)
	case <-time.After(30 * time.Second):
		t.Fatal("no background compaction within 30 s of deleting half the rows")
	}
	// More passes may follow; drain them once the compactor goes idle by
	// closing, which stops it.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	close(done)
	for m := range done {
		o.applyMap(t, m)
	}
	db2, err := openT(t, db.e.Dir(), Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	checkAgainst(t, db2, o, rng)
}

func TestCompactUnderConcurrentLoad(t *testing.T) {
	const dim = 8
	db, _ := openTest(t, dim)
	ctx := context.Background()
	var added, deleted atomic.Int64
	var maxID atomic.Uint64
	l := newLoad()
	l.run(1, func(rng *rand.Rand) error { // adder
		ids, err := db.Add(randVecs(rng, 1+rng.Intn(30), dim))
		if err == nil {
			added.Add(int64(len(ids)))
			maxID.Store(ids[len(ids)-1])
		}
		return err
	})
	l.run(2, func(rng *rand.Rand) error { // deleter: IDs across the whole range, moved ones too
		n, err := db.Delete([]uint64{uint64(rng.Int63n(int64(maxID.Load() + 2)))})
		deleted.Add(int64(n))
		return err
	})
	for s := int64(0); s < 2; s++ {
		l.run(10+s, func(rng *rand.Rand) error { // searchers
			r, err := db.Search(ctx, randVec(rng, dim), SearchOptions{TopK: 5, MinScore: -1})
			for i := 1; err == nil && i < len(r); i++ {
				if r[i-1].Score < r[i].Score {
					err = errors.New("unsorted results")
				}
			}
			if err == nil {
				_, err = db.Get(uint64(rng.Int63n(int64(maxID.Load() + 1))))
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
			}
			return err
		})
	}
	compactions := 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		compactions++
	}
	l.halt()
	l.wait(t)
	s := db.Stats()
	if int64(s.Live) != added.Load()-deleted.Load() {
		t.Fatalf("Live %d, added %d - deleted %d = %d (%d compactions)", s.Live, added.Load(), deleted.Load(), added.Load()-deleted.Load(), compactions)
	}
	if _, err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.Deleted != 0 || s.Total != s.Live {
		t.Fatalf("final Compact left %+v", s)
	}
	t.Logf("%d compactions, %d added, %d deleted", compactions, added.Load(), deleted.Load())
}

func TestIDMapsOnClosedDB(t *testing.T) {
	db, _ := openTest(t, 2)
	db.Close()
	if _, err := db.Compact(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compact: %v", err)
	}
	if _, err := db.IDMapsSince(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("IDMapsSince: %v", err)
	}
	if err := db.ReleaseIDMaps(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReleaseIDMaps: %v", err)
	}
}

// TestOnCompactMayUseDB: the callback runs with no lock held, so it may
// read the store, including the map it was just given.
func TestOnCompactMayUseDB(t *testing.T) {
	var db *DB
	var got []IDMap
	db, _ = openTest(t, 4, func(o *Options) {
		o.OnCompact = func(m IDMap) {
			maps, err := db.IDMapsSince(m.Epoch - 1)
			if err != nil || len(maps) != 1 || !reflect.DeepEqual(maps[0], m) {
				t.Errorf("IDMapsSince inside OnCompact = %+v, %v", maps, err)
			}
			if db.Stats().Epoch != m.Epoch {
				t.Errorf("Stats inside OnCompact: epoch %d, map %d", db.Stats().Epoch, m.Epoch)
			}
			got = append(got, m)
		}
	})
	ids, _ := db.Add(randVecs(rand.New(rand.NewSource(6)), 100, 4))
	db.Delete(ids[:10])
	m, err := db.Compact(context.Background())
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], m) {
		t.Fatalf("Compact = %+v, %v; OnCompact saw %+v", m, err, got)
	}
}

// TestCloseStopsBackgroundCompaction: Close returns while the compactor
// has work, and the store reopens consistent.
func TestCloseStopsBackgroundCompaction(t *testing.T) {
	db, dir := openTest(t, 8, func(o *Options) { o.DisableAutoCompaction = false })
	rng := rand.New(rand.NewSource(8))
	ids, _ := db.Add(randVecs(rng, 3000, 8))
	deleted := 0
	for i := 0; i < len(ids); i += 2 {
		// Once the compactor moves a row its old ID counts 0 here.
		n, err := db.Delete(ids[i : i+1])
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := openT(t, dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	mustCheck(t, db2)
	if s := db2.Stats(); s.Live != uint64(3000-deleted) {
		t.Fatalf("after Close during background compaction: %+v", s)
	}
}
