package memvec

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// Deterministic tests of interrupted compactions.

// ctxCancelOnSeal is a context whose Err reports cancellation once the
// manifest on disk no longer lists an unsealed segment: it cancels a
// Compact right after Prepare sealed the active segment, before the copy.
type ctxCancelOnSeal struct {
	context.Context
	dir string
}

func (c ctxCancelOnSeal) Err() error {
	man, err := manifest.Load(nil, c.dir)
	if err != nil { // rewritten, and unreadable: see the test below
		return context.Canceled
	}
	for _, s := range man.Segments {
		if !s.Sealed {
			return nil
		}
	}
	return context.Canceled
}

// TestCrashCompactAbandonedAfterSealBug: Compact seals the active segment
// (engine.Prepare -> sealActiveLocked) and stores a manifest whose NextID
// is still the one the last new segment recorded. Rows appended to the
// active segment since then (appendActive never updates the manifest) have
// IDs at or above that NextID, which manifest.check rejects for a sealed
// segment. Commit's manifest fixes NextID, so only a compaction that never
// commits exposes it: a cancelled ctx, Close during the copy, or kill -9
// during the copy. The store then no longer opens (ErrCorrupt).
func TestCrashCompactAbandonedAfterSealBug(t *testing.T) {
	db, dir := openTest(t, 16)
	rng := rand.New(rand.NewSource(1))
	a, err := db.Add(randVecs(rng, 5, 16)) // new segment: manifest NextID 5
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(randVecs(rng, 5, 16)); err != nil { // IDs 5..9 appended: NextID stays 5
		t.Fatal(err)
	}
	if _, err := db.Delete(a[:1]); err != nil {
		t.Fatal(err)
	}
	ctx := ctxCancelOnSeal{Context: context.Background(), dir: dir}
	if _, err := db.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact: %v; want it cancelled after the seal", err)
	}
	if _, err := manifest.Load(nil, dir); err != nil {
		t.Errorf("after a cancelled Compact the manifest on disk does not load (a kill -9 now bricks the store): %v", err)
	}
	db = reopen(t, db, dir)
	if s := db.Stats(); s.Live != 9 {
		t.Fatalf("after reopen: %+v", s)
	}
}

// TestCrashCompactOrphansRemoved: leftovers of every kind of interrupted
// compaction (an output segment, a tombstone checkpoint, an ID map and a
// manifest temp file no manifest names) are removed by Open; files with
// other names are left alone, and referenced ones are kept.
func TestCrashCompactOrphansRemoved(t *testing.T) {
	db, dir := openTest(t, 4)
	rng := rand.New(rand.NewSource(7))
	ids, err := db.Add(randVecs(rng, 200, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete(ids[:30]); err != nil {
		t.Fatal(err)
	}
	m, err := db.Compact(context.Background())
	if err != nil || m.Epoch != 1 {
		t.Fatalf("Compact = %+v, %v", m, err)
	}
	if n, err := db.Delete(ids[150:160]); err != nil || n != 10 { // not moved: a WAL record
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	man, err := manifest.Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	orphans := []string{
		segment.FileName(man.NextSegment), segment.FileName(man.NextSegment + 5),
		manifest.TombsFileName(man.Generation + 1), manifest.IDMapFileName(man.Epoch + 1),
		manifest.IDMapFileName(0), manifest.FileName + ".tmp",
	}
	foreign := []string{"notes.idmap", "x.seg", "000001.tombs.bak"}
	for _, name := range append(append([]string(nil), orphans...), foreign...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("leftover"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := openT(t, dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for _, name := range orphans {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("orphan %s survived Open: %v", name, err)
		}
	}
	for _, name := range foreign {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s: %v", name, err)
		}
	}
	for _, name := range foreign {
		os.Remove(filepath.Join(dir, name))
	}
	kept, err := db2.IDMapsSince(0)
	if err != nil || len(kept) != 1 || !runsEqual(kept[0].Runs, m.Runs) {
		t.Fatalf("IDMapsSince(0) = %+v, %v", kept, err)
	}
	if err := checkCCFiles(dir, 1, kept); err != nil {
		t.Fatal(err)
	}
	if s := db2.Stats(); s.Live != 160 || s.Epoch != 1 {
		t.Fatalf("stats %+v", s)
	}
}
