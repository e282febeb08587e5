package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/memvec/memvec/segment"
)

// findKey is the reference findKeys is checked against: one key, every
// segment asked in turn, no key filter. It returns the live row holding
// key in v. Within a segment only the
// last row holding a key can be live (a later Put of the key superseded
// the earlier rows), and no key is live in two rows, so the first live
// row found, newest segment first, is the one. Each segment is asked
// about the rows v shows of it, so a reader's snapshot gets the key's row
// as of that snapshot even while a Put of the key is being published.
//
// A segment whose key index is lost (its tables and its blobs damaged)
// fails the lookup with the damage rather than report the key absent.
func (v *version) findKey(key []byte) (h keyHit, ok bool, err error) {
	for si := v.segs.len() - 1; si >= 0; si-- {
		s := v.segs.at(si)
		if !s.ref.seg.Keyed() {
			continue
		}
		row, found := s.ref.seg.LookupKeyBelow(key, s.rows)
		switch {
		case !found:
			if err := s.ref.seg.IndexErr(); err != nil {
				return keyHit{}, false, err
			}
			continue
		case s.tomb.has(row):
			continue
		}
		id, _ := segment.RowID(s.runs, row)
		return keyHit{seg: si, row: row, id: id}, true, nil
	}
	return keyHit{}, false, nil
}

// findKeys, the batch lookup Put uses, answers as findKey does key by key,
// on a store of several segments where keys were replaced across and
// within segments, deleted by key and by ID, and some never existed.
func TestFindKeysMatchesFindKey(t *testing.T) {
	e := openEngine(t, 2) // segments of 8 KiB: a few hundred rows each
	rng := rand.New(rand.NewSource(11))
	const space = 400
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	for range 30 {
		_, ids := putRandomKeys(t, e, rng, 1+rng.Intn(80), space, key)
		if _, err := e.DeleteKeys([]string{key(rng.Intn(space))}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete([]uint64{ids[rng.Intn(len(ids))]}); err != nil {
			t.Fatal(err)
		}
	}
	v := e.acquire()
	defer v.release()
	if n := v.segs.len(); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	keys := make([][]byte, space+10)
	hashes := make([]uint64, len(keys))
	for i := range keys {
		keys[i] = []byte(key(i))
		hashes[i] = segment.HashKey(keys[i])
	}
	got := map[int]keyHit{}
	if err := v.findKeys(keys, hashes, nil, func(i int, h keyHit) { got[i] = h }); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		want, ok, err := v.findKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if g, gok := got[i]; gok != ok || g != want {
			t.Fatalf("key %s: findKeys = %+v, %v; findKey = %+v, %v", k, g, gok, want, ok)
		}
	}
}

// firstDup finds the first repeated key of a batch, as a map of the keys
// met so far would, hashes colliding or not.
func TestFirstDup(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for trial := range 500 {
		n := rng.Intn(50)
		keys := make([][]byte, n)
		hashes := make([]uint64, n)
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("k%d", rng.Intn(4*n+1)))
			hashes[i] = segment.HashKey(keys[i])
			if trial%2 == 1 {
				hashes[i] %= 3 // collisions between distinct keys
			}
		}
		wi, wj, wdup := 0, 0, false
		seen := map[string]int{}
		for j, k := range keys {
			if i, ok := seen[string(k)]; ok {
				wi, wj, wdup = i, j, true
				break
			}
			seen[string(k)] = j
		}
		if i, j, dup := firstDup(keys, hashes, dupTable(nil, len(keys))); i != wi || j != wj || dup != wdup {
			t.Fatalf("firstDup(%q) = %d, %d, %v; want %d, %d, %v", keys, i, j, dup, wi, wj, wdup)
		}
	}
}

// putRandomKeys Puts n records of 2-d vectors under distinct keys drawn
// from key(0..space-1) and returns them with their IDs.
func putRandomKeys(t *testing.T, e *Engine, rng *rand.Rand, n, space int, key func(int) string) ([]Record, []uint64) {
	t.Helper()
	recs := make([]Record, n)
	perm := rng.Perm(space)
	for i := range recs {
		recs[i] = Record{Key: key(perm[i]), Vector: []float32{rng.Float32() + 0.1, rng.Float32()}}
	}
	ids, err := e.Put(recs)
	if err != nil {
		t.Fatal(err)
	}
	return recs, ids
}
