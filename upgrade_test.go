package memvec

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/memvec/memvec/internal/quant"
)

// TestUpgradeKeepsIDs upgrades every store an earlier build wrote: each
// segment gets codes, and every ID, vector, record, tombstone and search
// answer stays as it was, across a reopen; a second Upgrade has nothing
// to do.
func TestUpgradeKeepsIDs(t *testing.T) {
	for _, name := range []string{"store-v1", "store-v1-stale-tombs", "store-v2", "store-v3", "store-v4"} {
		t.Run(name, func(t *testing.T) {
			dir, fx := openFixture(t, name)
			db, err := openT(t, dir, Options{DisableAutoCompaction: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { db.Close() }()
			ctx := context.Background()
			before := db.Stats()
			// Format 4 has codes; Upgrade gives it format 5's sum tables.
			if hasCodes := name == "store-v4"; (before.CodeBytes != 0) != hasCodes {
				t.Fatalf("a store of an older format has %d bytes of codes", before.CodeBytes)
			}
			queries := [][]float32{fx.Live[0].Vector, fx.Live[len(fx.Live)-1].Vector}
			opts := SearchOptions{TopK: 1000, MinScore: -1}
			want, err := db.SearchBatch(ctx, queries, opts)
			if err != nil {
				t.Fatal(err)
			}
			check := func(stage string) {
				t.Helper()
				st := db.Stats()
				if st.Live != before.Live || st.Total != before.Total || st.NextID != before.NextID {
					t.Fatalf("%s: stats %+v, before %+v", stage, st, before)
				}
				if st.CodeBytes == 0 {
					t.Fatalf("%s: no codes after Upgrade", stage)
				}
				for _, r := range fx.Live {
					if got, err := db.Get(r.ID); err != nil || !slices.Equal(got, r.Vector) {
						t.Fatalf("%s: Get(%d) = %v, %v; want %v", stage, r.ID, got, err, r.Vector)
					}
				}
				for _, r := range fx.Records {
					if got, err := db.GetRecord(r.Key); err != nil || got.ID != r.ID {
						t.Fatalf("%s: GetRecord(%q) = %+v, %v; want ID %d", stage, r.Key, got, err, r.ID)
					}
				}
				for _, exhaustive := range []bool{false, true} {
					o := opts
					o.Exhaustive = exhaustive
					got, err := db.SearchBatch(ctx, queries, o)
					if err != nil {
						t.Fatal(err)
					}
					for i := range got {
						sameResults(t, stage, got[i], want[i])
					}
				}
				if err := db.Verify(ctx); err != nil {
					t.Fatalf("%s: Verify: %v", stage, err)
				}
			}
			n, err := db.Upgrade(ctx)
			if err != nil || n == 0 {
				t.Fatalf("Upgrade = %d, %v", n, err)
			}
			check("after Upgrade")
			if n, err := db.Upgrade(ctx); err != nil || n != 0 {
				t.Fatalf("second Upgrade = %d, %v", n, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = openT(t, dir, Options{DisableAutoCompaction: true}); err != nil {
				t.Fatal(err)
			}
			check("after reopen")
			checkNewSegmentsCurrent(t, dir, filepath.Join("testdata", name, "store"))
		})
	}
}

// TestHostileUpgrade: Upgrade on a closed DB, a read-only one, with a
// cancelled context, on a store in the current format, at a dimension
// without codes.
func TestHostileUpgrade(t *testing.T) {
	ctx := context.Background()
	t.Run("closed", func(t *testing.T) {
		db, _ := openTest(t, 4)
		db.Close()
		if _, err := db.Upgrade(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Upgrade on a closed DB: %v", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		dir, _ := openFixture(t, "store-v3")
		db, err := openT(t, dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Upgrade(ctx); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Upgrade on a read-only DB: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		dir, _ := openFixture(t, "store-v3")
		db, err := openT(t, dir, Options{DisableAutoCompaction: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		before, _ := db.SegmentInfo()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if n, err := db.Upgrade(cctx); n != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("Upgrade with a cancelled context = %d, %v", n, err)
		}
		if after, _ := db.SegmentInfo(); !slices.Equal(before, after) {
			t.Fatalf("a cancelled Upgrade changed the segments: %+v, before %+v", after, before)
		}
	})
	t.Run("current format", func(t *testing.T) {
		db, _ := openTest(t, 4)
		if _, err := db.Add([][]float32{{1, 2, 3, 4}}); err != nil {
			t.Fatal(err)
		}
		if n, err := db.Upgrade(ctx); n != 0 || err != nil {
			t.Fatalf("Upgrade of a current store = %d, %v", n, err)
		}
	})
	t.Run("no codes at this dimension", func(t *testing.T) {
		db, _ := openTest(t, quant.MaxDim+1, func(o *Options) { o.SegmentBytes = 4 << 20 })
		v := make([]float32, quant.MaxDim+1)
		v[0] = 1
		if _, err := db.Add([][]float32{v}); err != nil {
			t.Fatal(err)
		}
		if n, err := db.Upgrade(ctx); n != 0 || err != nil {
			t.Fatalf("Upgrade = %d, %v", n, err)
		}
		if st := db.Stats(); st.CodeBytes != 0 {
			t.Fatalf("CodeBytes %d past quant.MaxDim", st.CodeBytes)
		}
		res, err := db.Search(ctx, v, SearchOptions{})
		if err != nil || len(res) != 1 {
			t.Fatalf("Search = %v, %v", res, err)
		}
	})
}
