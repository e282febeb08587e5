package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/segment"
)

// checkFiltered compares, for every key of keys, findKeys through the key
// filter f with findKey (every segment asked, no filter) on v, and
// returns how many keys f rejected while covering a segment of v.
func checkFiltered(t *testing.T, v *version, f *keyFilter, keys [][]byte, stage string) (rejected int) {
	t.Helper()
	hashes := hashKeys(keys)
	got := map[int]keyHit{}
	if err := v.findKeys(keys, hashes, f, func(i int, h keyHit) { got[i] = h }); err != nil {
		t.Fatalf("%s: findKeys: %v", stage, err)
	}
	for i, k := range keys {
		want, ok, err := v.findKey(k)
		if err != nil {
			t.Fatalf("%s: findKey(%s): %v", stage, k, err)
		}
		if g, gok := got[i]; gok != ok || g != want {
			t.Fatalf("%s: key %s: filtered = %+v, %v; unfiltered = %+v, %v", stage, k, g, gok, want, ok)
		}
	}
	if f == nil {
		return 0
	}
	for si := range v.segs.len() {
		if f.covers(v.segs.at(si).ref) {
			for _, h := range hashes {
				if !f.mayHold(h) {
					rejected++
				}
			}
			break
		}
	}
	return rejected
}

// The filtered lookup (Put's and DeleteKeys', the filter brought up to
// date; a reader's, the filter as it is, on an older snapshot too) finds
// exactly what asking every segment finds, through Puts of new and
// existing keys, deletes by key and ID, seals, partial and full
// compactions (which retire covered segments and add segments holding
// keys already in the filter) and reopens (the filter is rebuilt).
func TestKeyFilterMatchesUnfiltered(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	dir := filepath.Join(t.TempDir(), "s")
	cfg := Config{Dimension: 2, SegmentBytes: 8 << 10}
	e, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Close() }()
	c := compactor.New(e, compactor.Options{GarbageRatio: 0.2, SegCap: e.SegCap()})
	const space = 1000
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	keys := make([][]byte, space+100) // the last 100 never stored
	for i := range keys {
		keys[i] = []byte(key(i))
	}
	live := map[string]uint64{}
	var old *version // a snapshot a few steps old
	defer func() {
		if old != nil {
			old.release()
		}
	}()
	rejected, rebuilds := 0, 0
	for step := range 160 {
		var op string
		switch r := rng.Intn(20); {
		case r < 10:
			op = "Put"
			recs, ids := putRandomKeys(t, e, rng, 1+rng.Intn(120), space, key)
			for i, r := range recs {
				live[r.Key] = ids[i]
			}
		case r < 12:
			op = "DeleteKeys"
			ks := []string{key(rng.Intn(space)), key(rng.Intn(space)), key(space + rng.Intn(100))}
			if _, err := e.DeleteKeys(ks); err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				delete(live, k)
			}
		case r < 14:
			op = "Delete by ID"
			for k, id := range live {
				if _, err := e.Delete([]uint64{id}); err != nil {
					t.Fatal(err)
				}
				delete(live, k)
				break
			}
		case r < 15:
			op = "Add"
			if _, err := e.Add([][]float32{{1, 2}, {3, 4}}); err != nil {
				t.Fatal(err)
			}
		case r < 17:
			op = "background-style compaction"
			if _, err := c.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		case r < 18:
			op = "full compaction"
			if err := copyAndCommit(e, prepareAll(t, e)); err != nil {
				t.Fatal(err)
			}
		case r < 19:
			op = "seal"
			var err error
			e.writeMu.Lock()
			if e.active != nil {
				err = e.sealActiveLocked()
			}
			e.writeMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		default:
			op = "Close and Open"
			if old != nil {
				old.release()
				old = nil
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if e, err = Open(dir, cfg); err != nil {
				t.Fatal(err)
			}
			if e.kf.Load() != nil {
				t.Fatal("Open built the key filter")
			}
			c = compactor.New(e, compactor.Options{GarbageRatio: 0.2, SegCap: e.SegCap()})
		}
		stage := fmt.Sprintf("step %d (%s)", step, op)
		// The writer's view: the filter brought up to date with v.
		e.writeMu.Lock()
		v := e.cur.Load()
		before := e.kf.Load()
		f := e.keyFilterLocked(v)
		if f != before && (before == nil || f.capacity != before.capacity) {
			rebuilds++
		}
		e.writeMu.Unlock()
		rejected += checkFiltered(t, v, f, keys, stage)
		// A reader's: the current filter on an older snapshot.
		if old != nil {
			checkFiltered(t, old, e.kf.Load(), keys, stage+" (older snapshot)")
			if step%4 == 0 {
				old.release()
				old = nil
			}
		}
		if old == nil {
			old = e.acquire()
		}
		// And the model: every live key found (its ID may have moved).
		for k := range live {
			if step%4 != 0 {
				break
			}
			r, err := e.GetRecord(k)
			if err != nil {
				t.Fatalf("%s: GetRecord(%s): %v", stage, k, err)
			}
			live[k] = r.ID // a compaction may have moved it
		}
	}
	// The test exercised the filter: it covered segments, rejected keys,
	// and was rebuilt as the store grew and compactions retired segments.
	if rejected == 0 || rebuilds < 2 {
		t.Fatalf("filter rejected %d keys, rebuilt %d times: the test did not exercise it", rejected, rebuilds)
	}
}

// damageSealed flips the first byte of the key tables of the sealed
// segment file at path (the row directory, which the seal trailer at
// offset 128 places at its bytes 24..32; the file ends with the sum
// table, format 5) and, with blobs, the first byte of the first copy of
// key in it (in a blob).
func damageSealed(t *testing.T, path string, key string, blobs bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[binary.LittleEndian.Uint64(b[128+24:])] ^= 0x20
	if blobs {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			t.Fatalf("key %q not in %s", key, path)
		}
		b[i] ^= 0x20
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A sealed segment whose key tables are damaged is rebuilt from its blobs
// and covered by the filter; one whose blobs are damaged too has no key
// index, so the filter does not cover it and a Put, a GetRecord or a
// DeleteKeys of a key absent from every other segment fails with the
// damage rather than calling the key absent.
func TestKeyFilterDamagedIndex(t *testing.T) {
	for _, blobs := range []bool{false, true} {
		t.Run(fmt.Sprintf("blobs=%v", blobs), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			cfg := Config{Dimension: 2, SegmentBytes: 8 << 10}
			e, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			for i := 0; i < n; i += 100 {
				recs := make([]Record, 100)
				for j := range recs {
					recs[j] = Record{Key: fmt.Sprintf("key-%d", i+j), Vector: []float32{1, float32(i + j)}}
				}
				if _, err := e.Put(recs); err != nil {
					t.Fatal(err)
				}
			}
			v := e.acquire()
			first := v.segs.at(0).ref.seg
			if v.segs.len() < 3 || !first.Sealed() {
				t.Fatalf("%d segments: the test needs several sealed ones", v.segs.len())
			}
			path := first.Path()
			k0, err := first.Key(0)
			v.release()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			damageSealed(t, path, string(k0), blobs)
			if e, err = Open(dir, cfg); err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			// A Put of new keys builds the filter; with the index lost
			// it fails.
			_, err = e.Put([]Record{{Key: "new", Vector: []float32{1, 1}}})
			if blobs != errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("Put of a new key: %v (blobs damaged: %v)", err, blobs)
			}
			f := e.kf.Load()
			if f == nil {
				t.Fatal("no key filter after a Put")
			}
			v = e.acquire()
			defer v.release()
			if covered := f.covers(v.segs.at(0).ref); covered == blobs {
				t.Fatalf("segment with its index lost %v: covered %v", blobs, covered)
			}
			if !f.covers(v.segs.at(1).ref) {
				t.Fatal("an intact sealed segment is not covered")
			}
			_, err = e.GetRecord("absent")
			if want := errs.ErrNotFound; blobs {
				if !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("GetRecord of an absent key: %v, want ErrCorrupt", err)
				}
			} else if !errors.Is(err, want) {
				t.Fatalf("GetRecord of an absent key: %v, want ErrNotFound", err)
			}
			if _, err := e.DeleteKeys([]string{"absent"}); blobs != errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("DeleteKeys of an absent key: %v (blobs damaged: %v)", err, blobs)
			}
			if blobs {
				return
			}
			// The rebuilt index serves: every key found, and a Put
			// replaces the key of the damaged segment.
			for i := range n {
				if _, err := e.GetRecord(fmt.Sprintf("key-%d", i)); err != nil {
					t.Fatalf("GetRecord(key-%d): %v", i, err)
				}
			}
			ids, err := e.Put([]Record{{Key: string(k0), Vector: []float32{2, 2}}})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := e.GetRecord(string(k0)); err != nil || r.ID != ids[0] {
				t.Fatalf("GetRecord(%s) after its replacement = %+v, %v; want ID %d", k0, r, err, ids[0])
			}
			if _, ok, _ := e.cur.Load().findKey(k0); !ok {
				t.Fatal("replaced key absent")
			}
		})
	}
}

// Readers (GetRecord of keys that stay live, and of absent ones) run
// beside a writer of new and replaced keys and a background compactor,
// while the filter is built, extended at seals and rebuilt: run with
// -race.
func TestKeyFilterConcurrent(t *testing.T) {
	e := openEngine(t, 2)
	c := compactor.New(e, compactor.Options{GarbageRatio: 0.1, SegCap: e.SegCap()})
	e.SetNotify(c.Notify)
	c.Start()
	defer c.Stop()
	const stable = 300
	recs := make([]Record, stable)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("stable-%d", i), Vector: []float32{1, float32(i)}}
	}
	if _, err := e.Put(recs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 3)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(r)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.Intn(stable)
				got, err := e.GetRecord(fmt.Sprintf("stable-%d", i))
				if err != nil || !slices.Equal(got.Vector, []float32{1, float32(i)}) {
					errc <- fmt.Errorf("GetRecord(stable-%d) = %+v, %v", i, got, err)
					return
				}
				if _, err := e.GetRecord(fmt.Sprintf("absent-%d", i)); !errors.Is(err, errs.ErrNotFound) {
					errc <- fmt.Errorf("GetRecord(absent-%d): %v", i, err)
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewSource(5))
	for step := range 150 {
		batch := make([]Record, 40)
		for i := range batch {
			k := fmt.Sprintf("churn-%d", step*40+i)
			if rng.Intn(2) == 0 {
				k = fmt.Sprintf("churn-%d", rng.Intn(step*40+1)) // replace
			}
			batch[i] = Record{Key: k, Vector: []float32{2, float32(i)}}
		}
		if _, err := e.Put(uniqueKeys(batch)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeleteKeys([]string{fmt.Sprintf("churn-%d", rng.Intn(step*40+1))}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if e.kf.Load() == nil {
		t.Fatal("no key filter was built")
	}
}

// uniqueKeys drops the records of recs whose key an earlier one has.
func uniqueKeys(recs []Record) []Record {
	seen := map[string]bool{}
	out := recs[:0]
	for _, r := range recs {
		if !seen[r.Key] {
			seen[r.Key] = true
			out = append(out, r)
		}
	}
	return out
}

// The filter holds every key added to it (no false negative) and rejects
// most of the keys it never saw.
func TestKeyFilterBits(t *testing.T) {
	f := newKeyFilter(minFilterKeys)
	n := int(f.capacity)
	for i := range n {
		f.add(segment.HashKey([]byte(fmt.Sprintf("in-%d", i))))
	}
	for i := range n {
		if !f.mayHold(segment.HashKey([]byte(fmt.Sprintf("in-%d", i)))) {
			t.Fatalf("in-%d added but rejected", i)
		}
	}
	fp := 0
	for i := range 100_000 {
		if f.mayHold(segment.HashKey([]byte(fmt.Sprintf("out-%d", i)))) {
			fp++
		}
	}
	// At capacity, 10 bits a key: about 1%.
	if fp > 2_000 {
		t.Fatalf("%d false positives in 100,000", fp)
	}
	t.Logf("false positives at capacity: %.2f%%", float64(fp)/1000)
}
