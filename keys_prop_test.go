package memvec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// TestKeysProperty is the property test of keyed records: a random
// sequence of Put (new and existing keys, with and without payloads, and
// batches that must be refused whole), Add, DeleteKeys, Delete by ID,
// Compact, background compaction and close/reopen runs against a model
// (each key's vector and payload, each unkeyed row's vector by ID, the ID
// maps applied as compactions report them). After each call it checks
// what the call returned, and every few calls (and after each reopen) the
// whole store: GetRecord of every key, bit for bit, Stats().Live, that no
// key is live twice, and the keys, payloads (WithPayload on and off) and
// scores of a search against brute force (readKeyed, checkKeysAgainst).
// GetRecord of single keys also runs while the background compactor moves
// rows.
//
// It runs once per combination of NoSync, the background compactor and
// the segment size (tiny: 4 rows, so that every Put spans segments and
// most replace a row in another segment; default: 64 MiB), the crash
// matrix's combinations without its "compact" axis (Compact is one of the
// operations here). MEMVEC_KEYS_SEEDS=n runs n seeds per combination
// (default 1) and MEMVEC_KEYS_SEED=s starts from seed s, to replay one.
func TestKeysProperty(t *testing.T) {
	seeds, first := 1, int64(1)
	if s, err := strconv.Atoi(os.Getenv("MEMVEC_KEYS_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	if s, err := strconv.ParseInt(os.Getenv("MEMVEC_KEYS_SEED"), 10, 64); err == nil {
		first = s
	}
	for _, c := range matrixCombos() {
		if c.compact {
			continue
		}
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			for seed := first; seed < first+int64(seeds); seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { keysProperty(t, c, seed) })
			}
		})
	}
}

const (
	kpDim   = 6
	kpKeys  = 48  // keys in the key space
	kpSteps = 160 // calls per run
)

// kpState is one run of the property test: the store and its model.
type kpState struct {
	t     *testing.T
	rng   *rand.Rand
	c     matrixCombo
	dir   string
	opts  Options
	db    *DB
	watch *compactWatch
	space []string
	keys  map[string]kRec      // live keys
	rows  map[uint64][]float32 // live rows without a key, by ID
	epoch uint64               // the last compaction whose map rows follows
	log   []string
	start time.Time
}

func keysProperty(t *testing.T, c matrixCombo, seed int64) {
	s := &kpState{
		t: t, rng: rand.New(rand.NewSource(seed)), c: c,
		dir:   filepath.Join(t.TempDir(), "s"),
		watch: newCompactWatch(),
		space: keySpace(kpKeys),
		keys:  map[string]kRec{},
		rows:  map[uint64][]float32{},
		start: time.Now(),
	}
	s.opts = c.options(kpDim)
	s.opts.OnCompact = s.watch.onCompact
	db, err := openT(t, s.dir, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	t.Cleanup(func() {
		s.db.Close()
		if t.Failed() {
			t.Logf("seed %d, calls:\n  %s", seed, strings.Join(s.log, "\n  "))
		}
	})
	reopens := 0
	for step := 0; step < kpSteps; step++ {
		switch r := s.rng.Intn(100); {
		case r < 40:
			s.put()
		case r < 48:
			s.putBad()
		case r < 58:
			s.add()
		case r < 68:
			s.deleteKeys()
		case r < 75:
			s.deleteIDs()
		case r < 85:
			s.getRecord()
		case r < 90:
			s.compact()
		case r < 94 && (c.tiny || reopens < 2):
			// Default-size segments are costly to reopen (the tail of a
			// 64 MiB active segment is scanned): two per run.
			reopens++
			s.reopen()
		default:
			s.checkAll("step " + strconv.Itoa(step))
		}
	}
	s.checkAll("end")
	st := s.db.Stats()
	t.Logf("%d calls: %d keys live, %d unkeyed rows, %d segments, epoch %d, in %v",
		kpSteps, len(s.keys), len(s.rows), st.Segments, st.Epoch, time.Since(s.start).Round(time.Millisecond))
}

func (s *kpState) logf(format string, a ...any) { s.log = append(s.log, fmt.Sprintf(format, a...)) }

func (s *kpState) fatalf(format string, a ...any) {
	s.t.Helper()
	s.t.Fatalf(format, a...)
}

func (s *kpState) vec() []float32 { return randVec(s.rng, kpDim) }

// batchKeys picks n distinct keys, existing and new ones.
func (s *kpState) batchKeys(n int) []string {
	perm := s.rng.Perm(len(s.space))
	out := make([]string, 0, n)
	for _, i := range perm[:min(n, len(perm))] {
		out = append(out, s.space[i])
	}
	return out
}

func (s *kpState) put() {
	n := 1 + s.rng.Intn(6)
	if s.rng.Intn(5) == 0 {
		n = 5 + s.rng.Intn(20) // spans tiny segments
	}
	keys := s.batchKeys(n)
	recs := make([]Record, len(keys))
	replaced := 0
	for i, k := range keys {
		recs[i] = Record{Key: k, Vector: s.vec(), Payload: randPayload(s.rng), ID: uint64(s.rng.Int63())}
		if s.keys[k].present {
			replaced++
		}
	}
	s.logf("Put(%d records, %d replacing)", len(recs), replaced)
	ids, err := s.db.Put(recs)
	if err != nil || len(ids) != len(recs) {
		s.fatalf("Put(%d records): %v, %v", len(recs), ids, err)
	}
	for i, r := range recs {
		s.keys[r.Key] = kRecOf(r)
		if i > 0 && ids[i] != ids[i-1]+1 {
			s.fatalf("Put returned IDs %v, not consecutive", ids)
		}
		// The caller's slices are its own again.
		r.Vector[0] = float32(math.NaN())
		if len(r.Payload) > 0 {
			r.Payload[0] ^= 0xff
		}
	}
}

// putBad sends a batch with one bad record among good ones: it must fail
// with the documented sentinel and change nothing (checked by the next
// checkAll, and here by GetRecord of the batch's good keys).
func (s *kpState) putBad() {
	keys := s.batchKeys(2 + s.rng.Intn(4))
	recs := make([]Record, len(keys))
	for i, k := range keys {
		recs[i] = Record{Key: k, Vector: s.vec(), Payload: randPayload(s.rng)}
	}
	i := s.rng.Intn(len(recs))
	var want error
	switch s.rng.Intn(6) {
	case 0:
		recs[i].Key, want = "", ErrInvalidArgument
	case 1:
		recs[i].Key, want = strings.Repeat("x", MaxKeyLen+1), ErrInvalidArgument
	case 2:
		recs[i].Key, want = recs[(i+1)%len(recs)].Key, ErrInvalidArgument
	case 3:
		recs[i].Payload, want = make([]byte, MaxPayloadLen+1), ErrInvalidArgument
	case 4:
		recs[i].Vector, want = recs[i].Vector[:kpDim-1], ErrDimension
	default:
		recs[i].Vector[s.rng.Intn(kpDim)], want = float32(math.Inf(-1)), ErrInvalidVector
	}
	s.logf("Put(%d records, record %d bad: %v)", len(recs), i, want)
	s.settle() // a background compaction takes IDs: NextID would move
	before := s.db.Stats()
	ids, err := s.db.Put(recs)
	if !errors.Is(err, want) || ids != nil {
		s.fatalf("Put with bad record %d: %v, %v; want %v", i, ids, err, want)
	}
	if after := s.db.Stats(); after.Live != before.Live || after.NextID != before.NextID {
		s.fatalf("a refused Put changed the store: %+v -> %+v", before, after)
	}
	for _, k := range keys {
		s.checkKey(k)
	}
}

func (s *kpState) add() {
	vecs := randVecs(s.rng, 1+s.rng.Intn(8), kpDim)
	s.logf("Add(%d)", len(vecs))
	ids, err := s.db.Add(vecs)
	if err != nil {
		s.fatalf("Add: %v", err)
	}
	for i, id := range ids {
		s.rows[id] = vecs[i]
	}
}

func (s *kpState) deleteKeys() {
	keys := s.batchKeys(1 + s.rng.Intn(5))
	if s.rng.Intn(3) == 0 {
		keys = append(keys, keys[0]) // repeated: counted once
	}
	want := 0
	for _, k := range keys {
		if s.keys[k].present {
			want++
			delete(s.keys, k)
		}
	}
	s.logf("DeleteKeys(%d keys) want %d", len(keys), want)
	n, err := s.db.DeleteKeys(keys)
	if err != nil || n != want {
		s.fatalf("DeleteKeys(%d keys) = %d, %v; want %d", len(keys), n, err, want)
	}
}

// deleteIDs deletes rows by ID: keyed rows (their keys are then absent),
// unkeyed ones and unknown IDs. The background compactor is let finish
// first, so that the IDs it is given are current.
func (s *kpState) deleteIDs() {
	s.settle()
	var ids []uint64
	var gone []string
	for range 1 + s.rng.Intn(3) {
		switch s.rng.Intn(3) {
		case 0:
			k := s.space[s.rng.Intn(len(s.space))]
			r, err := s.db.GetRecord(k)
			if err == nil {
				ids = append(ids, r.ID)
				gone = append(gone, k)
			}
		case 1:
			if len(s.rows) > 0 {
				live := slices.Sorted(maps.Keys(s.rows)) // not map order: a seed replays
				ids = append(ids, live[s.rng.Intn(len(live))])
			}
		default:
			ids = append(ids, s.db.Stats().NextID+uint64(s.rng.Intn(3)))
		}
	}
	want := 0
	for _, id := range ids {
		if _, ok := s.rows[id]; ok {
			want++
			delete(s.rows, id)
		}
	}
	for _, k := range gone {
		if s.keys[k].present {
			want++
			delete(s.keys, k)
		}
	}
	s.logf("Delete(%v) of keys %q want %d", ids, gone, want)
	n, err := s.db.Delete(ids)
	if err != nil || n != want {
		s.fatalf("Delete(%v) = %d, %v; want %d", ids, n, err, want)
	}
	for _, k := range gone {
		if _, err := s.db.GetRecord(k); !errors.Is(err, ErrNotFound) {
			s.fatalf("GetRecord(%.20q) after Delete of its ID: %v; want ErrNotFound", k, err)
		}
	}
}

func (s *kpState) getRecord() {
	k := s.space[s.rng.Intn(len(s.space))]
	s.logf("GetRecord(%.20q)", k)
	s.checkKey(k)
}

// checkKey checks one key with GetRecord; the background compactor may be
// moving its row meanwhile.
func (s *kpState) checkKey(k string) {
	s.t.Helper()
	got, err := s.db.GetRecord(k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.fatalf("GetRecord(%.20q): %v", k, err)
	}
	if want := s.keys[k]; !want.matches(got, err == nil) {
		s.fatalf("GetRecord(%.20q) = %+v, %v; want %v", k, got, err, want)
	}
	if err == nil {
		got.Vector[0] = float32(math.NaN()) // a copy
		if len(got.Payload) > 0 {
			got.Payload[0] ^= 0xff
		}
	}
}

func (s *kpState) compact() {
	s.logf("Compact")
	if _, err := compactWithin(s.db, matrixCompactTimeout); err != nil {
		s.fatalf("Compact: %v", err)
	}
	s.followMaps()
}

func (s *kpState) reopen() {
	s.logf("Close and reopen")
	if err := s.db.Close(); err != nil {
		s.fatalf("Close: %v", err)
	}
	s.followMaps() // reads nothing: the handle is closed
	db, err := openT(s.t, s.dir, s.opts)
	if err != nil {
		s.fatalf("reopen: %v", err)
	}
	s.db = db
	s.checkAll("after reopen")
}

// settle waits until the background compactor has nothing left to do (it
// runs only when a write wakes it, so nothing moves until the next write)
// and the model follows every map.
func (s *kpState) settle() {
	s.t.Helper()
	if s.c.auto {
		deadline := time.After(plSettleTimeout)
		for {
			due, err := autoCompactionDue(s.db)
			if err != nil {
				s.fatalf("settle: %v", err)
			}
			if !due {
				break
			}
			select {
			case <-s.watch.wake:
			case <-deadline:
				s.fatalf("a background compaction is due, but none committed in %v", plSettleTimeout)
			}
		}
	}
	s.followMaps()
}

// followMaps moves the model's unkeyed rows through the maps of the
// compactions committed since the last one it followed (keyed rows are
// followed by key).
func (s *kpState) followMaps() {
	s.t.Helper()
	maps, err := s.db.IDMapsSince(s.epoch)
	if errors.Is(err, ErrClosed) {
		return
	}
	if err != nil {
		s.fatalf("IDMapsSince(%d): %v", s.epoch, err)
	}
	for _, m := range maps {
		if m.Epoch != s.epoch+1 {
			s.fatalf("IDMapsSince: epoch %d after %d", m.Epoch, s.epoch)
		}
		s.rows = remapped(s.rows, m)
		s.epoch = m.Epoch
	}
	if err := s.db.ReleaseIDMaps(s.epoch); err != nil {
		s.fatalf("ReleaseIDMaps(%d): %v", s.epoch, err)
	}
}

// checkAll compares the whole store with the model.
func (s *kpState) checkAll(when string) {
	s.t.Helper()
	s.settle()
	view, bad := readKeyed(s.db, s.space)
	bad = append(bad, checkKeysAgainst(view, s.space, func(k string) []kRec { return []kRec{s.keys[k]} })...)
	if st := s.db.Stats(); st.Live != uint64(len(s.keys)+len(s.rows)) {
		bad = append(bad, fmt.Sprintf("Stats().Live %d; the model holds %d keys and %d unkeyed rows", st.Live, len(s.keys), len(s.rows)))
	}
	if view.unkeyed != len(s.rows) {
		bad = append(bad, fmt.Sprintf("search found %d rows without a key; the model holds %d", view.unkeyed, len(s.rows)))
	}
	for id, want := range s.rows {
		if got, ok := view.rows[id]; !ok || !bitsEqual(got, want) {
			bad = append(bad, fmt.Sprintf("unkeyed row %d = %v (live %v); want %v", id, got, ok, want))
		}
		if k, ok := view.keyOf[id]; ok {
			bad = append(bad, fmt.Sprintf("unkeyed row %d carries key %.20q", id, k))
		}
	}
	if len(bad) > 0 {
		s.fatalf("%s:\n  %s", when, strings.Join(bad, "\n  "))
	}
	// A top-k search by a live key's vector, against brute force over
	// every live row; each hit carries its key, and its payload when
	// asked for.
	q := randVec(s.rng, kpDim)
	opts := SearchOptions{TopK: 1 + s.rng.Intn(12), MinScore: -1, WithPayload: s.rng.Intn(2) == 0}
	got, err := s.db.Search(context.Background(), q, opts)
	if err != nil {
		s.fatalf("%s: Search: %v", when, err)
	}
	memvectest.CheckHits(s.t, view.rows, q, nil, opts.TopK, opts.MinScore, hits(got))
	for _, h := range got {
		k := view.keyOf[h.ID]
		var want []byte
		if opts.WithPayload && k != "" {
			want = s.keys[k].payload
		}
		if h.Key != k || !bytes.Equal(h.Payload, want) || (!opts.WithPayload && h.Payload != nil) {
			s.fatalf("%s: Search(%+v) hit %d: key %.20q, payload %.12q; want key %.20q, payload %.12q", when, opts, h.ID, h.Key, h.Payload, k, want)
		}
	}
}
