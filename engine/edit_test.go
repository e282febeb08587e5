package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/manifest"
)

// checkEdited checks what apply promises after every edit: the manifest
// on disk is the engine's, and the version lists what it names.
func checkEdited(t *testing.T, e *Engine, after string) {
	t.Helper()
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	disk, err := manifest.Load(e.fs, e.dir)
	if err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	if !bytes.Equal(manifest.Encode(disk), manifest.Encode(e.man)) {
		t.Fatalf("after %s: the manifest on disk is not the engine's:\n%+v\n%+v", after, disk, e.man)
	}
	v := e.cur.Load()
	if err := v.checkManifest(e.man); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	rows := make(map[uint64]uint64, v.segs.len())
	for _, s := range v.segs.all() {
		rows[s.ref.seg.Number()] = s.rows
	}
	if _, err := memvectest.CheckDir(e.fs, e.dir, rows, true); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
}

// TestEditsKeepManifestAndVersionTogether drives every kind of edit (new
// segments, seals, checkpoints, reservations, compactions, released maps,
// clean closes) in a random order and checks after each that the manifest
// and the version agree, and after a reopen that the store is the same.
func TestEditsKeepManifestAndVersionTogether(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		rng := rand.New(rand.NewSource(1))
		dir := filepath.Join(t.TempDir(), "s")
		cfg := Config{Dimension: 2, SegmentBytes: 8 << 10, NoSync: noSync}
		e, err := Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := compactor.New(e, compactor.Options{GarbageRatio: 0.5, SegCap: e.SegCap()})
		var next uint64
		for step := 0; step < 300; step++ {
			var op string
			switch r := rng.Intn(10); {
			case r < 4:
				op = "Add"
				vecs := make([][]float32, 1+rng.Intn(int(e.SegCap())))
				for i := range vecs {
					vecs[i] = []float32{1, float32(rng.Intn(100))}
				}
				if _, err := e.Add(vecs); err != nil {
					t.Fatal(err)
				}
				next += uint64(len(vecs))
			case r < 7:
				op = "Delete"
				ids := make([]uint64, 1+rng.Intn(20))
				for i := range ids {
					ids[i] = uint64(rng.Int63n(int64(next + 1)))
				}
				if _, err := e.Delete(ids); err != nil {
					t.Fatal(err)
				}
			case r < 8:
				op = "Compact"
				epoch := e.man.Epoch
				res, err := c.Compact(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if res != nil && (res.Epoch != epoch+1 || e.man.Epoch != res.Epoch) {
					t.Fatalf("step %d: compaction after epoch %d committed epoch %d, the manifest's is %d", step, epoch, res.Epoch, e.man.Epoch)
				}
				next = e.nextID.Load()
			case r < 9:
				op = "ReleaseIDMaps"
				if err := e.ReleaseIDMaps(e.man.Epoch); err != nil {
					t.Fatal(err)
				}
			default:
				op = "Close and Open"
				before := describe(t, e)
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if e, err = Open(dir, cfg); err != nil {
					t.Fatal(err)
				}
				c = compactor.New(e, compactor.Options{GarbageRatio: 0.5, SegCap: e.SegCap()})
				if after := describe(t, e); after != before {
					t.Fatalf("step %d: reopened store differs:\n%s\n%s", step, before, after)
				}
			}
			checkEdited(t, e, op)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// describe is what a store shows of its segments.
func describe(t *testing.T, e *Engine) string {
	t.Helper()
	d, err := e.SegmentDetails()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%+v", d)
}

// TestApplyNothingWritesNothing: an edit that changes nothing (a second
// clean checkpoint, releasing maps that are not there) writes no manifest.
func TestApplyNothingWritesNothing(t *testing.T) {
	e := openEngine(t, 2)
	if _, err := e.Add([][]float32{{1, 0}}); err != nil {
		t.Fatal(err)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.checkpointLocked(); err != nil {
		t.Fatal(err)
	}
	gen := e.man.Generation
	for _, ed := range []*edit{{}, {activeRows: true, walSynced: true, trimNextID: true}, {releaseMaps: []uint64{7}}} {
		if committed, err := e.apply(ed); committed || err != nil {
			t.Fatalf("apply(%+v) = %v, %v; want nothing committed", ed, committed, err)
		}
	}
	if e.man.Generation != gen {
		t.Fatalf("generation %d after edits that change nothing, want %d", e.man.Generation, gen)
	}
}

// TestCheckManifestCatchesDisagreement: the check apply is held to fails
// when the version and the manifest describe different stores.
func TestCheckManifestCatchesDisagreement(t *testing.T) {
	e := openEngine(t, 2)
	vecs := make([][]float32, int(e.SegCap())+1)
	for i := range vecs {
		vecs[i] = []float32{1, float32(i)}
	}
	if _, err := e.Add(vecs); err != nil {
		t.Fatal(err)
	}
	v := e.cur.Load()
	if err := v.checkManifest(e.man); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(m *manifest.Manifest){
		"sealed flag": func(m *manifest.Manifest) { m.Segments[0].Sealed = !m.Segments[0].Sealed },
		"number":      func(m *manifest.Manifest) { m.Segments[1].Number += 10 },
		"rows":        func(m *manifest.Manifest) { m.Segments[0].Rows-- },
		"missing":     func(m *manifest.Manifest) { m.Segments = m.Segments[:1] },
		"epoch":       func(m *manifest.Manifest) { m.Epoch++ },
	} {
		m := e.man.Clone()
		change(m)
		if err := v.checkManifest(m); !errors.Is(err, errs.ErrCorrupt) {
			t.Errorf("%s changed: checkManifest = %v, want ErrCorrupt", name, err)
		}
	}
}
