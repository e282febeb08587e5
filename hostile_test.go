package memvec

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/manifest"
)

// The hostile-input tests: every kind of bad input to every public method,
// and what it must return. docs/hostile-input.md is the table; each of its
// rows names the test (and subtest) here, or elsewhere, that backs it.

const hostileDim = 4

// hostileCap is the capacity of a testSegmentBytes segment at hostileDim:
// (8192 - 4096) / (4*4 + 4 + 48) rows.
const hostileCap = 60

// hostileBad is one kind of bad vector and the sentinel it must fail with.
type hostileBad struct {
	name string
	v    []float32
	want error
}

// hostileBadVectors are the bad vectors (and queries) of a store of
// dimension hostileDim.
func hostileBadVectors() []hostileBad {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	sub := math.Float32frombits(1) // the smallest subnormal
	return []hostileBad{
		{"nil", nil, ErrDimension},
		{"empty", []float32{}, ErrDimension},
		{"short", []float32{1, 2, 3}, ErrDimension},
		{"long", []float32{1, 2, 3, 4, 5}, ErrDimension},
		{"NaN", []float32{1, nan, 3, 4}, ErrInvalidVector},
		{"+Inf", []float32{1, 2, inf, 4}, ErrInvalidVector},
		{"-Inf", []float32{-inf, 2, 3, 4}, ErrInvalidVector},
		{"all zero", []float32{0, 0, 0, 0}, ErrInvalidVector},
		{"negative zeros", []float32{negZero, negZero, negZero, negZero}, ErrInvalidVector},
		{"subnormal only", []float32{sub, sub, 0, sub}, ErrInvalidVector},
		{"norm below 1e-30", []float32{1e-31, 0, 0, 0}, ErrInvalidVector},
		{"norm above 1e30", []float32{2e30, 0, 0, 0}, ErrInvalidVector},
		{"MaxFloat32", []float32{math.MaxFloat32, 1, 1, 1}, ErrInvalidVector},
	}
}

// hostileGood are vectors at the edges of what is accepted.
func hostileGood() []struct {
	name string
	v    []float32
} {
	return []struct {
		name string
		v    []float32
	}{
		{"norm 1e-29", []float32{1e-29, 0, 0, 0}},
		{"norm 1e29", []float32{0, -1e29, 0, 0}},
		{"one subnormal component", []float32{1, math.Float32frombits(1), 0, 0}},
		{"negative", []float32{-1, -2, -3, -4}},
	}
}

// hostileFill adds n random vectors to db and to o.
func hostileFill(t *testing.T, db *DB, o *oracle, rng *rand.Rand, n int) []uint64 {
	t.Helper()
	vecs := randVecs(rng, n, o.dim)
	ids, err := db.Add(vecs)
	if err != nil {
		t.Fatal(err)
	}
	o.add(ids, vecs)
	return ids
}

// hostileCheckModel compares every ID below o.next (and a few above) and
// the statistics with the model.
func hostileCheckModel(t *testing.T, db *DB, o *oracle) {
	t.Helper()
	if s := db.Stats(); s.Live != uint64(len(o.vecs)) {
		t.Fatalf("Live = %d, the model has %d", s.Live, len(o.vecs))
	}
	checkGets(t, db, o, o.next+3)
}

// TestHostileAdd: every kind of bad vector, alone or at the end of a batch
// larger than a segment, fails the whole batch with its sentinel, adds
// nothing and uses no ID; empty batches add nothing; vectors at the edges
// of the accepted range and batches of many segments are stored bit for
// bit; the caller may reuse its slices afterwards.
func TestHostileAdd(t *testing.T) {
	db, dir := openTest(t, hostileDim)
	o := newOracle(hostileDim)
	rng := rand.New(rand.NewSource(21))
	hostileFill(t, db, o, rng, 5)

	refused := func(t *testing.T, vecs [][]float32, want error) {
		t.Helper()
		before := db.Stats()
		ids, err := db.Add(vecs)
		if !errors.Is(err, want) || ids != nil {
			t.Fatalf("Add = %v, %v; want %v", ids, err, want)
		}
		if after := db.Stats(); after != before {
			t.Fatalf("a refused batch changed the store: %+v -> %+v", before, after)
		}
	}
	for _, b := range hostileBadVectors() {
		t.Run("alone/"+b.name, func(t *testing.T) {
			refused(t, [][]float32{b.v}, b.want)
		})
		t.Run("after good ones/"+b.name, func(t *testing.T) {
			refused(t, [][]float32{{1, 2, 3, 4}, {4, 3, 2, 1}, b.v}, b.want)
		})
		t.Run("last of 3 segments/"+b.name, func(t *testing.T) {
			vecs := randVecs(rng, 3*hostileCap+7, hostileDim)
			vecs[len(vecs)-1] = b.v
			refused(t, vecs, b.want)
		})
	}
	t.Run("first bad vector decides", func(t *testing.T) {
		refused(t, [][]float32{{1, 2, 3, 4}, {0, 0, 0, 0}, {1, 2}}, ErrInvalidVector)
		refused(t, [][]float32{{1, 2}, {0, 0, 0, 0}}, ErrDimension)
	})
	t.Run("empty batches", func(t *testing.T) {
		before := db.Stats()
		for _, vecs := range [][][]float32{nil, {}} {
			if ids, err := db.Add(vecs); ids != nil || err != nil {
				t.Fatalf("Add(%#v) = %v, %v; want nil, nil", vecs, ids, err)
			}
		}
		if after := db.Stats(); after != before {
			t.Fatalf("an empty batch changed the store: %+v -> %+v", before, after)
		}
	})
	// Nothing refused used an ID.
	hostileFill(t, db, o, rng, 1)
	if o.next != 6 {
		t.Fatalf("refused batches used IDs: the next good one got %d, want 5", o.next-1)
	}
	t.Run("edges of the accepted range", func(t *testing.T) {
		for _, g := range hostileGood() {
			ids, err := db.Add([][]float32{g.v})
			if err != nil {
				t.Fatalf("%s: Add(%v): %v", g.name, g.v, err)
			}
			o.add(ids, [][]float32{g.v})
			// Its own direction scores 1 (within the rounding of float32).
			res, err := db.SearchIn(context.Background(), g.v, ids, SearchOptions{TopK: 1, MinScore: -1})
			if err != nil || len(res) != 1 || math.Abs(float64(res[0].Score)-1) > 1e-5 {
				t.Fatalf("%s: SearchIn for itself = %+v, %v", g.name, res, err)
			}
		}
	})
	t.Run("batches of many segments", func(t *testing.T) {
		for _, n := range []int{hostileCap, hostileCap + 1, 3*hostileCap + 7, 10000} {
			first := o.next
			ids := hostileFill(t, db, o, rng, n)
			if len(ids) != n || ids[0] != first || ids[n-1] != first+uint64(n-1) {
				t.Fatalf("batch of %d: IDs %d..%d, want %d..%d", n, ids[0], ids[len(ids)-1], first, first+uint64(n-1))
			}
		}
	})
	t.Run("caller reuses its slices", func(t *testing.T) {
		v := []float32{1, 2, 3, 4}
		batch := [][]float32{v}
		ids, err := db.Add(batch)
		if err != nil {
			t.Fatal(err)
		}
		o.add(ids, batch)
		v[0] = 99
		batch[0] = nil
		got, err := db.Get(ids[0])
		if err != nil || !bitsEqual(got, []float32{1, 2, 3, 4}) {
			t.Fatalf("after the caller changed its slice: Get = %v, %v", got, err)
		}
		got[1] = 99 // Get returns a copy
		if again, _ := db.Get(ids[0]); again[1] != 2 {
			t.Fatalf("changing Get's result changed the store: %v", again)
		}
	})
	hostileCheckModel(t, db, o)
	db = reopen(t, db, dir)
	hostileCheckModel(t, db, o)
}

// hostileCompacted returns a store with IDs of every kind: live ones that
// never moved, live ones moved by a compaction (at new IDs), retired ones
// (their old IDs), deleted ones, and the next ID.
type hostileCompacted struct {
	db      *DB
	dir     string
	o       *oracle
	retired []uint64 // old IDs of moved vectors
	moved   []uint64 // their new IDs
	deleted []uint64
	m       IDMap
}

func newHostileCompacted(t *testing.T) *hostileCompacted {
	t.Helper()
	db, dir := openTest(t, hostileDim)
	h := &hostileCompacted{db: db, dir: dir, o: newOracle(hostileDim)}
	rng := rand.New(rand.NewSource(22))
	hostileFill(t, db, h.o, rng, 100) // IDs 0..59 in a sealed segment, 60..99 active
	del := []uint64{10, 11, 12}
	if n, err := db.Delete(del); err != nil || n != 3 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	h.o.delete(del)
	m, err := db.Compact(context.Background())
	if err != nil || len(m.Runs) == 0 {
		t.Fatalf("Compact = %+v, %v", m, err)
	}
	h.m = m
	for _, r := range m.Runs {
		for k := uint64(0); k < r.Len; k++ {
			h.retired = append(h.retired, r.Old+k)
			h.moved = append(h.moved, r.New+k)
		}
	}
	h.o.applyMap(t, m)
	del = []uint64{70, 71}
	if n, err := db.Delete(del); err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	h.o.delete(del)
	h.deleted = []uint64{10, 11, 12, 70, 71}
	return h
}

// TestHostileDelete: Delete counts only IDs that were live, once each;
// unknown, deleted, retired and repeated IDs count 0 and change nothing
// (not even the WAL); deleting a retired ID leaves its moved vector alone.
func TestHostileDelete(t *testing.T) {
	h := newHostileCompacted(t)
	db, o := h.db, h.o
	live := h.moved[0]
	huge := make([]uint64, 1_000_000)
	for i := range huge {
		huge[i] = o.next + 10 + uint64(i)
	}
	cases := []struct {
		name string
		ids  []uint64
		want int
	}{
		{"nil", nil, 0},
		{"empty", []uint64{}, 0},
		{"unknown", []uint64{o.next, o.next + 1, 1 << 40, math.MaxUint64, math.MaxUint64 - 1}, 0},
		{"deleted", h.deleted, 0},
		{"retired by compaction", h.retired, 0},
		{"a million unknown", huge, 0},
		{"one live ID repeated", []uint64{live, live, live}, 1},
		{"mixed", []uint64{math.MaxUint64, h.retired[1], h.moved[1], 10, h.moved[1], 99, 99, o.next}, 2},
		{"deleted by the previous call", []uint64{h.moved[1], 99}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := db.Stats()
			n, err := db.Delete(c.ids)
			if err != nil || n != c.want {
				t.Fatalf("Delete = %d, %v; want %d", n, err, c.want)
			}
			if got := o.delete(c.ids); got != c.want {
				t.Fatalf("the model counts %d", got)
			}
			after := db.Stats()
			if after.Live != before.Live-uint64(n) || after.Deleted != before.Deleted+uint64(n) {
				t.Fatalf("stats %+v -> %+v after deleting %d", before, after, n)
			}
			if n == 0 && after != before {
				t.Fatalf("a Delete that deleted nothing changed the store: %+v -> %+v", before, after)
			}
		})
	}
	hostileCheckModel(t, db, o)
	db = reopen(t, db, h.dir)
	hostileCheckModel(t, db, o)
}

// TestHostileGet: IDs that are not live read as ErrNotFound, whatever the
// reason; the vector returned is a copy.
func TestHostileGet(t *testing.T) {
	h := newHostileCompacted(t)
	cases := []struct {
		name string
		ids  []uint64
	}{
		{"never handed out", []uint64{h.o.next, h.o.next + 1, 1 << 40}},
		{"far end of the ID space", []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 63}},
		{"deleted", h.deleted},
		{"retired by compaction", h.retired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, id := range c.ids {
				if v, err := h.db.Get(id); !errors.Is(err, ErrNotFound) || v != nil {
					t.Fatalf("Get(%d) = %v, %v; want ErrNotFound", id, v, err)
				}
			}
		})
	}
	t.Run("moved vector at its new ID", func(t *testing.T) {
		for i, id := range h.moved {
			got, err := h.db.Get(id)
			if err != nil || !bitsEqual(got, h.o.vecs[id]) {
				t.Fatalf("Get(%d) (was %d) = %v, %v; want %v", id, h.retired[i], got, err, h.o.vecs[id])
			}
		}
	})
	t.Run("result is a copy", func(t *testing.T) {
		id := h.moved[0]
		got, _ := h.db.Get(id)
		got[0] = float32(math.NaN())
		if again, err := h.db.Get(id); err != nil || !bitsEqual(again, h.o.vecs[id]) {
			t.Fatalf("Get after changing a previous result = %v, %v", again, err)
		}
	})
}

// hostileSearchFn runs one of Search, SearchIn (over ids) or SearchBatch
// (with the query twice) and returns the first answer.
type hostileSearchFn func(ctx context.Context, db *DB, q []float32, ids []uint64, opts SearchOptions) ([]Result, error)

func hostileSearchers() []struct {
	name string
	fn   hostileSearchFn
} {
	return []struct {
		name string
		fn   hostileSearchFn
	}{
		{"Search", func(ctx context.Context, db *DB, q []float32, _ []uint64, opts SearchOptions) ([]Result, error) {
			return db.Search(ctx, q, opts)
		}},
		{"SearchIn", func(ctx context.Context, db *DB, q []float32, ids []uint64, opts SearchOptions) ([]Result, error) {
			return db.SearchIn(ctx, q, ids, opts)
		}},
		{"SearchBatch", func(ctx context.Context, db *DB, q []float32, _ []uint64, opts SearchOptions) ([]Result, error) {
			res, err := db.SearchBatch(ctx, [][]float32{q, q}, opts)
			if err != nil {
				return nil, err
			}
			if len(res) != 2 || !reflect.DeepEqual(res[0], res[1]) {
				return nil, fmt.Errorf("SearchBatch of a query twice gave %v", res)
			}
			return res[0], nil
		}},
	}
}

// TestHostileSearch: bad queries, TopK and MinScore extremes, cancelled
// contexts and an empty store, for Search, SearchIn and SearchBatch alike;
// answers are checked against brute force.
func TestHostileSearch(t *testing.T) {
	h := newHostileCompacted(t)
	db, o := h.db, h.o
	ctx := context.Background()
	empty, _ := openTest(t, hostileDim)
	all := make([]uint64, 0, o.next+10)
	for id := uint64(0); id < o.next+10; id++ {
		all = append(all, id)
	}
	live := uint64(len(o.vecs))
	q := []float32{0.5, -1, 2, 0.25}
	nanScore := float32(math.NaN())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, s := range hostileSearchers() {
		t.Run(s.name, func(t *testing.T) {
			for _, b := range hostileBadVectors() {
				t.Run("query "+b.name, func(t *testing.T) {
					if res, err := s.fn(ctx, db, b.v, all, SearchOptions{}); !errors.Is(err, b.want) || res != nil {
						t.Fatalf("= %v, %v; want %v", res, err, b.want)
					}
				})
			}
			for _, k := range []int{-1, math.MinInt} {
				t.Run(fmt.Sprintf("TopK %d", k), func(t *testing.T) {
					if _, err := s.fn(ctx, db, q, all, SearchOptions{TopK: k}); !errors.Is(err, ErrInvalidArgument) {
						t.Fatalf("%v; want ErrInvalidArgument", err)
					}
					// A bad TopK is reported before a bad query.
					if _, err := s.fn(ctx, db, nil, all, SearchOptions{TopK: k}); !errors.Is(err, ErrInvalidArgument) {
						t.Fatalf("with a nil query: %v; want ErrInvalidArgument", err)
					}
				})
			}
			cases := []struct {
				name string
				opts SearchOptions
				want int // results, -1: checked against brute force only
			}{
				{"TopK 0 means 10", SearchOptions{MinScore: -1}, 10},
				{"TopK 1", SearchOptions{TopK: 1, MinScore: -1}, 1},
				{"TopK live count", SearchOptions{TopK: int(live), MinScore: -1}, int(live)},
				{"TopK above live count", SearchOptions{TopK: int(live) + 1, MinScore: -1}, int(live)},
				{"TopK MaxInt", SearchOptions{TopK: math.MaxInt, MinScore: -1}, int(live)},
				{"MinScore -1 keeps all", SearchOptions{TopK: 1 << 20, MinScore: -1}, int(live)},
				{"MinScore -Inf keeps all", SearchOptions{TopK: 1 << 20, MinScore: float32(math.Inf(-1))}, int(live)},
				{"MinScore -MaxFloat32 keeps all", SearchOptions{TopK: 1 << 20, MinScore: -math.MaxFloat32}, int(live)},
				{"MinScore 0 keeps non-negative", SearchOptions{TopK: 1 << 20}, -1},
				{"MinScore 0.5", SearchOptions{TopK: 1 << 20, MinScore: 0.5}, -1},
				{"MinScore above 1 keeps none", SearchOptions{TopK: 1 << 20, MinScore: 1.0001}, 0},
				{"MinScore +Inf keeps none", SearchOptions{TopK: 1 << 20, MinScore: float32(math.Inf(1))}, 0},
				{"MinScore NaN keeps none", SearchOptions{TopK: 1 << 20, MinScore: nanScore}, 0},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					res, err := s.fn(ctx, db, q, all, c.opts)
					if err != nil {
						t.Fatal(err)
					}
					if c.want >= 0 && len(res) != c.want {
						t.Fatalf("%d results, want %d", len(res), c.want)
					}
					k := c.opts.TopK
					if k == 0 {
						k = 10
					}
					if !math.IsNaN(float64(c.opts.MinScore)) {
						checkResults(t, o, q, nil, k, c.opts.MinScore, res)
					}
				})
			}
			t.Run("exact match with MinScore 0.9999", func(t *testing.T) {
				// MinScore 1 does not find it: TestHostileMinScoreOne.
				id := h.moved[3]
				res, err := s.fn(ctx, db, o.vecs[id], all, SearchOptions{MinScore: 0.9999})
				if err != nil || len(res) != 1 || res[0].ID != id || res[0].Score > 1 {
					t.Fatalf("= %+v, %v; want ID %d alone", res, err, id)
				}
			})
			t.Run("cancelled context", func(t *testing.T) {
				if res, err := s.fn(cancelled, db, q, all, SearchOptions{}); !errors.Is(err, context.Canceled) || res != nil {
					t.Fatalf("= %v, %v; want context.Canceled", res, err)
				}
			})
			t.Run("empty store", func(t *testing.T) {
				res, err := s.fn(ctx, empty, q, []uint64{0, 1, math.MaxUint64}, SearchOptions{TopK: math.MaxInt, MinScore: -1})
				if err != nil || len(res) != 0 {
					t.Fatalf("= %v, %v; want no results", res, err)
				}
			})
		})
	}
	t.Run("SearchIn IDs", func(t *testing.T) {
		many := make([]uint64, 0, 1_000_000)
		for i := 0; len(many) < cap(many); i++ {
			many = append(many, uint64(i)*7919%(o.next+1000))
		}
		cases := []struct {
			name string
			ids  []uint64
		}{
			{"nil", nil},
			{"empty", []uint64{}},
			{"unknown", []uint64{o.next, 1 << 40, math.MaxUint64}},
			{"deleted", h.deleted},
			{"retired", h.retired},
			{"repeated", []uint64{h.moved[0], h.moved[0], 99, 99, 99, h.moved[0]}},
			{"unsorted mix", []uint64{math.MaxUint64, 99, h.retired[0], h.moved[2], 0, h.deleted[0], 61}},
			{"a million, mostly repeated or unknown", many},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				opts := SearchOptions{TopK: 1 << 20, MinScore: -1}
				res, err := db.SearchIn(ctx, q, c.ids, opts)
				if err != nil {
					t.Fatal(err)
				}
				ids := c.ids
				if ids == nil {
					ids = []uint64{} // the oracle reads nil as the whole store
				}
				checkResults(t, o, q, ids, opts.TopK, opts.MinScore, res)
				if want := len(o.search(q, ids, -1)); len(res) != want {
					t.Fatalf("%d results, want %d", len(res), want)
				}
			})
		}
	})
	t.Run("SearchBatch batches", func(t *testing.T) {
		for _, qs := range [][][]float32{nil, {}} {
			res, err := db.SearchBatch(ctx, qs, SearchOptions{})
			if err != nil || res == nil || len(res) != 0 {
				t.Fatalf("SearchBatch(%#v) = %#v, %v; want an empty result", qs, res, err)
			}
		}
		if _, err := db.SearchBatch(ctx, nil, SearchOptions{TopK: -1}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("empty batch with TopK -1: %v", err)
		}
		bad := [][]float32{q, q, {1, 2, 3}, {0, 0, 0, 0}}
		_, err := db.SearchBatch(ctx, bad, SearchOptions{})
		if !errors.Is(err, ErrDimension) || !strings.Contains(err.Error(), "query 2") {
			t.Fatalf("batch whose query 2 is short: %v; want ErrDimension naming query 2", err)
		}
		rng := rand.New(rand.NewSource(23))
		qs := randVecs(rng, 1000, hostileDim)
		res, err := db.SearchBatch(ctx, qs, SearchOptions{TopK: 3, MinScore: -1})
		if err != nil || len(res) != len(qs) {
			t.Fatalf("1000 queries: %d results, %v", len(res), err)
		}
		for i := 0; i < len(qs); i += 97 {
			single, err := db.Search(ctx, qs[i], SearchOptions{TopK: 3, MinScore: -1})
			if err != nil || !reflect.DeepEqual(single, res[i]) {
				t.Fatalf("query %d: batch %v, Search %v, %v", i, res[i], single, err)
			}
		}
	})
}

// TestHostileMinScoreOne: scores are float32, so the cosine of a vector
// with itself can round to just below 1 (0.99999994 for {1,2,3,4}) and
// MinScore 1 may miss an exact duplicate, as SearchOptions.MinScore says.
// What the documentation promises instead: the self-score is never above
// 1 and at least DuplicateMinScore(dim), so that MinScore finds every
// exact duplicate, at every dimension (TestSelfScoreBound tests the bound
// itself up to 2^20 dimensions).
func TestHostileMinScoreOne(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(33))
	for _, dim := range []int{4, 16, 128, 512} {
		db, _ := openTest(t, dim)
		vecs := [][]float32{randVec(rng, dim), randVec(rng, dim), randVec(rng, dim)}
		if dim == 4 {
			vecs = append(vecs, []float32{1, 2, 3, 4}, []float32{3, 1, 4, 1}, []float32{2, 7, 1, 8})
		}
		for _, v := range vecs {
			ids, err := db.Add([][]float32{v})
			if err != nil {
				t.Fatal(err)
			}
			min := DuplicateMinScore(dim)
			res, err := db.Search(ctx, v, SearchOptions{MinScore: min})
			if err != nil || len(res) == 0 || res[0].ID != ids[0] || res[0].Score > 1 || res[0].Score < min {
				t.Errorf("dim %d: Search(v, MinScore %v) over a store holding v = %+v, %v; want ID %d first, score in [%v, 1]", dim, min, res, err, ids[0], min)
			}
			in, err := db.SearchIn(ctx, v, ids, SearchOptions{MinScore: min})
			if err != nil || len(in) != 1 || !reflect.DeepEqual(in[0], res[0]) {
				t.Errorf("dim %d: SearchIn(v, [its ID], MinScore %v) = %+v, %v; want %+v", dim, min, in, err, res[:1])
			}
		}
	}
}

// TestHostileRange: Range's callback may misbehave in every way but
// writing to the vector: return an error (returned as is), cancel the
// context, close the DB, delete, add or compact the store while Range
// walks its snapshot. (Writing to vec faults: TestHostileRangeWrite.)
func TestHostileRange(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	setup := func(t *testing.T) (*DB, *oracle) {
		db, _ := openTest(t, hostileDim)
		o := newOracle(hostileDim)
		hostileFill(t, db, o, rng, 3*hostileCap+5)
		del := []uint64{1, 2, 100}
		db.Delete(del)
		o.delete(del)
		return db, o
	}
	// seen checks that Range passed every live vector of o (its snapshot)
	// once, in ascending ID order, bit for bit.
	seen := func(t *testing.T, o *oracle, ids []uint64, vecs [][]float32) {
		t.Helper()
		want := slicesSorted(o.vecs)
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("Range passed %d IDs, want the %d live ones in order", len(ids), len(want))
		}
		for i, id := range ids {
			if !bitsEqual(vecs[i], o.vecs[id]) {
				t.Fatalf("Range passed ID %d as %v, want %v", id, vecs[i], o.vecs[id])
			}
		}
	}
	ctx := context.Background()
	t.Run("fn error returned as is", func(t *testing.T) {
		db, _ := setup(t)
		stop := errors.New("stop")
		calls := 0
		err := db.Range(ctx, func(uint64, []float32) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Fatalf("Range = %v after %d calls; want stop after 1", err, calls)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		db, _ := setup(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := db.Range(cctx, func(uint64, []float32) error { return errors.New("called") }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Range with a cancelled context: %v", err)
		}
		cctx, cancel = context.WithCancel(ctx)
		calls := 0
		err := db.Range(cctx, func(uint64, []float32) error {
			if calls++; calls == 10 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls != 10 {
			t.Fatalf("Range cancelled by fn = %v after %d calls; want context.Canceled after 10", err, calls)
		}
	})
	t.Run("fn closes the DB", func(t *testing.T) {
		db, _ := setup(t)
		calls := 0
		err := db.Range(ctx, func(id uint64, v []float32) error {
			if calls++; calls == 5 {
				if err := db.Close(); err != nil {
					return fmt.Errorf("Close inside Range: %w", err)
				}
			}
			if len(v) != hostileDim {
				return fmt.Errorf("vector of length %d", len(v))
			}
			_ = v[0] + v[hostileDim-1] // the mapping is still readable
			return nil
		})
		if !errors.Is(err, ErrClosed) || calls != 5 {
			t.Fatalf("Range whose fn closed the DB = %v after %d calls; want ErrClosed after 5", err, calls)
		}
	})
	t.Run("fn deletes what it sees", func(t *testing.T) {
		db, o := setup(t)
		var ids []uint64
		var vecs [][]float32
		err := db.Range(ctx, func(id uint64, v []float32) error {
			ids = append(ids, id)
			vecs = append(vecs, slices.Clone(v))
			// id+1 too: Range still passes it (its snapshot predates
			// the delete), and deleting it again then counts 0.
			if _, err := db.Delete([]uint64{id, id + 1}); err != nil {
				return fmt.Errorf("Delete(%d, %d) inside Range: %v", id, id+1, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		seen(t, o, ids, vecs)
		if s := db.Stats(); s.Live != 0 {
			t.Fatalf("after deleting everything Range saw: %+v", s)
		}
	})
	t.Run("fn adds and compacts", func(t *testing.T) {
		db, o := setup(t)
		var ids []uint64
		var vecs [][]float32
		before := maps.Clone(o.vecs)
		err := db.Range(ctx, func(id uint64, v []float32) error {
			ids = append(ids, id)
			vecs = append(vecs, slices.Clone(v))
			switch len(ids) {
			case 3:
				hostileFill(t, db, o, rng, 70)
			case 7:
				db.Delete([]uint64{id + 5})
				o.delete([]uint64{id + 5})
				m, err := db.Compact(ctx) // retires the segments Range is reading
				if err != nil || len(m.Runs) == 0 {
					return fmt.Errorf("Compact inside Range = %+v, %v", m, err)
				}
				o.applyMap(t, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		seen(t, &oracle{dim: hostileDim, vecs: before}, ids, vecs)
		hostileCheckModel(t, db, o)
	})
	t.Run("nil fn", func(t *testing.T) {
		empty, _ := openTest(t, hostileDim)
		if err := empty.Range(ctx, nil); err != nil {
			t.Fatalf("Range(nil) over an empty store: %v", err)
		}
		db, _ := setup(t)
		defer func() {
			if recover() == nil {
				t.Fatal("Range(nil) over a store with vectors did not panic")
			}
			// The panic released the snapshot: the DB still works.
			if _, err := db.Get(0); err != nil {
				t.Fatalf("Get after Range(nil) panicked: %v", err)
			}
		}()
		db.Range(ctx, nil)
	})
}

// TestHostileIDMaps: IDMapsSince and ReleaseIDMaps with epochs before,
// at and past the current one.
func TestHostileIDMaps(t *testing.T) {
	h := newHostileCompacted(t)
	db := h.db
	cases := []struct {
		since uint64
		want  int
	}{{0, 1}, {1, 0}, {2, 0}, {math.MaxUint64, 0}}
	for _, c := range cases {
		maps, err := db.IDMapsSince(c.since)
		if err != nil || len(maps) != c.want {
			t.Fatalf("IDMapsSince(%d) = %+v, %v; want %d maps", c.since, maps, err, c.want)
		}
		if c.want == 1 && (maps[0].Epoch != h.m.Epoch || !runsEqual(maps[0].Runs, h.m.Runs)) {
			t.Fatalf("IDMapsSince(%d) = %+v, Compact returned %+v", c.since, maps[0], h.m)
		}
	}
	if err := db.ReleaseIDMaps(0); err != nil {
		t.Fatalf("ReleaseIDMaps(0): %v", err)
	}
	if maps, _ := db.IDMapsSince(0); len(maps) != 1 {
		t.Fatalf("ReleaseIDMaps(0) dropped the map of epoch 1: %+v", maps)
	}
	if err := db.ReleaseIDMaps(math.MaxUint64); err != nil {
		t.Fatalf("ReleaseIDMaps(MaxUint64): %v", err)
	}
	if maps, err := db.IDMapsSince(0); err != nil || len(maps) != 0 {
		t.Fatalf("after releasing everything: %+v, %v", maps, err)
	}
	// Releasing past the current epoch does not release the maps of
	// compactions that come later.
	if n, err := db.Delete(h.moved[:1]); err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	m, err := db.Compact(context.Background())
	if err != nil || m.Epoch != 2 {
		t.Fatalf("Compact = %+v, %v", m, err)
	}
	if maps, err := db.IDMapsSince(0); err != nil || len(maps) != 1 || maps[0].Epoch != 2 {
		t.Fatalf("IDMapsSince(0) after a release through MaxUint64 and a new compaction = %+v, %v", maps, err)
	}
}

// TestHostileOpenOptions: option values out of range are refused before
// anything is created; odd but valid ones work.
func TestHostileOpenOptions(t *testing.T) {
	root := t.TempDir()
	refused := []struct {
		name string
		opts Options
		want []error
	}{
		{"Dimension negative", Options{Dimension: -1}, []error{ErrInvalidArgument, ErrDimension}},
		{"Dimension MinInt", Options{Dimension: math.MinInt}, []error{ErrInvalidArgument, ErrDimension}},
		{"Dimension 0 on create", Options{}, []error{ErrInvalidArgument, ErrDimension}},
		{"SegmentBytes negative", Options{Dimension: 4, SegmentBytes: -1}, []error{ErrInvalidArgument}},
		{"CompactionGarbageRatio negative", Options{Dimension: 4, CompactionGarbageRatio: -0.1}, []error{ErrInvalidArgument}},
		{"CompactionGarbageRatio above 1", Options{Dimension: 4, CompactionGarbageRatio: 1.5}, []error{ErrInvalidArgument}},
		{"CompactionGarbageRatio +Inf", Options{Dimension: 4, CompactionGarbageRatio: math.Inf(1)}, []error{ErrInvalidArgument}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(c.name, " ", "_"))
			db, err := openT(t, dir, c.opts)
			if err == nil {
				db.Close()
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Fatalf("Open(%+v) = %v; want %v", c.opts, err, c.want)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a refused Open created %s: %v", dir, err)
			}
		})
	}
	t.Run("CompactionGarbageRatio NaN", func(t *testing.T) {
		dir := filepath.Join(root, "nan_ratio")
		db, err := openT(t, dir, Options{Dimension: 4, CompactionGarbageRatio: math.NaN()})
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Open with CompactionGarbageRatio NaN: %v; want ErrInvalidArgument", err)
		}
	})
	t.Run("Dimension above MaxUint32", func(t *testing.T) {
		dir := filepath.Join(root, "dim_overflow")
		db, err := openT(t, dir, Options{Dimension: 1<<32 + 4})
		if err == nil {
			db.Close()
			db, err2 := openT(t, dir, Options{})
			if err2 == nil {
				t.Logf("reopened with dimension %d", db.Dimension())
				db.Close()
			}
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Open with Dimension 1<<32+4: %v; want ErrInvalidArgument", err)
		}
	})
	t.Run("Dimension mismatch on reopen", func(t *testing.T) {
		// TestOpenDimension covers 0, the same and another dimension.
		dir := filepath.Join(root, "mismatch")
		db, err := openT(t, dir, Options{Dimension: 4})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, d := range []int{3, 5, math.MaxInt32} {
			if _, err := openT(t, dir, Options{Dimension: d}); !errors.Is(err, ErrDimension) {
				t.Fatalf("reopen with Dimension %d: %v; want ErrDimension", d, err)
			}
		}
	})
	t.Run("SegmentBytes smaller than a row", func(t *testing.T) {
		for _, sb := range []int64{1, 4096} {
			dir := filepath.Join(root, fmt.Sprintf("tiny_%d", sb))
			db, err := openT(t, dir, Options{Dimension: 4, SegmentBytes: sb, DisableAutoCompaction: true})
			if err != nil {
				t.Fatal(err)
			}
			ids, err := db.Add(randVecs(rand.New(rand.NewSource(24)), 5, 4))
			if err != nil || len(ids) != 5 {
				t.Fatalf("SegmentBytes %d: Add = %v, %v", sb, ids, err)
			}
			if s := db.Stats(); s.Segments != 5 {
				t.Fatalf("SegmentBytes %d: %d segments for 5 rows, want one row each", sb, s.Segments)
			}
			db.Close()
		}
	})
	t.Run("SegmentBytes beyond the free space", func(t *testing.T) {
		// Segment files are sparse, their blocks allocated in steps as
		// rows fill them: a 1 TiB segment takes a few pages for one row.
		// Where the file system cannot hold a file that large, the Add
		// that needs it fails (EFBIG or ENOSPC, no sentinel), adds
		// nothing, and leaves the store usable.
		dir := filepath.Join(root, "huge_segments")
		db, err := openT(t, dir, Options{Dimension: 4, SegmentBytes: math.MaxInt64, DisableAutoCompaction: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		want := 1
		if _, err := db.Add([][]float32{{1, 2, 3, 4}}); err != nil {
			if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("Add with 1 TiB segments: %v; want success, ENOSPC or EFBIG", err)
			}
			want = 0
		}
		if s := db.Stats(); s.Total != uint64(want) || s.Segments != want {
			t.Fatalf("Add with 1 TiB segments left %+v", s)
		}
		if _, err := db.Search(context.Background(), []float32{1, 2, 3, 4}, SearchOptions{}); err != nil {
			t.Fatalf("Search after the Add: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close after the Add: %v", err)
		}
	})
}

// TestHostileClosedDB: every method of a closed DB returns ErrClosed (and
// Stats the zero Stats), however it was closed, and Close is idempotent.
func TestHostileClosedDB(t *testing.T) {
	ctx := context.Background()
	q := []float32{1, 2, 3, 4}
	methods := []struct {
		name string
		call func(db *DB) error
	}{
		{"Close", func(db *DB) error { return db.Close() }},
		{"Sync", func(db *DB) error { return db.Sync() }},
		{"Add", func(db *DB) error { _, err := db.Add([][]float32{q}); return err }},
		{"Add bad vector", func(db *DB) error { _, err := db.Add([][]float32{{1}}); return err }},
		{"Add empty batch", func(db *DB) error { _, err := db.Add(nil); return err }},
		{"Delete", func(db *DB) error { _, err := db.Delete([]uint64{0}); return err }},
		{"Delete empty", func(db *DB) error { _, err := db.Delete(nil); return err }},
		{"Get", func(db *DB) error { _, err := db.Get(0); return err }},
		{"Search", func(db *DB) error { _, err := db.Search(ctx, q, SearchOptions{}); return err }},
		{"Search bad query", func(db *DB) error { _, err := db.Search(ctx, nil, SearchOptions{}); return err }},
		{"SearchIn", func(db *DB) error { _, err := db.SearchIn(ctx, q, []uint64{0}, SearchOptions{}); return err }},
		{"SearchBatch", func(db *DB) error { _, err := db.SearchBatch(ctx, [][]float32{q}, SearchOptions{}); return err }},
		{"SearchBatch empty", func(db *DB) error { _, err := db.SearchBatch(ctx, nil, SearchOptions{}); return err }},
		{"Verify", func(db *DB) error { return db.Verify(ctx) }},
		{"Compact", func(db *DB) error { _, err := db.Compact(ctx); return err }},
		{"IDMapsSince", func(db *DB) error { _, err := db.IDMapsSince(0); return err }},
		{"ReleaseIDMaps", func(db *DB) error { return db.ReleaseIDMaps(1) }},
		{"SegmentInfo", func(db *DB) error { _, err := db.SegmentInfo(); return err }},
		{"Range", func(db *DB) error {
			return db.Range(ctx, func(uint64, []float32) error { return errors.New("fn called on a closed DB") })
		}},
	}
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("auto compaction %v", auto), func(t *testing.T) {
			db, _ := openTest(t, hostileDim, func(o *Options) { o.DisableAutoCompaction = !auto })
			ids, err := db.Add(randVecs(rand.New(rand.NewSource(25)), 100, hostileDim))
			if err != nil {
				t.Fatal(err)
			}
			db.Delete(ids[:50])
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			for _, m := range methods {
				t.Run(m.name, func(t *testing.T) {
					if err := m.call(db); !errors.Is(err, ErrClosed) {
						t.Fatalf("%s on a closed DB: %v; want ErrClosed", m.name, err)
					}
				})
			}
			if s := db.Stats(); s != (Stats{}) {
				t.Fatalf("Stats on a closed DB: %+v; want the zero Stats", s)
			}
			if d := db.Dimension(); d != hostileDim {
				t.Fatalf("Dimension on a closed DB: %d", d)
			}
		})
	}
}

// TestHostileCloseConcurrent: Close while every other method runs on many
// goroutines. No call panics or races; each returns its normal result or
// ErrClosed (Stats: the zero Stats), and every call after Close returned
// gets ErrClosed; two concurrent Closes give one nil and one ErrClosed.
// Reopened, the store holds exactly the acknowledged writes: exactly by
// ID without compaction, by count with the background compactor and a
// manual Compact running too.
func TestHostileCloseConcurrent(t *testing.T) {
	for _, compacting := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacting %v", compacting), func(t *testing.T) {
			hostileCloseConcurrent(t, compacting)
		})
	}
}

func hostileCloseConcurrent(t *testing.T, compacting bool) {
	const dim = 8
	dir := filepath.Join(t.TempDir(), "store")
	opts := Options{Dimension: dim, SegmentBytes: testSegmentBytes, DisableAutoCompaction: !compacting, CompactionGarbageRatio: 0.1}
	db, err := openT(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var mu sync.Mutex
	o := newOracle(dim)
	var acked, deletedCount int
	var next uint64 // one past the largest ID acknowledged
	for i := 0; i < 3; i++ {
		vecs := randVecs(rand.New(rand.NewSource(int64(30+i))), 80, dim)
		ids, err := db.Add(vecs)
		if err != nil {
			t.Fatal(err)
		}
		o.add(ids, vecs)
		acked += len(ids)
		next = o.next
	}
	pick := func(rng *rand.Rand) uint64 {
		mu.Lock()
		defer mu.Unlock()
		return uint64(rng.Int63n(int64(next + 5)))
	}
	pickAcked := func(rng *rand.Rand) uint64 {
		mu.Lock()
		defer mu.Unlock()
		if next == 0 {
			return 1 << 40
		}
		return uint64(rng.Int63n(int64(next)))
	}

	type worker struct {
		name string
		op   func(rng *rand.Rand) error // one call; ErrClosed ends the worker
	}
	workers := []worker{
		{"Add", func(rng *rand.Rand) error {
			vecs := randVecs(rng, 1+rng.Intn(70), dim)
			ids, err := db.Add(vecs)
			if err == nil {
				mu.Lock()
				acked += len(ids)
				next = max(next, ids[len(ids)-1]+1)
				if !compacting {
					o.add(ids, vecs)
				}
				mu.Unlock()
			}
			return err
		}},
		{"Delete", func(rng *rand.Rand) error {
			// Only acknowledged IDs and one never handed out: an ID a
			// concurrent Add has stored but not yet reported would be
			// deleted before the model knows it exists.
			ids := []uint64{pickAcked(rng), pickAcked(rng), 1<<40 + uint64(rng.Intn(5))}
			n, err := db.Delete(ids)
			if err == nil {
				mu.Lock()
				deletedCount += n
				if !compacting {
					if want := o.delete(ids); want != n {
						err = fmt.Errorf("Delete(%v) = %d, the model says %d", ids, n, want)
					}
				}
				mu.Unlock()
			}
			return err
		}},
		{"Get", func(rng *rand.Rand) error {
			_, err := db.Get(pick(rng))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}},
		{"Search", func(rng *rand.Rand) error {
			_, err := db.Search(ctx, randVec(rng, dim), SearchOptions{TopK: 5, MinScore: -1})
			return err
		}},
		{"SearchIn", func(rng *rand.Rand) error {
			_, err := db.SearchIn(ctx, randVec(rng, dim), []uint64{pick(rng), pick(rng), pick(rng)}, SearchOptions{MinScore: -1})
			return err
		}},
		{"SearchBatch", func(rng *rand.Rand) error {
			_, err := db.SearchBatch(ctx, randVecs(rng, 3, dim), SearchOptions{TopK: 3})
			return err
		}},
		{"Stats", func(rng *rand.Rand) error {
			if s := db.Stats(); s == (Stats{}) {
				return ErrClosed
			} else if s.Total != s.Live+s.Deleted {
				return fmt.Errorf("Stats %+v", s)
			}
			return nil
		}},
		{"Verify", func(rng *rand.Rand) error { return db.Verify(ctx) }},
		{"Sync", func(rng *rand.Rand) error { return db.Sync() }},
		{"IDMapsSince", func(rng *rand.Rand) error { _, err := db.IDMapsSince(0); return err }},
		{"SegmentInfo", func(rng *rand.Rand) error { _, err := db.SegmentInfo(); return err }},
		{"Range", func(rng *rand.Rand) error {
			stop := errors.New("enough")
			n := 0
			err := db.Range(ctx, func(id uint64, v []float32) error {
				if len(v) != dim {
					return fmt.Errorf("Range passed a vector of length %d", len(v))
				}
				if n++; n == 500 {
					return stop
				}
				return nil
			})
			if err == stop {
				return nil
			}
			return err
		}},
	}
	if compacting {
		workers = append(workers, worker{"Compact", func(rng *rand.Rand) error {
			_, err := db.Compact(ctx)
			if errors.Is(err, context.Canceled) {
				// Abandoned by Close: the bug of TestHostileCompactCloseRace.
				return ErrClosed
			}
			return err
		}})
	}

	// Every worker runs its call in a loop until it gets ErrClosed; Close
	// starts once every worker has completed one call, so each is in its
	// loop when the store closes.
	var started, done sync.WaitGroup
	errc := make(chan error, len(workers))
	closedAt := make(chan struct{})
	for i, w := range workers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			rng := rand.New(rand.NewSource(int64(40 + i)))
			first := true
			for calls := 0; ; calls++ {
				err := w.op(rng)
				if first {
					started.Done()
					first = false
				}
				switch {
				case errors.Is(err, ErrClosed):
					return
				case err != nil:
					errc <- fmt.Errorf("%s (call %d): %w", w.name, calls, err)
					return
				}
				select {
				case <-closedAt:
					// Close has returned: the next call must fail.
					if err := w.op(rng); !errors.Is(err, ErrClosed) {
						errc <- fmt.Errorf("%s after Close returned: %v; want ErrClosed", w.name, err)
					}
					return
				default:
				}
			}
		}()
	}
	started.Wait()
	closeErrs := make(chan error, 2)
	for range 2 {
		go func() { closeErrs <- db.Close() }()
	}
	e1, e2 := <-closeErrs, <-closeErrs
	close(closedAt)
	if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), ErrClosed) {
		t.Errorf("two concurrent Closes returned %v and %v; want nil and ErrClosed", e1, e2)
	}
	done.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	db, err = openT(t, dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	mustCheck(t, db)
	s := db.Stats()
	if !compacting {
		hostileCheckModel(t, db, o)
	} else if int(s.Live) != acked-deletedCount {
		t.Fatalf("reopened: %d live; %d acknowledged adds - %d acknowledged deletes = %d", s.Live, acked, deletedCount, acked-deletedCount)
	}
	t.Logf("%d vectors acknowledged, %d deletes acknowledged; reopened %+v", acked, deletedCount, s)
}

// TestHostileCloseInOnCompact: Options.OnCompact may use the DB (only
// Compact is ruled out), so it may close it. From the background
// compactor's goroutine that deadlocks: Close waits for that goroutine to
// stop, and it is the one calling Close.
func TestHostileCloseInOnCompact(t *testing.T) {
	t.Run("manual Compact", func(t *testing.T) {
		var db *DB
		closed := make(chan error, 1)
		db, _ = openTest(t, hostileDim, func(o *Options) {
			o.OnCompact = func(IDMap) { closed <- db.Close() }
		})
		ids := hostileFill(t, db, newOracle(hostileDim), rand.New(rand.NewSource(26)), 100)
		db.Delete(ids[:30])
		if _, err := db.Compact(context.Background()); err != nil {
			t.Fatalf("Compact whose OnCompact closed the DB: %v", err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close from OnCompact: %v", err)
		}
		if _, err := db.Get(ids[50]); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get after Close in OnCompact: %v", err)
		}
	})
	t.Run("background compactor", func(t *testing.T) {
		// Not openTest: its cleanup checks the store, which is closed.
		var db *DB
		closed := make(chan error, 1)
		db, err := openT(t, filepath.Join(t.TempDir(), "store"), Options{
			Dimension: hostileDim, SegmentBytes: testSegmentBytes,
			OnCompact: func(IDMap) { closed <- db.Close() },
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := hostileFill(t, db, newOracle(hostileDim), rand.New(rand.NewSource(27)), 200)
		db.Delete(ids[:50]) // most of the sealed first segment: the compactor wakes
		// A watchdog, not synchronisation: the bug is a hang. On failure
		// the DB is left open (and its goroutines stuck).
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close from OnCompact: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Close from the background compactor's OnCompact has not returned after 30 s")
		}
	})
}

// hostileCloseDuringCopy is a context whose Err, once the compaction's
// copy has begun (its third call: Compact and the policy ask first), closes
// the DB from another goroutine. Close cancels the compaction at once and
// then waits for the copy to give up.
type hostileCloseDuringCopy struct {
	context.Context
	db     *DB
	calls  *int
	closed chan error
}

func (c hostileCloseDuringCopy) Err() error {
	if *c.calls++; *c.calls == 3 {
		go func() { c.closed <- c.db.Close() }()
	}
	return c.Context.Err()
}

// TestHostileCompactCloseRace: a manual Compact that Close abandons during
// its copy should fail with ErrClosed, as every method of a closed DB
// does, not with a context error the caller never caused.
func TestHostileCompactCloseRace(t *testing.T) {
	hostileCompactCloseRace(t)
}

func hostileCompactCloseRace(t *testing.T) {
	db, _ := openTest(t, hostileDim)
	ids, err := db.Add(randVecs(rand.New(rand.NewSource(28)), 40*hostileCap, hostileDim))
	if err != nil {
		t.Fatal(err)
	}
	del := make([]uint64, 0, len(ids)/2)
	for i := 0; i < len(ids); i += 2 {
		del = append(del, ids[i])
	}
	if _, err := db.Delete(del); err != nil {
		t.Fatal(err)
	}
	ctx := hostileCloseDuringCopy{Context: context.Background(), db: db, calls: new(int), closed: make(chan error, 1)}
	_, err = db.Compact(ctx)
	if cerr := <-ctx.closed; cerr != nil {
		t.Fatalf("Close: %v", cerr)
	}
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Compact abandoned by Close: %v; want ErrClosed", err)
	}
}

// TestHostileForeignDirectory: Open refuses what is not a store, and a
// directory that holds other files is left exactly as it was.
// TestForeignDirectoryUntouched covers a directory with a file and a
// "wal" subdirectory.
func TestHostileForeignDirectory(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string) error
		want  error
	}{
		{"unrelated file", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte{0xff, 0xd8}, 0o644)
		}, ErrNotStore},
		{"subdirectory only", func(dir string) error { return os.Mkdir(filepath.Join(dir, "src"), 0o755) }, ErrNotStore},
		{"segment files without a MANIFEST", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "000000.seg"), make([]byte, 8192), 0o644)
		}, ErrNotStore},
		{"hidden file", func(dir string) error { return os.WriteFile(filepath.Join(dir, ".git"), nil, 0o644) }, ErrNotStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := c.setup(dir); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			for _, opts := range []Options{{Dimension: 4}, {}} {
				db, err := openT(t, dir, opts)
				if err == nil {
					db.Close()
				}
				// Never ErrCorrupt too: an application restoring a backup
				// on ErrCorrupt must not do so over a foreign folder.
				if !errors.Is(err, c.want) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open(%+v): %v; want %v (and not ErrCorrupt)", opts, err, c.want)
				}
			}
			if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
				t.Fatalf("Open changed a foreign directory:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	t.Run("regular file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := openT(t, f, Options{Dimension: 4}); err == nil {
			t.Fatal("Open of a regular file succeeded")
		}
		if b, _ := os.ReadFile(f); string(b) != "x" {
			t.Fatalf("Open changed the file: %q", b)
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if db, err := openT(t, "", Options{Dimension: 4}); err == nil {
			db.Close()
			t.Fatal(`Open("") succeeded`)
		}
	})
	t.Run("foreign MANIFEST", func(t *testing.T) {
		for _, content := range []string{"", "Makefile.PL\nlib/Foo.pm\n"} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			db, err := openT(t, dir, Options{Dimension: 4})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, ErrNotStore) || errors.Is(err, ErrCorrupt) {
				t.Errorf("Open of a directory with a foreign MANIFEST %q: %v; want ErrNotStore and not ErrCorrupt", content, err)
			}
			if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
				t.Errorf("Open changed a foreign directory:\nbefore %v\nafter  %v", before, after)
			}
		}
	})
}

// hostileClosedStore builds a small compacted store (with a tombstone
// checkpoint and an ID map), closes it and returns its directory.
func hostileClosedStore(t *testing.T) (string, *oracle) {
	t.Helper()
	h := newHostileCompacted(t)
	if err := h.db.Close(); err != nil {
		t.Fatal(err)
	}
	return h.dir, h.o
}

// TestHostileCorruptDirectory: damage to a store's files is refused with
// ErrCorrupt naming the file, at Open or (for files Open does not read)
// at Verify and at the first read. The byte-by-byte sweeps are
// TestCorruptFlipsAndTruncations and TestCorruptCompactedFlipsAndTruncations.
func TestHostileCorruptDirectory(t *testing.T) {
	glob := func(t *testing.T, dir, pattern string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		if len(m) == 0 {
			t.Fatalf("no %s in the store", pattern)
		}
		return m[0]
	}
	atOpen := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the file named in the error
	}{
		{"MANIFEST empty", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			os.WriteFile(p, nil, 0o644)
			return "MANIFEST"
		}},
		{"MANIFEST truncated", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-3], 0o644)
			return "MANIFEST"
		}},
		{"MANIFEST missing, segments left", func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, "MANIFEST"))
			return ""
		}},
		{"segment missing", func(t *testing.T, dir string) string {
			p := glob(t, dir, "*.seg")
			os.Remove(p)
			return filepath.Base(p)
		}},
		{"segment truncated to its header", func(t *testing.T, dir string) string {
			p := glob(t, dir, "*.seg")
			os.Truncate(p, 4096)
			return filepath.Base(p)
		}},
		{"tombstone checkpoint missing", func(t *testing.T, dir string) string {
			p := glob(t, dir, "*.tombs")
			os.Remove(p)
			return filepath.Base(p)
		}},
		{"WAL directory missing", func(t *testing.T, dir string) string {
			os.RemoveAll(filepath.Join(dir, "wal"))
			return "wal"
		}},
	}
	for _, c := range atOpen {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := hostileClosedStore(t)
			file := c.damage(t, dir)
			db, err := openT(t, dir, Options{})
			if err == nil {
				db.Close()
			}
			want := ErrCorrupt
			if file == "" { // without a MANIFEST the directory is not a store
				want = ErrNotStore
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("Open: %v; want %v naming %q", err, want, file)
			}
		})
	}
	t.Run("ID map missing", func(t *testing.T) {
		dir, _ := hostileClosedStore(t)
		os.Remove(filepath.Join(dir, manifest.IDMapFileName(1)))
		leftDamaged(t, dir)
		db, err := openT(t, dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		if err := db.Verify(context.Background()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Verify: %v; want ErrCorrupt", err)
		}
		if _, err := db.IDMapsSince(0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("IDMapsSince: %v; want ErrCorrupt", err)
		}
	})
	t.Run("sealed segment byte flipped", func(t *testing.T) {
		// Open reads sealed segments' headers only; the first read of
		// the segment and Verify find the flip (TestDamageNeverServed
		// covers Get, Search, SearchIn and Compact).
		dir, _ := hostileClosedStore(t)
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		p := segs[len(segs)-1] // the compaction's output: sealed
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[4096+1] ^= 0x20
		os.WriteFile(p, b, 0o644)
		leftDamaged(t, dir)
		db, err := openT(t, dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		infos, err := db.SegmentInfo()
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if fmt.Sprintf("%06d.seg", in.Number) == filepath.Base(p) && !in.Sealed {
				t.Fatalf("%s is the active segment", filepath.Base(p))
			}
		}
		if err := db.Verify(context.Background()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Fatalf("Verify: %v; want ErrCorrupt naming %s", err, filepath.Base(p))
		}
		// Exhaustive: it reads every row (a prefiltered search reads the
		// rows it rescores, format 5).
		_, err = db.Search(context.Background(), randVec(rand.New(rand.NewSource(29)), hostileDim), SearchOptions{Exhaustive: true})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Search over the damaged segment: %v; want ErrCorrupt", err)
		}
	})
	t.Run("directory named like a segment", func(t *testing.T) {
		// Recovery removes only regular files in exactly the form memvec
		// writes (issue 10, item 9): a directory of such a name is left
		// alone, with what is inside, and Open succeeds.
		dir, o := hostileClosedStore(t)
		sub := filepath.Join(dir, "000999.seg")
		os.Mkdir(sub, 0o755)
		os.WriteFile(filepath.Join(sub, "keep"), []byte("mine"), 0o644)
		empty := filepath.Join(dir, "000123.seg")
		os.Mkdir(empty, 0o755)
		db, err := openT(t, dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		hostileCheckModel(t, db, o)
		if b, err := os.ReadFile(filepath.Join(sub, "keep")); err != nil || string(b) != "mine" {
			t.Fatalf("Open touched the directory's content: %q, %v", b, err)
		}
		if fi, err := os.Stat(empty); err != nil || !fi.IsDir() {
			t.Fatalf("Open removed an empty directory named like a segment: %v", err)
		}
	})
	t.Run("unknown file inside a store", func(t *testing.T) {
		dir, o := hostileClosedStore(t)
		p := filepath.Join(dir, "notes.txt")
		os.WriteFile(p, []byte("mine"), 0o644)
		db, err := openT(t, dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		hostileCheckModel(t, db, o)
		if b, err := os.ReadFile(p); err != nil || string(b) != "mine" {
			t.Fatalf("Open touched an unknown file: %q, %v", b, err)
		}
	})
}

// hostileReseal rewrites a framed file's checksum (the last 8 bytes,
// xxhash64 of everything before them) after a deliberate edit.
func hostileReseal(b []byte) {
	binary.LittleEndian.PutUint64(b[len(b)-8:], xxhash.Sum64(b[:len(b)-8]))
}

// TestHostileNewerFormatVersion: a store whose MANIFEST declares a format
// version newer than this build's (checksum intact) is refused with
// ErrVersion, not ErrCorrupt, and left untouched; an older or zero version
// is damage (ErrCorrupt).
func TestHostileNewerFormatVersion(t *testing.T) {
	cases := []struct {
		version uint32
		want    error
	}{
		{manifest.Version + 1, ErrVersion},
		{math.MaxUint32, ErrVersion},
		{0, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("version %d", c.version), func(t *testing.T) {
			dir, _ := hostileClosedStore(t)
			p := filepath.Join(dir, manifest.FileName)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if v := binary.LittleEndian.Uint32(b[8:]); v != manifest.Version {
				t.Fatalf("MANIFEST of version %d, this build writes %d", v, manifest.Version)
			}
			binary.LittleEndian.PutUint32(b[8:], c.version)
			hostileReseal(b)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			for _, opts := range []Options{{}, {Dimension: hostileDim}, {Dimension: hostileDim + 1}} {
				db, err := openT(t, dir, opts)
				if err == nil {
					db.Close()
				}
				if !errors.Is(err, c.want) || (c.want == ErrVersion && errors.Is(err, ErrCorrupt)) {
					t.Fatalf("Open(%+v): %v; want only %v", opts, err, c.want)
				}
			}
			if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
				t.Fatal("Open of a newer store changed its directory")
			}
		})
	}
}

// Child processes: this test binary re-run with
// -test.run=^TestHostileHelper$ and MEMVEC_HOSTILE_DIR set. In mode "lock"
// it opens the store and prints the outcome; if it got the store it holds
// it until its stdin closes. In mode "rangewrite" it writes to a vector
// Range passed it, which must not survive.
const (
	hostileEnvDir     = "MEMVEC_HOSTILE_DIR"
	hostileEnvMode    = "MEMVEC_HOSTILE_MODE"
	hostileLinePrefix = "memvec-hostile "
)

// TestHostileHelper is the child process of TestHostileSecondProcess and
// TestHostileRangeWrite; it does nothing unless MEMVEC_HOSTILE_DIR is set.
func TestHostileHelper(t *testing.T) {
	dir := os.Getenv(hostileEnvDir)
	if dir == "" {
		t.Skip("helper process of TestHostileSecondProcess and TestHostileRangeWrite")
	}
	say := func(s string) { memvectest.Say(hostileLinePrefix, "%s", s) }
	db, err := openT(t, dir, Options{})
	switch {
	case errors.Is(err, ErrLocked):
		say("locked")
		os.Exit(0)
	case err != nil:
		say("error " + strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(0)
	}
	say("open")
	if os.Getenv(hostileEnvMode) == "rangewrite" {
		err := db.Range(context.Background(), func(id uint64, v []float32) error {
			v[0] = 42
			return errors.New("wrote")
		})
		say(fmt.Sprintf("survived the write: %v", err))
		os.Exit(0)
	}
	io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		say("close error " + err.Error())
	}
	os.Exit(0)
}

// hostileChild is a running TestHostileHelper.
type hostileChild struct {
	*memvectest.Child
	lines chan string
}

func startHostileChild(t *testing.T, dir, mode string) *hostileChild {
	t.Helper()
	c := &hostileChild{
		Child: memvectest.StartChild(t, "TestHostileHelper", true, hostileEnvDir+"="+dir, hostileEnvMode+"="+mode),
		lines: make(chan string, 4),
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(c.Stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), hostileLinePrefix); ok {
				c.lines <- rest
			}
		}
	}()
	t.Cleanup(func() {
		c.Kill()
		c.Wait()
	})
	return c
}

// next returns the child's next line ("" if it exited without one).
func (c *hostileChild) next() string { return <-c.lines }

// TestHostileSecondProcess: a store open in one process is ErrLocked in
// another, both ways; the lock goes with the process, so a SIGKILLed
// holder leaves the store openable. (TestSecondOpenIsLocked covers a
// second Open in the same process.)
func TestHostileSecondProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir, o := hostileClosedStore(t)

	db, err := openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := startHostileChild(t, dir, "lock").next(); got != "locked" {
		t.Fatalf("child Open of a store this process holds: %q; want locked", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	holder := startHostileChild(t, dir, "lock")
	if got := holder.next(); got != "open" {
		t.Fatalf("child Open after this process closed: %q; want open", got)
	}
	wantLocked(t, dir, Options{}, "Open of a store another process holds")
	// A clean exit of the holder releases the lock...
	holder.Stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder exit: %v", err)
	}
	db, err = openT(t, dir, Options{})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	db.Close()

	// ...and so does SIGKILL.
	holder = startHostileChild(t, dir, "lock")
	if got := holder.next(); got != "open" {
		t.Fatalf("child Open: %q; want open", got)
	}
	holder.Kill()
	holder.Wait()
	db, err = openT(t, dir, Options{})
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	defer db.Close()
	hostileCheckModel(t, db, o)
}

// TestHostileRangeWrite: the vectors Range passes point into read-only
// mappings, so a callback that writes to one (which Range's doc forbids)
// kills the process with a fault, which recover cannot catch; the store
// on disk is unharmed.
func TestHostileRangeWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir, o := hostileClosedStore(t)
	c := startHostileChild(t, dir, "rangewrite")
	var lines []string
	for l := range c.lines {
		lines = append(lines, l)
	}
	err := c.Wait()
	if len(lines) != 1 || lines[0] != "open" || err == nil {
		t.Fatalf("child wrote to a Range vector: lines %q, exit %v; want a fault", lines, err)
	}
	if msg := c.Stderr(); !strings.Contains(msg, "unexpected fault address") && !strings.Contains(msg, "SIGSEGV") {
		t.Fatalf("child died (%v) without a fault:\n%s", err, msg)
	}
	db, err := openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCheck(t, db)
	hostileCheckModel(t, db, o)
}

// TestHostileReadOnlyDirectory: permission errors come back as errors
// wrapping fs.ErrPermission, nothing panics, and nothing acknowledged is
// lost; once the permissions are restored the store opens with exactly
// the acknowledged writes. Root ignores permission bits, so the test skips
// when run as root.
func TestHostileReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod does not keep root from writing")
	}
	chmodTree := func(t *testing.T, dir string, dirMode, fileMode os.FileMode) {
		t.Helper()
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if fi.IsDir() {
				return os.Chmod(p, dirMode)
			}
			return os.Chmod(p, fileMode)
		})
	}
	permOK := func(err error) bool { return err == nil || errors.Is(err, fs.ErrPermission) }

	t.Run("store directory 0500", func(t *testing.T) {
		// The files and the wal subdirectory stay writable: rows can
		// still go into the active segment and tombstones into the WAL;
		// what needs a new file in the directory fails.
		dir, o := hostileClosedStore(t)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		db, err := openT(t, dir, Options{DisableAutoCompaction: true})
		if err != nil {
			if !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("Open: %v; want success or fs.ErrPermission", err)
			}
			t.Logf("Open: %v", err)
			return
		}
		hostileCheckModel(t, db, o)
		rng := rand.New(rand.NewSource(31))
		var log []string
		note := func(what string, err error) {
			log = append(log, fmt.Sprintf("%s: %v", what, err))
			if !permOK(err) {
				t.Errorf("%s: %v; want success or fs.ErrPermission", what, err)
			}
		}
		for _, n := range []int{1, 3, hostileCap, 2 * hostileCap} {
			vecs := randVecs(rng, n, hostileDim)
			ids, err := db.Add(vecs)
			note(fmt.Sprintf("Add(%d)", n), err)
			if err == nil {
				o.add(ids, vecs)
			}
		}
		live := slicesSorted(o.vecs)
		del := []uint64{live[0], live[len(live)-1]}
		n, err := db.Delete(del)
		note("Delete", err)
		if err == nil && n != o.delete(del) {
			t.Errorf("Delete counted %d", n)
		}
		_, err = db.Compact(context.Background())
		note("Compact", err)
		note("Sync", db.Sync())
		_, err = db.Search(context.Background(), randVec(rng, hostileDim), SearchOptions{})
		note("Search", err)
		note("Verify", db.Verify(context.Background()))
		note("Close", db.Close())
		t.Logf("on a read-only store directory:\n  %s", strings.Join(log, "\n  "))

		os.Chmod(dir, 0o755)
		db, err = openT(t, dir, Options{DisableAutoCompaction: true})
		if err != nil {
			t.Fatalf("Open after restoring the permissions: %v", err)
		}
		defer db.Close()
		mustCheck(t, db)
		hostileCheckModel(t, db, o)
	})
	t.Run("whole store read-only", func(t *testing.T) {
		dir, o := hostileClosedStore(t)
		chmodTree(t, dir, 0o500, 0o400)
		t.Cleanup(func() { chmodTree(t, dir, 0o755, 0o644) })
		before := snapshotDir(t, dir)
		db, err := openT(t, dir, Options{})
		if err == nil {
			// A read-only open would be a feature; what it must not do
			// is lose or change anything.
			hostileCheckModel(t, db, o)
			t.Logf("Close: %v", db.Close())
		} else if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Open: %v; want fs.ErrPermission", err)
		}
		t.Logf("Open of a read-only store: %v", err)
		if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
			t.Fatal("Open changed a read-only store")
		}
		// Options.ReadOnly is the way to read it.
		ro, err := openT(t, dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("Open with ReadOnly: %v", err)
		}
		hostileCheckModel(t, ro, o)
		if err := ro.Close(); err != nil {
			t.Fatalf("Close of the ReadOnly DB: %v", err)
		}
		if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
			t.Fatal("a ReadOnly Open changed a read-only store")
		}
		chmodTree(t, dir, 0o755, 0o644)
		db, err = openT(t, dir, Options{})
		if err != nil {
			t.Fatalf("Open after restoring the permissions: %v", err)
		}
		defer db.Close()
		hostileCheckModel(t, db, o)
	})
	t.Run("read-only parent, new store", func(t *testing.T) {
		parent := t.TempDir()
		os.Chmod(parent, 0o500)
		t.Cleanup(func() { os.Chmod(parent, 0o755) })
		dir := filepath.Join(parent, "store")
		db, err := openT(t, dir, Options{Dimension: 4})
		if err == nil {
			db.Close()
			t.Fatal("Open created a store in a read-only directory")
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Open: %v; want fs.ErrPermission", err)
		}
	})
}
