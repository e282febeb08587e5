package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
)

// keyModel is what a keyed store must hold: each live key's vector and
// payload.
type keyModel map[string]Record

// checkKeys checks every key of the model (and a few absent ones) against
// e, and that no key is live in two rows.
func checkKeys(t *testing.T, e *Engine, m keyModel, keySpace int, stage string) {
	t.Helper()
	for i := 0; i < keySpace; i++ {
		k := fmt.Sprintf("key-%d", i)
		got, err := e.GetRecord(k)
		want, live := m[k]
		if !live {
			if !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("%s: GetRecord(%q) = %+v, %v; want ErrNotFound", stage, k, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got.Vector, want.Vector) || !bytes.Equal(got.Payload, want.Payload) || got.Key != k {
			t.Fatalf("%s: GetRecord(%q) = %+v, %v; want %+v", stage, k, got, err, want)
		}
		v, err := e.Get(got.ID)
		if err != nil || !slices.Equal(v, want.Vector) {
			t.Fatalf("%s: Get(%d) of key %q = %v, %v", stage, got.ID, k, v, err)
		}
	}
	// No key is live twice: the live rows carrying a key are exactly the
	// model's keys, once each.
	seen := map[string]uint64{}
	err := e.Range(context.Background(), func(id uint64, vec []float32) error {
		hits := []Hit{{ID: id}}
		v := e.acquire()
		defer v.release()
		if err := v.attachKeys(hits, false); err != nil {
			return err
		}
		if k := hits[0].Key; k != "" {
			if prev, dup := seen[k]; dup {
				return fmt.Errorf("key %q live in IDs %d and %d", k, prev, id)
			}
			seen[k] = id
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	if len(seen) != len(m) {
		t.Fatalf("%s: %d keys live, want %d", stage, len(seen), len(m))
	}
}

// TestKeyedOps drives Put (new and existing keys), Add, DeleteKeys,
// Delete, compaction and reopen at random against a model, with NoSync on
// and off, checking every key after each step.
func TestKeyedOps(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("nosync=%v", noSync), func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			dir := filepath.Join(t.TempDir(), "s")
			cfg := Config{Dimension: 4, SegmentBytes: 8 << 10, NoSync: noSync}
			e, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { e.Close() }()
			c := compactor.New(e, compactor.Options{GarbageRatio: 0.3, SegCap: e.SegCap()})
			const keySpace = 60
			m := keyModel{}
			vec := func() []float32 {
				return []float32{1 + rng.Float32(), rng.Float32(), rng.Float32(), rng.Float32()}
			}
			for step := 0; step < 400; step++ {
				var op string
				switch r := rng.Intn(20); {
				case r < 9:
					op = "Put"
					n := 1 + rng.Intn(int(e.SegCap())+5)
					recs := make([]Record, 0, n)
					used := map[string]bool{}
					for len(recs) < n && len(used) < keySpace {
						k := fmt.Sprintf("key-%d", rng.Intn(keySpace))
						if used[k] {
							continue
						}
						used[k] = true
						var p []byte
						if rng.Intn(2) == 0 {
							p = []byte(fmt.Sprintf("payload %d of %s", step, k))
						}
						recs = append(recs, Record{Key: k, Vector: vec(), Payload: p})
					}
					ids, err := e.Put(recs)
					if err != nil || len(ids) != len(recs) {
						t.Fatalf("step %d: Put = %v, %v", step, ids, err)
					}
					for i, r := range recs {
						r.ID = ids[i]
						m[r.Key] = r
					}
				case r < 12:
					op = "Add"
					vecs := make([][]float32, 1+rng.Intn(10))
					for i := range vecs {
						vecs[i] = vec()
					}
					if _, err := e.Add(vecs); err != nil {
						t.Fatal(err)
					}
				case r < 15:
					op = "DeleteKeys"
					keys := []string{fmt.Sprintf("key-%d", rng.Intn(keySpace)), fmt.Sprintf("key-%d", rng.Intn(keySpace))}
					want := 0
					for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
						if _, ok := m[k]; ok {
							want++
							delete(m, k)
						}
					}
					if n, err := e.DeleteKeys(keys); err != nil || n != want {
						t.Fatalf("step %d: DeleteKeys(%q) = %d, %v; want %d", step, keys, n, err, want)
					}
				case r < 17:
					op = "Delete by ID"
					for k, rec := range m {
						if n, err := e.Delete([]uint64{rec.ID}); err != nil || n != 1 {
							t.Fatalf("step %d: Delete(%d) of key %q = %d, %v", step, rec.ID, k, n, err)
						}
						delete(m, k)
						break
					}
				case r < 19:
					op = "Compact"
					res, err := c.Compact(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if res != nil {
						for k, rec := range m {
							got, err := e.GetRecord(k)
							if err != nil {
								t.Fatalf("step %d: GetRecord(%q) after compaction: %v", step, k, err)
							}
							rec.ID = got.ID
							m[k] = rec
						}
					}
				default:
					op = "Close and Open"
					if err := e.Close(); err != nil {
						t.Fatal(err)
					}
					if e, err = Open(dir, cfg); err != nil {
						t.Fatal(err)
					}
					c = compactor.New(e, compactor.Options{GarbageRatio: 0.3, SegCap: e.SegCap()})
				}
				checkKeys(t, e, m, keySpace, fmt.Sprintf("step %d (%s)", step, op))
				checkEdited(t, e, op)
			}
		})
	}
}

// TestPutRefusesBadBatches: a bad record fails the whole batch and changes
// nothing, a replaced key keeping its old record.
func TestPutRefusesBadBatches(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Put([]Record{{Key: "a", Vector: []float32{1, 0}, Payload: []byte("old")}}); err != nil {
		t.Fatal(err)
	}
	long := string(make([]byte, MaxKeyLen+1))
	for name, recs := range map[string][]Record{
		"empty key":    {{Key: "a", Vector: []float32{0, 1}}, {Key: "", Vector: []float32{1, 1}}},
		"long key":     {{Key: "a", Vector: []float32{0, 1}}, {Key: long, Vector: []float32{1, 1}}},
		"key twice":    {{Key: "a", Vector: []float32{0, 1}}, {Key: "a", Vector: []float32{1, 1}}},
		"payload":      {{Key: "a", Vector: []float32{0, 1}}, {Key: "b", Vector: []float32{1, 1}, Payload: make([]byte, MaxPayloadLen+1)}},
		"zero vector":  {{Key: "a", Vector: []float32{0, 1}}, {Key: "b", Vector: []float32{0, 0}}},
		"wrong length": {{Key: "a", Vector: []float32{0, 1}}, {Key: "b", Vector: []float32{1}}},
	} {
		_, err := e.Put(recs)
		if !errors.Is(err, errs.ErrInvalidArgument) && !errors.Is(err, errs.ErrInvalidVector) && !errors.Is(err, errs.ErrDimension) {
			t.Errorf("%s: Put = %v, want a refusal", name, err)
		}
		got, err := e.GetRecord("a")
		if err != nil || !slices.Equal(got.Vector, []float32{1, 0}) || string(got.Payload) != "old" {
			t.Fatalf("%s: key a after the refused batch: %+v, %v", name, got, err)
		}
		if _, err := e.GetRecord("b"); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("%s: key b exists after the refused batch: %v", name, err)
		}
	}
}

// TestSearchCarriesKeys: hits carry their key, and their payload only
// when asked.
func TestSearchCarriesKeys(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Put([]Record{{Key: "east", Vector: []float32{1, 0}, Payload: []byte("E")}, {Key: "north", Vector: []float32{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Add([][]float32{{1, 0.1}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hits, err := e.Search(ctx, []float32{1, 0}, 3, -1)
	if err != nil || len(hits) != 3 || hits[0].Key != "east" || hits[0].Payload != nil || hits[1].Key != "" || hits[2].Key != "north" {
		t.Fatalf("Search = %+v, %v", hits, err)
	}
	hits, err = e.SearchWith(ctx, []float32{1, 0}, 1, -1, true)
	if err != nil || len(hits) != 1 || string(hits[0].Payload) != "E" {
		t.Fatalf("SearchWith payload = %+v, %v", hits, err)
	}
	in, err := e.SearchInWith(ctx, []float32{0, 1}, []uint64{0, 1, 2}, 1, -1, true)
	if err != nil || len(in) != 1 || in[0].Key != "north" || in[0].Payload != nil {
		t.Fatalf("SearchInWith = %+v, %v", in, err)
	}
}

// TestFindKeyInOlderSnapshot: a snapshot taken before a Put that replaces
// a key in the same active segment still finds the key's row as it shows
// it, and the current version the new one.
func TestFindKeyInOlderSnapshot(t *testing.T) {
	e := openEngine(t, 2)
	ids, err := e.Put([]Record{{Key: "k", Vector: []float32{1, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	old := e.acquire()
	defer old.release()
	ids2, err := e.Put([]Record{{Key: "k", Vector: []float32{0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok, err := old.findKey([]byte("k")); err != nil || !ok || h.id != ids[0] {
		t.Fatalf("older snapshot: findKey = %+v, %v, %v; want ID %d", h, ok, err, ids[0])
	}
	if r, err := e.GetRecord("k"); err != nil || r.ID != ids2[0] {
		t.Fatalf("GetRecord = %+v, %v; want ID %d", r, err, ids2[0])
	}
}
