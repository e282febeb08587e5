package memvec

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
)

const testSegmentBytes = 8 << 10

// openTest opens a store in a fresh directory with small segments and no
// background compaction (so IDs stay put unless a test compacts), and
// registers a cleanup that checks the store's invariants and closes it.
func openTest(t *testing.T, dim int, mod ...func(*Options)) (*DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	opts := Options{Dimension: dim, SegmentBytes: testSegmentBytes, DisableAutoCompaction: true}
	for _, m := range mod {
		m(&opts)
	}
	db, err := openT(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db.Stats() != (Stats{}) {
			mustCheck(t, db)
		}
		db.Close()
	})
	return db, dir
}

// mustCheck is run after tests (as bbolt's tx.Check): the checksums verify
// and the counters agree with each other.
func mustCheck(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s := db.Stats()
	if s.Total != s.Live+s.Deleted {
		t.Fatalf("stats: Total %d != Live %d + Deleted %d", s.Total, s.Live, s.Deleted)
	}
	if s.ReclaimableBytes < 0 || s.ReclaimableBytes > s.DiskBytes {
		t.Fatalf("stats: reclaimable %d of %d disk bytes", s.ReclaimableBytes, s.DiskBytes)
	}
}

func reopen(t *testing.T, db *DB, dir string, mod ...func(*Options)) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	opts := Options{SegmentBytes: testSegmentBytes, DisableAutoCompaction: true}
	for _, m := range mod {
		m(&opts)
	}
	db2, err := openT(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

// wantLocked fails t unless opening dir with opts fails with ErrLocked:
// another DB has the store. what names the open in the failure.
func wantLocked(t *testing.T, dir string, opts Options, what string) {
	t.Helper()
	if db, err := openT(t, dir, opts); !errors.Is(err, ErrLocked) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("%s: %v; want ErrLocked", what, err)
	}
}

// checkAgainst compares every observable of db with the oracle.
func checkAgainst(t *testing.T, db *DB, o *oracle, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	s := db.Stats()
	if s.Live != uint64(len(o.vecs)) {
		t.Fatalf("Live = %d, oracle has %d", s.Live, len(o.vecs))
	}
	checkGets(t, db, o, o.next+3)
	for i := 0; i < 5; i++ {
		q := randVec(rng, o.dim)
		for _, opt := range []SearchOptions{{}, {TopK: 1}, {TopK: 7, MinScore: -1}, {TopK: 1 << 20, MinScore: 0.1}} {
			got, err := db.Search(ctx, q, opt)
			if err != nil {
				t.Fatal(err)
			}
			k := opt.TopK
			if k == 0 {
				k = 10
			}
			checkResults(t, o, q, nil, k, opt.MinScore, got)
		}
		var ids []uint64
		for j := 0; j < 20; j++ {
			ids = append(ids, uint64(rng.Int63n(int64(o.next+5))))
		}
		ids = append(ids, ids[:5]...)
		got, err := db.SearchIn(ctx, q, ids, SearchOptions{TopK: 8, MinScore: -1})
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, o, q, ids, 8, -1, got)
	}
}

func TestOracleAcrossReopens(t *testing.T) {
	const dim = 24
	rng := rand.New(rand.NewSource(1))
	db, dir := openTest(t, dim)
	o := newOracle(dim)
	for round := 0; round < 6; round++ {
		for b := 0; b < 8; b++ {
			n := 1 + rng.Intn(40)
			if b == 0 {
				n = 200 // several segments in one batch
			}
			vecs := randVecs(rng, n, dim)
			ids, err := db.Add(vecs)
			if err != nil {
				t.Fatal(err)
			}
			if ids[0] != o.next {
				t.Fatalf("batch starts at ID %d, want %d", ids[0], o.next)
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] != ids[i-1]+1 {
					t.Fatalf("batch IDs not consecutive: %v", ids)
				}
			}
			o.add(ids, vecs)
		}
		var del []uint64
		for j := 0; j < 30; j++ {
			del = append(del, uint64(rng.Int63n(int64(o.next+10))))
		}
		del = append(del, del[0], del[1])
		want := o.delete(del)
		got, err := db.Delete(del)
		if err != nil || got != want {
			t.Fatalf("Delete = %d, %v; want %d", got, err, want)
		}
		checkAgainst(t, db, o, rng)
		db = reopen(t, db, dir)
		checkAgainst(t, db, o, rng)
	}
	mustCheck(t, db)
}

func TestFirstIDAndNoReuse(t *testing.T) {
	db, dir := openTest(t, 4)
	ids, err := db.Add([][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}})
	if err != nil || !reflect.DeepEqual(ids, []uint64{0, 1}) {
		t.Fatalf("Add = %v, %v", ids, err)
	}
	if n, err := db.Delete([]uint64{1}); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	db = reopen(t, db, dir)
	ids, err = db.Add([][]float32{{0, 0, 1, 0}})
	if err != nil || ids[0] != 2 {
		t.Fatalf("after reopen Add = %v, %v; want ID 2", ids, err)
	}
	if _, err := db.Get(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted ID readable after reopen: %v", err)
	}
}

func TestAddRejectsBadBatchWhole(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		vecs [][]float32
		want error
	}{
		{"short", [][]float32{{1, 2, 3, 4}, {1, 2, 3}}, ErrDimension},
		{"long", [][]float32{{1, 2, 3, 4, 5}}, ErrDimension},
		{"nan", [][]float32{{1, 2, 3, 4}, {1, nan, 3, 4}}, ErrInvalidVector},
		{"inf", [][]float32{{1, 2, 3, 4}, {-inf, 0, 0, 1}}, ErrInvalidVector},
		{"zero", [][]float32{{1, 2, 3, 4}, {0, 0, 0, 0}}, ErrInvalidVector},
		{"tiny", [][]float32{{1e-38, 0, 0, 0}}, ErrInvalidVector},
	}
	db, _ := openTest(t, 4)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, err := db.Add(c.vecs)
			if !errors.Is(err, c.want) || ids != nil {
				t.Fatalf("Add = %v, %v; want %v", ids, err, c.want)
			}
			if s := db.Stats(); s.Total != 0 {
				t.Fatalf("a rejected batch left %d rows", s.Total)
			}
		})
	}
	if ids, err := db.Add(nil); ids != nil || err != nil {
		t.Fatalf("Add(nil) = %v, %v", ids, err)
	}
	ids, err := db.Add([][]float32{{1, 1, 1, 1}})
	if err != nil || ids[0] != 0 {
		t.Fatalf("first good Add = %v, %v; rejected batches must not use IDs", ids, err)
	}
}

func TestDeleteCounts(t *testing.T) {
	db, _ := openTest(t, 2)
	if _, err := db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ids  []uint64
		want int
	}{
		{nil, 0},
		{[]uint64{99, 1 << 60}, 0},
		{[]uint64{0, 0, 0}, 1},
		{[]uint64{0, 1}, 1},
		{[]uint64{1, 2, 2}, 1},
	}
	for _, c := range cases {
		if n, err := db.Delete(c.ids); n != c.want || err != nil {
			t.Fatalf("Delete(%v) = %d, %v; want %d", c.ids, n, err, c.want)
		}
	}
	if s := db.Stats(); s.Live != 0 || s.Deleted != 3 || s.Total != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSearchArguments(t *testing.T) {
	db, _ := openTest(t, 3)
	ctx := context.Background()
	vecs := make([][]float32, 25)
	for i := range vecs {
		vecs[i] = []float32{1, float32(i), 0.5}
	}
	if _, err := db.Add(vecs); err != nil {
		t.Fatal(err)
	}
	q := []float32{1, 2, 0.5}
	if r, err := db.Search(ctx, q, SearchOptions{}); err != nil || len(r) != 10 {
		t.Fatalf("TopK 0: %d results, %v; want 10", len(r), err)
	}
	if r, err := db.Search(ctx, q, SearchOptions{TopK: 1000}); err != nil || len(r) != 25 {
		t.Fatalf("TopK 1000: %d results, %v; want 25", len(r), err)
	}
	if _, err := db.Search(ctx, q, SearchOptions{TopK: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("TopK -1: %v", err)
	}
	if _, err := db.SearchIn(ctx, q, []uint64{1}, SearchOptions{TopK: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SearchIn TopK -1: %v", err)
	}
	bad := []struct {
		q    []float32
		want error
	}{
		{[]float32{1, 2}, ErrDimension},
		{[]float32{float32(math.NaN()), 0, 1}, ErrInvalidVector},
		{[]float32{float32(math.Inf(-1)), 0, 1}, ErrInvalidVector},
		{[]float32{0, 0, 0}, ErrInvalidVector},
	}
	for _, b := range bad {
		if _, err := db.Search(ctx, b.q, SearchOptions{}); !errors.Is(err, b.want) {
			t.Fatalf("Search(%v) = %v, want %v", b.q, err, b.want)
		}
		if _, err := db.SearchIn(ctx, b.q, []uint64{0}, SearchOptions{}); !errors.Is(err, b.want) {
			t.Fatalf("SearchIn(%v) = %v, want %v", b.q, err, b.want)
		}
	}
	// The exact match scores at least DuplicateMinScore (never above 1),
	// so that MinScore finds it (see TestHostileMinScoreOne).
	r, err := db.Search(ctx, q, SearchOptions{MinScore: DuplicateMinScore(len(q))})
	if err != nil || len(r) != 1 || r[0].ID != 2 || r[0].Score > 1 {
		t.Fatalf("MinScore DuplicateMinScore: %+v, %v", r, err)
	}
	// Opposite vectors are dropped by the default MinScore 0 and kept by -1.
	neg := []float32{-1, -2, -0.5}
	if r, _ := db.Search(ctx, neg, SearchOptions{TopK: 100}); len(r) != 0 {
		t.Fatalf("MinScore 0 kept %d negative scores", len(r))
	}
	if r, _ := db.Search(ctx, neg, SearchOptions{TopK: 100, MinScore: -1}); len(r) != 25 {
		t.Fatalf("MinScore -1 kept %d of 25", len(r))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.Search(cctx, q, SearchOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Search: %v", err)
	}
	if _, err := db.SearchIn(cctx, q, []uint64{1}, SearchOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled SearchIn: %v", err)
	}
}

func TestTiesByID(t *testing.T) {
	db, _ := openTest(t, 2)
	vecs := [][]float32{{1, 0}, {2, 0}, {0, 1}, {3, 0}, {5, 0}}
	if _, err := db.Add(vecs); err != nil {
		t.Fatal(err)
	}
	r, err := db.Search(context.Background(), []float32{1, 0}, SearchOptions{TopK: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0, 1, 3}
	for i, w := range want {
		if r[i].ID != w || r[i].Score != 1 {
			t.Fatalf("ties: got %+v, want IDs %v all scoring 1", r, want)
		}
	}
}

func TestClosedDB(t *testing.T) {
	dir := t.TempDir()
	db, err := openT(t, dir, Options{Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add([][]float32{{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]error{
		"Close": db.Close(),
		"Sync":  db.Sync(),
	}
	_, calls["Add"] = db.Add([][]float32{{1, 2}})
	_, calls["Delete"] = db.Delete([]uint64{0})
	_, calls["Get"] = db.Get(0)
	_, calls["Search"] = db.Search(ctx, []float32{1, 2}, SearchOptions{})
	_, calls["SearchIn"] = db.SearchIn(ctx, []float32{1, 2}, []uint64{0}, SearchOptions{})
	_, calls["SearchBatch"] = db.SearchBatch(ctx, [][]float32{{1, 2}}, SearchOptions{})
	calls["Verify"] = db.Verify(ctx)
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s on a closed DB: %v", name, err)
		}
	}
	if s := db.Stats(); s != (Stats{}) {
		t.Errorf("Stats on a closed DB: %+v", s)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	db, dir := openTest(t, 2)
	wantLocked(t, dir, Options{}, "second Open")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := openT(t, dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db2.Close()
}

func TestOpenDimension(t *testing.T) {
	root := t.TempDir()
	if _, err := openT(t, filepath.Join(root, "new"), Options{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("create without Dimension: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "new")); !os.IsNotExist(err) {
		t.Fatalf("a refused create left a directory: %v", err)
	}
	if _, err := openT(t, filepath.Join(root, "neg"), Options{Dimension: -3}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative Dimension: %v", err)
	}
	dir := filepath.Join(root, "s")
	db, err := openT(t, dir, Options{Dimension: 5})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := openT(t, dir, Options{Dimension: 6}); !errors.Is(err, ErrDimension) {
		t.Fatalf("reopen with another dimension: %v", err)
	}
	for _, d := range []int{0, 5} {
		db, err := openT(t, dir, Options{Dimension: d})
		if err != nil || db.Dimension() != 5 {
			t.Fatalf("reopen with Dimension %d: %v", d, err)
		}
		db.Close()
	}
}

// snapshotDir records every file name and content under dir.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		b := []byte("<dir>")
		if !fi.IsDir() {
			b, _ = os.ReadFile(p)
		}
		out[p] = string(b) + fi.Mode().String()
		return nil
	})
	return out
}

func TestForeignDirectoryUntouched(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	os.Mkdir(filepath.Join(dir, "wal"), 0o755)
	before := snapshotDir(t, dir)
	_, err := openT(t, dir, Options{Dimension: 4})
	if !errors.Is(err, ErrNotStore) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a foreign dir: %v", err)
	}
	if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("Open changed a foreign directory:\nbefore %v\nafter %v", before, after)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := openT(t, f, Options{Dimension: 4}); err == nil {
		t.Fatal("Open of a regular file succeeded")
	}
}

func TestCorruptManifestRefused(t *testing.T) {
	db, dir := openTest(t, 2)
	db.Add([][]float32{{1, 2}})
	db.Close()
	p := filepath.Join(dir, "MANIFEST")
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x40
	os.WriteFile(p, b, 0o644)
	if _, err := openT(t, dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a damaged manifest: %v", err)
	}
}

func TestNoSyncDurableAtClose(t *testing.T) {
	db, dir := openTest(t, 3, func(o *Options) { o.NoSync = true })
	rng := rand.New(rand.NewSource(2))
	o := newOracle(3)
	for i := 0; i < 20; i++ {
		vecs := randVecs(rng, 1+rng.Intn(30), 3)
		ids, err := db.Add(vecs)
		if err != nil {
			t.Fatal(err)
		}
		o.add(ids, vecs)
		if i%5 == 0 {
			del := []uint64{uint64(rng.Intn(int(o.next)))}
			n, _ := db.Delete(del)
			if n != o.delete(del) {
				t.Fatal("delete count")
			}
		}
		if i == 10 {
			if err := db.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	db = reopen(t, db, dir)
	checkAgainst(t, db, o, rng)
}

func TestConcurrentUse(t *testing.T) {
	const dim = 8
	db, _ := openTest(t, dim)
	ctx := context.Background()
	var added, deleted atomic.Int64
	l := newLoad()
	adds := 0
	l.run(3, func(rng *rand.Rand) error { // adder: 150 batches, then the load stops
		if adds == 150 {
			return errLoadDone
		}
		adds++
		ids, err := db.Add(randVecs(rng, 1+rng.Intn(20), dim))
		added.Add(int64(len(ids)))
		return err
	})
	l.run(4, func(rng *rand.Rand) error { // deleter
		n, err := db.Delete([]uint64{uint64(rng.Int63n(added.Load() + 1))})
		deleted.Add(int64(n))
		return err
	})
	for s := 0; s < 3; s++ {
		l.run(int64(10+s), func(rng *rand.Rand) error { // searchers
			q := randVec(rng, dim)
			r, err := db.Search(ctx, q, SearchOptions{TopK: 5, MinScore: -1})
			if err != nil {
				return err
			}
			for i := 1; i < len(r); i++ {
				if r[i-1].Score < r[i].Score {
					return errors.New("unsorted results")
				}
			}
			if _, err := db.Get(uint64(rng.Int63n(added.Load() + 1))); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			return nil
		})
	}
	l.wait(t)
	s := db.Stats()
	if int64(s.Live) != added.Load()-deleted.Load() || int64(s.Total) != added.Load() {
		t.Fatalf("stats %+v; added %d deleted %d", s, added.Load(), deleted.Load())
	}
}

func TestIDMapLookup(t *testing.T) {
	m := IDMap{Epoch: 1, Runs: []IDRun{{Old: 0, New: 100, Len: 3}, {Old: 5, New: 103, Len: 2}}}
	cases := []struct {
		old, want uint64
		ok        bool
	}{{0, 100, true}, {2, 102, true}, {3, 0, false}, {5, 103, true}, {6, 104, true}, {7, 0, false}}
	for _, c := range cases {
		if got, ok := m.Lookup(c.old); got != c.want || ok != c.ok {
			t.Errorf("Lookup(%d) = %d, %v; want %d, %v", c.old, got, ok, c.want, c.ok)
		}
	}
}

// TestDamageNeverServed: Open reads only headers of sealed segments, so a
// flipped vector byte there is not seen by Open; it must be reported by the
// first read of that row (format 5: a prefiltered search reads it only if
// it rescores it), never returned as data.
func TestDamageNeverServed(t *testing.T) {
	db, dir := openTest(t, 4)
	rng := rand.New(rand.NewSource(9))
	vecs := randVecs(rng, 200, 4)
	ids, err := db.Add(vecs)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	seg := filepath.Join(dir, "000000.seg") // sealed: the batch spans segments
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[4096+3] ^= 0x10 // a byte of row 0's first component
	os.WriteFile(seg, b, 0o644)
	leftDamaged(t, dir)
	ctx := context.Background()
	for name, read := range map[string]func(*DB) error{
		"Get": func(db *DB) error { _, err := db.Get(ids[0]); return err },
		"Exhaustive Search": func(db *DB) error {
			_, err := db.Search(ctx, []float32{1, 2, 3, 4}, SearchOptions{Exhaustive: true})
			return err
		},
		// The row's own vector as the query: it is rescored.
		"Search": func(db *DB) error { _, err := db.Search(ctx, vecs[0], SearchOptions{}); return err },
		"SearchIn": func(db *DB) error {
			_, err := db.SearchIn(ctx, []float32{1, 2, 3, 4}, ids[:3], SearchOptions{})
			return err
		},
		"Compact": func(db *DB) error {
			db.Delete(ids[1:2])
			_, err := db.Compact(ctx)
			return err
		},
	} {
		db, err := openT(t, dir, Options{DisableAutoCompaction: true})
		if err != nil {
			t.Fatalf("%s: Open reads only the header and should succeed: %v", name, err)
		}
		if err := read(db); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s over a damaged segment: %v, want ErrCorrupt", name, err)
		}
		db.Close()
	}
}

func TestSearchBatchEqualsSearch(t *testing.T) {
	const dim = 37 // odd: exercises kernel tails
	db, _ := openTest(t, dim)
	rng := rand.New(rand.NewSource(11))
	o := newOracle(dim)
	add, _ := modelOps(t, db, o, rng)
	for i := 0; i < 5; i++ {
		add(150)
	}
	var del []uint64
	for id := uint64(0); id < o.next; id += 3 {
		del = append(del, id)
	}
	db.Delete(del)
	o.delete(del)
	ctx := context.Background()
	for _, nq := range []int{1, 2, 3, 5, 8, 33} {
		queries := randVecs(rng, nq, dim)
		for _, opts := range []SearchOptions{{}, {TopK: 3, MinScore: -1}, {TopK: 1000, MinScore: 0.2}} {
			got, err := db.SearchBatch(ctx, queries, opts)
			if err != nil || len(got) != nq {
				t.Fatalf("SearchBatch(%d queries) = %d results, %v", nq, len(got), err)
			}
			for i, q := range queries {
				want, err := db.Search(ctx, q, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got[i], want) {
					t.Fatalf("nq=%d opts %+v query %d: batch %v\nsingle %v", nq, opts, i, got[i], want)
				}
				k := opts.TopK
				if k == 0 {
					k = 10
				}
				checkResults(t, o, q, nil, k, opts.MinScore, got[i])
			}
		}
	}
	if r, err := db.SearchBatch(ctx, nil, SearchOptions{}); err != nil || len(r) != 0 {
		t.Fatalf("empty batch: %v, %v", r, err)
	}
	bad := [][]float32{randVec(rng, dim), make([]float32, dim)}
	if _, err := db.SearchBatch(ctx, bad, SearchOptions{}); !errors.Is(err, ErrInvalidVector) {
		t.Fatalf("batch with a zero query: %v", err)
	}
	if _, err := db.SearchBatch(ctx, bad[:1], SearchOptions{TopK: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("batch with TopK -1: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.SearchBatch(cctx, bad[:1], SearchOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled batch: %v", err)
	}
}

// TestSearchInManyIDs covers the parallel path of SearchIn (ID sets large
// enough to be split over the cores), with duplicates and dead IDs.
func TestSearchInManyIDs(t *testing.T) {
	const dim = 16
	db, _ := openTest(t, dim)
	rng := rand.New(rand.NewSource(12))
	o := newOracle(dim)
	vecs := randVecs(rng, 3000, dim)
	ids, err := db.Add(vecs)
	if err != nil {
		t.Fatal(err)
	}
	o.add(ids, vecs)
	db.Delete(ids[:300])
	o.delete(ids[:300])
	var in []uint64
	for i := 0; i < 2500; i++ {
		in = append(in, uint64(rng.Intn(3200)))
	}
	for _, opts := range []SearchOptions{{TopK: 50, MinScore: -1}, {TopK: 5000, MinScore: 0.3}} {
		q := randVec(rng, dim)
		got, err := db.SearchIn(context.Background(), q, in, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, o, q, in, opts.TopK, opts.MinScore, got)
	}
}

// TestSearchInRuns covers SearchIn's gathering of consecutive live rows
// into block-kernel runs: contiguous ID ranges that cross segment
// boundaries, holes left by deletes, IDs moved by a compaction and rows
// added after it. Scores must be bit-identical to Search's (the kernel
// scores a row the same whatever its place in a block).
func TestSearchInRuns(t *testing.T) {
	const dim = 16
	db, _ := openTest(t, dim)
	rng := rand.New(rand.NewSource(21))
	o := newOracle(dim)
	add, _ := modelOps(t, db, o, rng)
	for _, n := range []int{700, 3, 90, 400} {
		add(n)
	}
	var dead []uint64
	for id := uint64(5); id < o.next; id += 37 {
		dead = append(dead, id, id+1)
	}
	db.Delete(dead)
	o.delete(dead)
	m, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o.applyMap(t, m)
	add(300)
	ctx := context.Background()
	var all []uint64
	for id := uint64(0); id < o.next; id++ {
		all = append(all, id)
	}
	for _, in := range [][]uint64{all, all[100:900], all[len(all)-350:], {all[3], all[4], all[200], all[201], all[202]}} {
		q := randVec(rng, dim)
		opts := SearchOptions{TopK: 1 << 20, MinScore: -1}
		got, err := db.SearchIn(ctx, q, in, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, o, q, in, opts.TopK, -1, got)
		full, err := db.Search(ctx, q, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := make(map[uint64]float32, len(full))
		for _, r := range full {
			want[r.ID] = r.Score
		}
		for _, r := range got {
			if want[r.ID] != r.Score {
				t.Fatalf("ID %d: SearchIn score %v, Search score %v", r.ID, r.Score, want[r.ID])
			}
		}
	}
}
