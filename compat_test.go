package memvec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/memvec/memvec/segment"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fixture is a store written by an earlier build, with what it holds.
type fixture struct {
	Dimension int `json:"dimension"`
	Live      []struct {
		ID     uint64    `json:"id"`
		Vector []float32 `json:"vector"`
	} `json:"live"`
	// Records are the live records with keys (store-v3 on).
	Records []struct {
		Key     string    `json:"key"`
		ID      uint64    `json:"id"`
		Vector  []float32 `json:"vector"`
		Payload []byte    `json:"payload"`
	} `json:"records"`
}

// openFixture copies testdata/name/store to a temporary directory (tests
// must never change the committed bytes) and reads its expect.json.
func openFixture(t *testing.T, name string) (string, fixture) {
	t.Helper()
	src := filepath.Join("testdata", name)
	var fx fixture
	b, err := os.ReadFile(filepath.Join(src, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(src, "store"))); err != nil {
		t.Fatal(err)
	}
	return dir, fx
}

// TestCompatStores opens every store an earlier build wrote, reads every
// live vector and record back bit for bit, adds, puts and deletes,
// compacts, reopens and reads again.
func TestCompatStores(t *testing.T) {
	for _, name := range []string{"store-v1", "store-v1-stale-tombs", "store-v2", "store-v3", "store-v4"} {
		t.Run(name, func(t *testing.T) {
			dir, fx := openFixture(t, name)
			db, err := openT(t, dir, Options{DisableAutoCompaction: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { db.Close() }()
			want := map[uint64][]float32{}
			for _, r := range fx.Live {
				want[r.ID] = r.Vector
			}
			check := func(stage string) {
				t.Helper()
				if st := db.Stats(); st.Live != uint64(len(want)) {
					t.Fatalf("%s: Live %d, want %d", stage, st.Live, len(want))
				}
				for id, v := range want {
					got, err := db.Get(id)
					if err != nil || !slices.Equal(got, v) {
						t.Fatalf("%s: Get(%d) = %v, %v; want %v", stage, id, got, err, v)
					}
				}
				res, err := db.Search(context.Background(), fx.Live[0].Vector, SearchOptions{TopK: 1})
				if err != nil || len(res) != 1 {
					t.Fatalf("%s: Search = %v, %v", stage, res, err)
				}
				if err := db.Verify(context.Background()); err != nil {
					t.Fatalf("%s: Verify: %v", stage, err)
				}
			}
			// The fixture's records, by key: each read back with its
			// payload, and found by a search for its vector.
			type rec struct {
				vec     []float32
				payload []byte
			}
			fixed := map[string]rec{}
			for _, r := range fx.Records {
				fixed[r.Key] = rec{r.Vector, r.Payload}
				if got, err := db.GetRecord(r.Key); err != nil || got.ID != r.ID {
					t.Fatalf("open: GetRecord(%q) = %+v, %v; want ID %d", r.Key, got, err, r.ID)
				}
			}
			checkFixed := func(stage string) {
				t.Helper()
				for k, want := range fixed {
					r, err := db.GetRecord(k)
					if err != nil || !slices.Equal(r.Vector, want.vec) || !bytes.Equal(r.Payload, want.payload) || !slices.Equal(want.vec, storedVec(db, r.ID)) {
						t.Fatalf("%s: GetRecord(%q) = %+v, %v; want %v %q", stage, k, r, err, want.vec, want.payload)
					}
					res, err := db.Search(context.Background(), want.vec, SearchOptions{TopK: 1, WithPayload: true})
					if err != nil || len(res) != 1 || res[0].ID != r.ID || res[0].Key != k || !bytes.Equal(res[0].Payload, want.payload) {
						t.Fatalf("%s: Search for %q's vector = %+v, %v; want ID %d", stage, k, res, err, r.ID)
					}
				}
			}
			if (name == "store-v3" || name == "store-v4") && (len(fixed) < 10 || len(fx.Live) <= len(fixed)) {
				t.Fatalf("store-v3 holds %d records of %d live rows: want records and rows without keys", len(fixed), len(fx.Live))
			}
			check("open")
			checkFixed("open")
			v := make([]float32, fx.Dimension)
			v[0] = 1
			ids, err := db.Add([][]float32{v, v, v})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				want[id] = v
			}
			if n, err := db.Delete([]uint64{fx.Live[1].ID, ids[0]}); err != nil || n != 2 {
				t.Fatalf("Delete = %d, %v", n, err)
			}
			delete(want, fx.Live[1].ID)
			delete(want, ids[0])
			check("after writes")
			// Keyed records need the current segment format: the old
			// active segment is sealed and a new one takes them.
			kv := func(x float32) []float32 {
				v := make([]float32, fx.Dimension)
				v[0], v[1] = 1, x
				return v
			}
			records := map[string][]float32{"k1": kv(0.5), "k2": kv(0.25)}
			if _, err := db.Put([]Record{{Key: "k1", Vector: records["k1"]}, {Key: "k2", Vector: records["k2"]}}); err != nil {
				t.Fatal(err)
			}
			records["k1"] = kv(0.75)
			if _, err := db.Put([]Record{{Key: "k1", Vector: records["k1"], Payload: []byte("p")}}); err != nil {
				t.Fatal(err)
			}
			checkRecords := func(stage string) {
				t.Helper()
				for k, v := range records {
					r, err := db.GetRecord(k)
					if err != nil || !slices.Equal(r.Vector, v) {
						t.Fatalf("%s: GetRecord(%q) = %+v, %v; want %v", stage, k, r, err, v)
					}
					want[r.ID] = v
				}
			}
			// Replacing a record the old build wrote deletes its row.
			for _, r := range fx.Records[:min(1, len(fx.Records))] {
				old, err := db.GetRecord(r.Key)
				if err != nil {
					t.Fatal(err)
				}
				fixed[r.Key] = rec{kv(0.125), []byte("replaced")}
				ids, err := db.Put([]Record{{Key: r.Key, Vector: kv(0.125), Payload: []byte("replaced")}})
				if err != nil {
					t.Fatal(err)
				}
				delete(want, old.ID)
				want[ids[0]] = kv(0.125)
				if _, err := db.Get(old.ID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get(%d) of the replaced record's row: %v", old.ID, err)
				}
			}
			checkRecords("after puts")
			check("after puts")
			checkFixed("after puts")
			m, err := db.Compact(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want = remapped(want, m)
			checkRecords("after compact")
			check("after compact")
			checkFixed("after compact")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = openT(t, dir, Options{}); err != nil {
				t.Fatal(err)
			}
			check("after reopen")
			checkRecords("after reopen")
			checkFixed("after reopen")
			checkNewSegmentsCurrent(t, dir, filepath.Join("testdata", name, "store"))
		})
	}
}

// checkNewSegmentsCurrent asserts that the segment files of the store in
// dir that the fixture in orig did not hold (the compaction's outputs and
// the segments of the writes) are of the current format, and that there
// are some.
func checkNewSegmentsCurrent(t *testing.T, dir, orig string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := 0
	for _, p := range names {
		if _, err := os.Stat(filepath.Join(orig, filepath.Base(p))); err == nil {
			continue
		}
		h, err := segment.ReadHeader(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != segment.Version {
			t.Fatalf("%s: format version %d, want %d", filepath.Base(p), h.Version, segment.Version)
		}
		fresh++
	}
	if fresh == 0 {
		t.Fatal("no segment file written since the fixture")
	}
}

// storedVec returns the vector stored under id (nil when Get fails), so
// that a record's ID is checked against the row it names.
func storedVec(db *DB, id uint64) []float32 {
	v, err := db.Get(id)
	if err != nil {
		return nil
	}
	return v
}
