package memvec

import (
	"context"
	"encoding/json"
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
// live vector back bit for bit, adds and deletes, compacts, reopens and
// reads again.
func TestCompatStores(t *testing.T) {
	for _, name := range []string{"store-v1", "store-v1-stale-tombs", "store-v2"} {
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
			check("open")
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
			checkRecords("after puts")
			check("after puts")
			m, err := db.Compact(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want = remapped(want, m)
			checkRecords("after compact")
			check("after compact")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = openT(t, dir, Options{}); err != nil {
				t.Fatal(err)
			}
			check("after reopen")
			checkRecords("after reopen")
		})
	}
}
