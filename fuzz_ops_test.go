package memvec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzOps drives the public API with an operation sequence decoded from the
// fuzz input and checks every result against an in-memory model (the
// oracle of oracle_test.go plus the counters the model can predict):
//
//   - Add of good and bad batches (wrong length, nil, NaN, ±Inf, all
//     zeros, norms just outside [1e-30, 1e30]), empty batches and batches
//     larger than a segment: IDs consecutive from the model's next ID, a bad
//     batch fails with the first bad vector's sentinel and adds nothing;
//   - Delete of live, dead, retired, unknown and repeated IDs: the count;
//   - Get: bit-exact vectors or ErrNotFound;
//   - Search, SearchIn, SearchBatch with TopK and MinScore extremes and bad
//     queries: the sentinel, or a top-k equal to brute force up to ties
//     within 1e-4, and SearchBatch equal to Search query by query;
//   - Compact, whose IDMap is applied to the model and must equal what
//     IDMapsSince reads back; ReleaseIDMaps;
//   - Close and reopen (sometimes first with a wrong Dimension, sometimes
//     with another SegmentBytes or NoSync), after which the old handle
//     must return ErrClosed and the whole model is compared;
//   - Compact with a cancelled context, which must change nothing;
//   - Stats, Verify, Sync;
//   - Put, DeleteKeys and GetRecord of keyed records (keys_fuzz_ops_test.go):
//     bad keys, payloads and vectors refused whole, a replaced key's row
//     deleted, keys and payloads moving with their rows through Compact
//     and on every search result.
//
// Segments hold from one row to a few dozen (SegmentBytes 4097 to
// testSegmentBytes), so that batches roll over them, and the background
// compactor is off so that IDs move only when the sequence says Compact.
//
// Input format: byte 0 picks the dimension (1..8), byte 1 the segment size
// and NoSync; then each operation is one byte (the op) followed by the
// bytes that op consumes. A short input reads as zeros after its end.
// MEMVEC_FUZZOPS_TRACE=1 logs the operations an input decodes to:
//
//	MEMVEC_FUZZOPS_TRACE=1 go test -run 'FuzzOps/<name>' -v .
//
// The fuzzer runs best on a tmpfs (TMPDIR=/dev/shm), where fsync is free:
//
//	TMPDIR=/dev/shm go test -run '^$' -fuzz '^FuzzOps$' -fuzztime 10m -parallel 1 .
func FuzzOps(f *testing.F) {
	for _, seed := range fzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzOps(t, data)
	})
}

// Operation codes of a FuzzOps input, one byte each (taken modulo
// fzNumOps).
const (
	fzAdd = iota
	fzDelete
	fzGet
	fzSearch
	fzSearchIn
	fzSearchBatch
	fzCompact
	fzReopen
	fzStats
	fzVerify
	fzSync
	fzIDMaps
	fzCompactCancelled
	fzPut
	fzDeleteKeys
	fzGetRecord
	fzNumOps
)

const (
	fzMaxOps     = 48   // operations per input
	fzMaxVectors = 1500 // vectors added per input
)

// fzSegmentBytes are the segment sizes an input picks from: from one row
// per segment (a 4 KiB header and less than a row) to testSegmentBytes.
var fzSegmentBytes = []int64{4096 + 1, 4096 + 200, 4096 + 700, 4096 + 1500, testSegmentBytes}

// fzReader hands out the input's bytes, then zeros.
type fzReader struct {
	b []byte
	i int
}

func (r *fzReader) done() bool { return r.i >= len(r.b) }

func (r *fzReader) byte() byte {
	if r.i >= len(r.b) {
		r.i++
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *fzReader) u16() int { return int(r.byte()) | int(r.byte())<<8 }

// fzState is one FuzzOps run: the store, and the model it must match.
type fzState struct {
	t    *testing.T
	r    *fzReader
	ctx  context.Context
	dir  string
	dim  int
	db   *DB
	o    *oracle
	live []uint64 // sorted keys of o.vecs; nil when stale

	deleted uint64   // Stats().Deleted: rows deleted since the last compaction
	epoch   uint64   // Stats().Epoch
	kept    []IDMap  // maps not released, oldest first
	dead    []uint64 // IDs deleted or retired by a compaction (a sample)
	added   int
	log     []string // the operations so far, for failure messages
	k       fzKeys   // keyed records (keys_fuzz_ops_test.go)
}

func runFuzzOps(t *testing.T, data []byte) {
	r := &fzReader{b: data}
	s := &fzState{t: t, r: r, ctx: context.Background(), dim: 1 + int(r.byte()%8), k: newFZKeys()}
	s.o = newOracle(s.dim)
	s.dir = filepath.Join(t.TempDir(), "store")
	cfg := r.byte()
	opts := Options{
		Dimension:             s.dim,
		SegmentBytes:          fzSegmentBytes[int(cfg>>1)%len(fzSegmentBytes)],
		NoSync:                cfg&1 == 1,
		DisableAutoCompaction: true,
	}
	db, err := openT(t, s.dir, opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	s.db = db
	t.Cleanup(func() {
		s.db.Close()
		if t.Failed() || os.Getenv("MEMVEC_FUZZOPS_TRACE") != "" {
			t.Logf("operations:\n  %s", strings.Join(s.log, "\n  "))
		}
	})
	s.logf("open dim %d %+v", s.dim, opts)
	for n := 0; n < fzMaxOps && !r.done(); n++ {
		switch r.byte() % fzNumOps {
		case fzAdd:
			s.add()
		case fzDelete:
			s.delete()
		case fzGet:
			s.get()
		case fzSearch:
			s.search()
		case fzSearchIn:
			s.searchIn()
		case fzSearchBatch:
			s.searchBatch()
		case fzCompact:
			s.compact()
		case fzReopen:
			s.reopen()
		case fzStats:
			s.logf("Stats")
			s.checkStats()
		case fzVerify:
			s.logf("Verify")
			if err := s.db.Verify(s.ctx); err != nil {
				s.fatalf("Verify: %v", err)
			}
		case fzSync:
			s.logf("Sync")
			if err := s.db.Sync(); err != nil {
				s.fatalf("Sync: %v", err)
			}
		case fzIDMaps:
			s.idMaps()
		case fzCompactCancelled:
			s.compactCancelled()
		case fzPut:
			s.put()
		case fzDeleteKeys:
			s.deleteKeys()
		case fzGetRecord:
			s.getRecord(s.pickKey())
		}
	}
	s.checkAll()
}

func (s *fzState) logf(format string, a ...any) {
	s.log = append(s.log, fmt.Sprintf(format, a...))
}

// fatalf fails the run; runFuzzOps's cleanup then logs the operations
// that led there.
func (s *fzState) fatalf(format string, a ...any) {
	s.t.Helper()
	s.t.Fatalf(format, a...)
}

// liveIDs returns the model's live IDs in ascending order.
func (s *fzState) liveIDs() []uint64 {
	if s.live == nil {
		s.live = slices.Sorted(maps.Keys(s.o.vecs))
		if s.live == nil {
			s.live = []uint64{}
		}
	}
	return s.live
}

// pickID returns an ID of a kind the input chooses: live, dead or
// retired, never handed out, or at the far end of the ID space.
func (s *fzState) pickID() uint64 {
	r := s.r
	kind := r.byte() % 8
	switch {
	case kind < 4 && len(s.liveIDs()) > 0:
		live := s.liveIDs()
		return live[r.u16()%len(live)]
	case kind == 4 && len(s.dead) > 0:
		return s.dead[r.u16()%len(s.dead)]
	case kind == 5:
		return s.o.next + uint64(r.byte()%4)
	case kind == 6:
		b := uint64(r.byte())
		if b&1 == 0 {
			return math.MaxUint64 - b/2
		}
		return 1<<63 + b
	}
	return uint64(r.byte())
}

func (s *fzState) pickIDs() []uint64 {
	n := int(s.r.byte() % 10)
	if n == 0 {
		if s.r.byte()&1 == 0 {
			return nil
		}
		return []uint64{}
	}
	ids := make([]uint64, n)
	for i := range ids {
		if i > 0 && s.r.byte()%5 == 0 {
			ids[i] = ids[int(s.r.byte())%i] // repeated
			continue
		}
		ids[i] = s.pickID()
	}
	return ids
}

// vectorError is the documented verdict on v: ErrDimension for the wrong
// length, ErrInvalidVector for NaN, ±Inf, all zeros or a norm outside
// [1e-30, 1e30], else nil.
func vectorError(v []float32, dim int) error {
	if len(v) != dim {
		return ErrDimension
	}
	var ss float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return ErrInvalidVector
		}
		ss += float64(x) * float64(x)
	}
	if norm := math.Sqrt(ss); ss == 0 || norm < 1e-30 || norm > 1e30 {
		return ErrInvalidVector
	}
	return nil
}

// fzScales stretch vectors towards, and past, the ends of the supported
// norm range.
var fzScales = []float32{1, 1, 1, 1, 0.5, 3, 1e-29, 1e29, 1e-31, 1e31}

// vector decodes one vector (or query): mostly a valid one, random or
// made of small integers (which gives exact ties), and sometimes one of
// the bad kinds.
func (s *fzState) vector() []float32 {
	r := s.r
	kind := r.byte()
	dim := s.dim
	v := make([]float32, dim)
	switch kind % 32 {
	case 0:
		return make([]float32, max(dim-1, 0)) // short (empty at dim 1)
	case 1:
		return make([]float32, dim+1) // long
	case 2:
		return nil
	case 3: // NaN, +Inf or -Inf in one component of a valid vector
		for i := range v {
			v[i] = 1
		}
		v[int(r.byte())%dim] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[int(kind/32)%3]
		return v
	case 4: // all zeros, or all negative zeros
		if kind&32 != 0 {
			for i := range v {
				v[i] = float32(math.Copysign(0, -1))
			}
		}
		return v
	case 5: // subnormal components only
		for i := range v {
			v[i] = math.Float32frombits(uint32(1 + r.byte()))
		}
		return v
	}
	scale := fzScales[int(r.byte())%len(fzScales)]
	if kind%2 == 0 {
		rng := rand.New(rand.NewSource(int64(r.u16())))
		for i := range v {
			v[i] = float32(rng.NormFloat64()) * scale
		}
		return v
	}
	for i := range v {
		v[i] = float32(int8(r.byte())>>4) * scale
	}
	return v
}

// add decodes a batch: its size (0-7, sometimes 8-39 or 20-275, larger
// than the small segments), then either every vector on its own (any kind)
// or all of them random from one seed and scale, with possibly one
// vector of any kind put in.
func (s *fzState) add() {
	r := s.r
	n := int(r.byte() % 8)
	switch b := r.byte(); {
	case b%8 == 0:
		n = 20 + int(b)
	case b%8 == 1:
		n = 8 + int(b%32)
	}
	var vecs [][]float32
	if n > 0 || r.byte()&1 == 0 {
		vecs = make([][]float32, n)
	}
	if mode := r.byte() % 4; mode == 0 {
		for i := range vecs {
			vecs[i] = s.vector()
		}
	} else {
		rng := rand.New(rand.NewSource(int64(r.u16())))
		scale := fzScales[int(r.byte())%len(fzScales)]
		for i := range vecs {
			vecs[i] = make([]float32, s.dim)
			for j := range vecs[i] {
				vecs[i][j] = float32(rng.NormFloat64()) * scale
			}
		}
		if mode == 3 && n > 0 {
			vecs[int(r.byte())%n] = s.vector()
		}
	}
	bad := -1
	var want error
	for i, v := range vecs {
		if err := vectorError(v, s.dim); err != nil {
			bad, want = i, err
			break
		}
	}
	if bad < 0 && s.added+n > fzMaxVectors {
		return // keep one run's store small
	}
	s.logf("Add(%d vectors, first bad %d: %v)", n, bad, want)
	before := s.db.Stats()
	ids, err := s.db.Add(vecs)
	if want != nil {
		if !errors.Is(err, want) || ids != nil {
			s.fatalf("Add with bad vector %d (%v): %v, %v; want %v", bad, vecs[bad], ids, err, want)
		}
		if after := s.db.Stats(); after != before {
			s.fatalf("a refused Add changed the store: %+v -> %+v", before, after)
		}
		return
	}
	if err != nil {
		s.fatalf("Add(%d valid vectors): %v", n, err)
	}
	if n == 0 {
		if ids != nil {
			s.fatalf("Add of an empty batch returned IDs %v", ids)
		}
		return
	}
	if len(ids) != n {
		s.fatalf("Add(%d vectors) returned %d IDs", n, len(ids))
	}
	for i, id := range ids {
		if id != s.o.next+uint64(i) {
			s.fatalf("Add returned IDs %v; want consecutive from %d", ids, s.o.next)
		}
	}
	s.o.add(ids, vecs) // copies
	s.live = nil
	s.added += n
	// Add copies too: the caller's slices are the caller's again.
	vecs[0][0] = float32(math.NaN())
}

func (s *fzState) delete() {
	ids := s.pickIDs()
	want := 0
	seen := map[uint64]bool{}
	for _, id := range ids {
		if _, ok := s.o.vecs[id]; ok && !seen[id] {
			want++
			seen[id] = true
		}
	}
	s.logf("Delete(%v) want %d", ids, want)
	n, err := s.db.Delete(ids)
	if err != nil || n != want {
		s.fatalf("Delete(%v) = %d, %v; want %d", ids, n, err, want)
	}
	for _, id := range ids {
		if _, ok := s.o.vecs[id]; ok {
			s.dead = append(s.dead, id)
		}
		s.forgetID(id) // a keyed row's key goes with it
	}
	s.o.delete(ids)
	s.deleted += uint64(want)
	s.live = nil
	s.trimDead()
}

func (s *fzState) trimDead() {
	if len(s.dead) > 256 {
		s.dead = append(s.dead[:0], s.dead[len(s.dead)-128:]...)
	}
}

func (s *fzState) get() {
	id := s.pickID()
	s.logf("Get(%d)", id)
	s.checkGet(id)
}

func (s *fzState) checkGet(id uint64) {
	got, err := s.db.Get(id)
	want, ok := s.o.vecs[id]
	if !ok {
		if !errors.Is(err, ErrNotFound) || got != nil {
			s.fatalf("Get(%d) of an ID that is not live = %v, %v; want ErrNotFound", id, got, err)
		}
		return
	}
	if err != nil || !bitsEqual(got, want) {
		s.fatalf("Get(%d) = %v, %v; want %v", id, got, err, want)
	}
	got[0] = float32(math.NaN()) // a copy: the next Get must not see this
}

// fzTopKs and fzMinScores are the option values the input picks from.
var (
	fzTopKs     = []int{0, 1, 2, 3, 5, 10, -1, math.MinInt, math.MaxInt, 1 << 20}
	fzMinScores = []float32{0, 0, -1, -1, 0.5, 1, 0.999, -0.5, -2, 2,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, float32(math.NaN())}
)

// searchOptions decodes options; TopK may also be the live count or one
// past it.
func (s *fzState) searchOptions() SearchOptions {
	b := int(s.r.byte())
	var k int
	switch live := len(s.o.vecs); b % 12 {
	case 10:
		k = live
	case 11:
		k = live + 1
	default:
		k = fzTopKs[b%12%len(fzTopKs)]
	}
	return SearchOptions{TopK: k, MinScore: fzMinScores[int(s.r.byte())%len(fzMinScores)], WithPayload: b&0x80 != 0}
}

// wantSearchError is the error a search with these options and queries
// must return, nil if it must succeed: a negative TopK comes first, then
// the first bad query.
func (s *fzState) wantSearchError(opts SearchOptions, queries ...[]float32) error {
	if opts.TopK < 0 {
		return ErrInvalidArgument
	}
	for _, q := range queries {
		if err := vectorError(q, s.dim); err != nil {
			return err
		}
	}
	return nil
}

// checkHits compares one search answer with brute force over ids (nil:
// the whole store).
func (s *fzState) checkHits(q []float32, ids []uint64, opts SearchOptions, got []Result) {
	s.t.Helper()
	k := opts.TopK
	if k == 0 {
		k = 10
	}
	if math.IsNaN(float64(opts.MinScore)) {
		// No score is >= NaN: nothing may come back.
		if len(got) != 0 {
			s.fatalf("MinScore NaN returned %v", got)
		}
		return
	}
	checkResults(s.t, s.o, q, ids, k, opts.MinScore, got)
	s.checkResultKeys(opts, got)
}

// refused reports whether a search had to fail, with want (nil: it had
// not): then it fails the run unless the search returned want and no
// results (none: its results are nil). The failure is format and args
// (the call and its results), then the error and want.
func (s *fzState) refused(want, err error, none bool, format string, args ...any) bool {
	s.t.Helper()
	if want == nil {
		return false
	}
	if !errors.Is(err, want) || !none {
		s.fatalf(format+", %v; want %v", append(args, err, want)...)
	}
	return true
}

func (s *fzState) search() {
	q := s.vector()
	opts := s.searchOptions()
	want := s.wantSearchError(opts, q)
	s.logf("Search(%v, %+v) want %v", q, opts, want)
	got, err := s.db.Search(s.ctx, q, opts)
	if s.refused(want, err, got == nil, "Search(%v, %+v) = %v", q, opts, got) {
		return
	}
	if err != nil {
		s.fatalf("Search(%v, %+v): %v", q, opts, err)
	}
	s.checkHits(q, nil, opts, got)
	// The codes never change an answer: the same search scanning every
	// float32 row returns the same bits.
	ex := opts
	ex.Exhaustive = true
	all, err := s.db.Search(s.ctx, q, ex)
	if err != nil {
		s.fatalf("Search(%v, %+v): %v", q, ex, err)
	}
	if !sameHits(got, all) {
		s.fatalf("Search(%v, %+v) = %v, Exhaustive %v", q, opts, got, all)
	}
}

// sameHits reports whether a and b have the same IDs and score bits in
// the same order.
func sameHits(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || math.Float32bits(a[i].Score) != math.Float32bits(b[i].Score) {
			return false
		}
	}
	return true
}

func (s *fzState) searchIn() {
	q := s.vector()
	ids := s.pickIDs()
	opts := s.searchOptions()
	want := s.wantSearchError(opts, q)
	s.logf("SearchIn(%v, %v, %+v) want %v", q, ids, opts, want)
	got, err := s.db.SearchIn(s.ctx, q, ids, opts)
	if s.refused(want, err, got == nil, "SearchIn(%v, %v, %+v) = %v", q, ids, opts, got) {
		return
	}
	if err != nil {
		s.fatalf("SearchIn(%v, %v, %+v): %v", q, ids, opts, err)
	}
	if ids == nil {
		ids = []uint64{} // the oracle reads nil as "the whole store"
	}
	s.checkHits(q, ids, opts, got)
}

func (s *fzState) searchBatch() {
	n := int(s.r.byte() % 5)
	var qs [][]float32
	if n > 0 || s.r.byte()&1 == 0 {
		qs = make([][]float32, n)
	}
	for i := range qs {
		qs[i] = s.vector()
	}
	opts := s.searchOptions()
	want := s.wantSearchError(opts, qs...)
	s.logf("SearchBatch(%d queries, %+v) want %v", n, opts, want)
	got, err := s.db.SearchBatch(s.ctx, qs, opts)
	if s.refused(want, err, got == nil, "SearchBatch(%v, %+v) = %v", qs, opts, got) {
		return
	}
	if err != nil || len(got) != n {
		s.fatalf("SearchBatch(%d queries, %+v) = %d results, %v", n, opts, len(got), err)
	}
	for i, q := range qs {
		single, err := s.db.Search(s.ctx, q, opts)
		if err != nil {
			s.fatalf("Search(%v, %+v): %v", q, opts, err)
		}
		if len(single) != len(got[i]) || (len(single) > 0 && !reflect.DeepEqual(single, got[i])) {
			s.fatalf("SearchBatch query %d: %v, Search: %v", i, got[i], single)
		}
		s.checkHits(q, nil, opts, got[i])
	}
}

func (s *fzState) compact() {
	s.logf("Compact (deleted %d)", s.deleted)
	m, err := s.db.Compact(s.ctx)
	if err != nil {
		s.fatalf("Compact: %v", err)
	}
	if s.deleted == 0 {
		if m.Epoch != 0 || len(m.Runs) != 0 {
			s.fatalf("Compact with nothing deleted returned %+v", m)
		}
		return
	}
	if m.Epoch != s.epoch+1 {
		s.fatalf("Compact returned epoch %d, want %d", m.Epoch, s.epoch+1)
	}
	if err := checkMapShape(m); err != nil {
		s.fatalf("Compact: %v", err)
	}
	for _, r := range m.Runs {
		for k := uint64(0); k < r.Len; k++ {
			s.dead = append(s.dead, r.Old+k)
		}
	}
	s.trimDead()
	s.o.applyMap(s.t, m)
	s.moveKeys(m)
	s.live = nil
	s.epoch = m.Epoch
	s.deleted = 0
	s.kept = append(s.kept, m)
	maps, err := s.db.IDMapsSince(m.Epoch - 1)
	if err != nil || len(maps) != 1 || maps[0].Epoch != m.Epoch || !runsEqual(maps[0].Runs, m.Runs) {
		s.fatalf("IDMapsSince(%d) after Compact = %+v, %v; Compact returned %+v", m.Epoch-1, maps, err, m)
	}
	s.checkStats()
}

// compactCancelled runs Compact with a cancelled context: it must return
// context.Canceled and change nothing, not even the next ID.
func (s *fzState) compactCancelled() {
	s.logf("Compact (cancelled)")
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	before := s.db.Stats()
	m, err := s.db.Compact(ctx)
	if !errors.Is(err, context.Canceled) || m.Epoch != 0 || len(m.Runs) != 0 {
		s.fatalf("Compact with a cancelled context = %+v, %v; want context.Canceled", m, err)
	}
	if after := s.db.Stats(); after != before {
		s.fatalf("a cancelled Compact changed the store: %+v -> %+v", before, after)
	}
}

// idMaps reads back the kept maps from some epoch, and sometimes releases
// some of them.
func (s *fzState) idMaps() {
	since := uint64(s.r.byte()) % (s.epoch + 2)
	s.logf("IDMapsSince(%d)", since)
	got, err := s.db.IDMapsSince(since)
	if err != nil {
		s.fatalf("IDMapsSince(%d): %v", since, err)
	}
	var want []IDMap
	for _, m := range s.kept {
		if m.Epoch > since {
			want = append(want, m)
		}
	}
	if len(got) != len(want) {
		s.fatalf("IDMapsSince(%d) = %d maps, want %d", since, len(got), len(want))
	}
	for i := range got {
		if got[i].Epoch != want[i].Epoch || !runsEqual(got[i].Runs, want[i].Runs) {
			s.fatalf("IDMapsSince(%d)[%d] = %+v, want %+v", since, i, got[i], want[i])
		}
	}
	if b := s.r.byte(); b%3 == 0 {
		through := uint64(b/3) % (s.epoch + 2)
		s.logf("ReleaseIDMaps(%d)", through)
		if err := s.db.ReleaseIDMaps(through); err != nil {
			s.fatalf("ReleaseIDMaps(%d): %v", through, err)
		}
		s.kept = slices.DeleteFunc(s.kept, func(m IDMap) bool { return m.Epoch <= through })
	}
}

// reopen closes the store, checks the closed handle, and opens it again,
// sometimes first with a wrong Dimension and with other options.
func (s *fzState) reopen() {
	r := s.r
	cfg := r.byte()
	s.logf("Close and reopen (%#x)", cfg)
	old := s.db
	if err := old.Close(); err != nil {
		s.fatalf("Close: %v", err)
	}
	s.checkClosed(old, r.byte())
	if cfg&1 != 0 {
		if db, err := openT(s.t, s.dir, Options{Dimension: s.dim + 1, DisableAutoCompaction: true}); !errors.Is(err, ErrDimension) {
			if err == nil {
				db.Close()
			}
			s.fatalf("reopen with Dimension %d (stored %d): %v; want ErrDimension", s.dim+1, s.dim, err)
		}
	}
	opts := Options{
		SegmentBytes:          fzSegmentBytes[int(cfg>>2)%len(fzSegmentBytes)],
		NoSync:                cfg&2 != 0,
		DisableAutoCompaction: true,
	}
	if cfg&0x80 != 0 {
		opts.Dimension = s.dim
	}
	db, err := openT(s.t, s.dir, opts)
	if err != nil {
		s.fatalf("reopen(%+v): %v", opts, err)
	}
	s.db = db
	if db.Dimension() != s.dim {
		s.fatalf("reopened store has dimension %d, want %d", db.Dimension(), s.dim)
	}
	s.checkAll()
}

// checkClosed calls one method, picked by b, on a closed DB.
func (s *fzState) checkClosed(db *DB, b byte) {
	q := make([]float32, s.dim)
	q[0] = 1
	var err error
	switch b % 12 {
	case 0:
		_, err = db.Add([][]float32{q})
	case 1:
		_, err = db.Delete([]uint64{0})
	case 2:
		_, err = db.Get(0)
	case 3:
		_, err = db.Search(s.ctx, q, SearchOptions{})
	case 4:
		_, err = db.SearchIn(s.ctx, q, []uint64{0}, SearchOptions{})
	case 5:
		_, err = db.SearchBatch(s.ctx, [][]float32{q}, SearchOptions{})
	case 6:
		_, err = db.Compact(s.ctx)
	case 7:
		err = db.Verify(s.ctx)
	case 8:
		err = db.Sync()
	case 9:
		err = db.Close()
	case 10:
		_, err = db.IDMapsSince(0)
	case 11:
		if st := db.Stats(); st != (Stats{}) {
			s.fatalf("Stats on a closed DB: %+v", st)
		}
		err = db.ReleaseIDMaps(0)
	}
	if !errors.Is(err, ErrClosed) {
		s.fatalf("method %d on a closed DB: %v; want ErrClosed", b%12, err)
	}
}

func (s *fzState) checkStats() {
	st := s.db.Stats()
	live := uint64(len(s.o.vecs))
	if st.Dimension != s.dim || st.Live != live || st.Deleted != s.deleted || st.Total != live+s.deleted || st.Epoch != s.epoch {
		s.fatalf("Stats = %+v; the model has %d live, %d deleted, epoch %d", st, live, s.deleted, s.epoch)
	}
	if st.Segments < 0 || st.DiskBytes <= 0 || st.ReclaimableBytes < 0 || st.ReclaimableBytes > st.DiskBytes || st.WALBytes < 0 {
		s.fatalf("Stats out of range: %+v", st)
	}
}

// checkAll compares every ID up to past the next one, the statistics, the
// checksums and one search with the model.
func (s *fzState) checkAll() {
	s.checkStats()
	for id := uint64(0); id < s.o.next+3; id++ {
		s.checkGet(id)
	}
	for _, id := range s.dead {
		s.checkGet(id)
	}
	if err := s.db.Verify(s.ctx); err != nil {
		s.fatalf("Verify: %v", err)
	}
	s.checkKeys()
	q := make([]float32, s.dim)
	for i := range q {
		q[i] = float32(i%3) - 0.5
	}
	opts := SearchOptions{TopK: 7, MinScore: -1}
	got, err := s.db.Search(s.ctx, q, opts)
	if err != nil {
		s.fatalf("Search: %v", err)
	}
	s.checkHits(q, nil, opts, got)
	// The next Add must continue the ID sequence.
	if s.added < fzMaxVectors {
		q[0] = 2
		ids, err := s.db.Add([][]float32{q})
		if err != nil || len(ids) != 1 || ids[0] != s.o.next {
			s.fatalf("Add after the checks = %v, %v; want ID %d", ids, err, s.o.next)
		}
		s.o.add(ids, [][]float32{q})
		s.live = nil
		s.added++
	}
}

// fzProgram builds a FuzzOps input from a header and operations, for the
// seeds.
func fzProgram(dim, segCfg byte, ops ...[]byte) []byte {
	b := []byte{dim, segCfg}
	for _, op := range ops {
		b = append(b, op...)
	}
	return b
}

// fzSeeds are hand-written inputs that reach every operation; the fuzzer
// mutates from them. See the decoders for the byte layout of each op.
func fzSeeds() [][]byte {
	addRandom := func(n, seed byte) []byte { return []byte{fzAdd, n, 2, 1, seed, 0, 0} }
	addBig := func(seed byte) []byte { return []byte{fzAdd, 0, 40, 1, seed, 0, 0} } // 60 vectors
	addBad := []byte{fzAdd, 5, 2, 3, 9, 0, 0, 2, 3 + 32, 0}                         // +Inf in vector 2
	// Dimension 2: a random vector, one of small integers, a zero one.
	addMixed := []byte{fzAdd, 3, 2, 0, 6, 0, 5, 0, 7, 0, 0x10, 0x20, 4}
	delLive := []byte{fzDelete, 3, 0, 1, 0, 1, 0, 3, 0, 0, 0} // two live IDs, one of them twice
	delOdd := []byte{fzDelete, 4, 5, 1, 1, 6, 0xff, 1, 5, 0, 1, 7, 9}
	search := []byte{fzSearch, 6, 0, 3, 0, 5, 2}
	searchIn := []byte{fzSearchIn, 6, 0, 4, 0, 3, 0, 0, 0, 1, 0, 2, 0, 1, 0, 5, 0, 3, 2}
	searchBatch := []byte{fzSearchBatch, 2, 6, 0, 5, 0, 6, 1, 7, 0, 2, 3}
	return [][]byte{
		fzProgram(3, 0x0, addRandom(5, 1), delLive, []byte{fzGet, 0, 0, 0}, search, []byte{fzCompact}, []byte{fzStats}),
		fzProgram(2, 0x4, addBig(3), addRandom(7, 9), delLive, delOdd, []byte{fzCompact}, []byte{fzReopen, 0x81, 3},
			searchIn, searchBatch, []byte{fzIDMaps, 0, 0}, []byte{fzVerify}),
		fzProgram(1, 0x3, addRandom(3, 4), addBad, addMixed, []byte{fzSearch, 4, 0, 2}, []byte{fzReopen, 0x01, 9},
			[]byte{fzSync}, delLive, []byte{fzCompact}, []byte{fzCompact}),
		fzProgram(7, 0x8, addRandom(2, 5), addBig(4), delLive, []byte{fzCompact},
			delOdd, []byte{fzCompact}, []byte{fzIDMaps, 1, 3}, []byte{fzReopen, 0x06, 11}, []byte{fzIDMaps, 0, 1}),
		// Keyed: Puts of new and existing keys (one batch refused for a
		// repeated key), a Delete of live IDs, DeleteKeys, GetRecord,
		// Compact, reopen.
		fzProgram(3, 0x2, addRandom(4, 2),
			[]byte{fzPut, 3, 0, 3, 6, 0, 1, 0, 1, 3, 6, 0, 2, 0, 2, 0, 6, 0, 3, 0},
			[]byte{fzPut, 2, 1, 4, 6, 0, 4, 0, 5, 1, 6, 0, 5, 0},
			[]byte{fzPut, 2, 3, 0, 6, 0, 6, 0, 3, 0, 6, 0, 7, 0}, []byte{fzPut, 0, 0},
			delLive, []byte{fzDeleteKeys, 3, 1, 14, 2}, []byte{fzDeleteKeys, 2, 1, 4},
			[]byte{fzGetRecord, 0}, []byte{fzGetRecord, 15}, []byte{fzCompact},
			[]byte{fzSearch, 6, 0, 3, 0, 0x80, 2}, []byte{fzReopen, 0x81, 3}, []byte{fzGetRecord, 5}),
		{},
	}
}
