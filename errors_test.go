package memvec

import (
	"context"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// TestErrorMessages walks representative failing calls of every method and
// checks the form of their messages: "memvec: <operation>: <cause>", with
// "memvec:" said exactly once and the store's path at most once (exactly
// once for Open, whose errors are about the directory).
func TestErrorMessages(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	const dim = 4
	newStore := func(name string, opts Options) (string, *DB) {
		dir := filepath.Join(root, name)
		opts.Dimension = dim
		db, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return dir, db
	}

	live, db := newStore("live", Options{DisableAutoCompaction: true})
	defer db.Close()
	if _, err := db.Add(randVecs(rng, 3, dim)); err != nil {
		t.Fatal(err)
	}
	closedDir, closed := newStore("closed", Options{})
	closed.Close()
	roDir, w := newStore("ro", Options{})
	w.Close()
	ro, err := Open(roDir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	foreign := filepath.Join(root, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	badManifest, w2 := newStore("badmanifest", Options{})
	w2.Close()
	os.WriteFile(filepath.Join(badManifest, manifest.FileName), []byte("MEMVEC garbage"), 0o644)
	badSeg, w3 := newStore("badseg", Options{})
	if _, err := w3.Add(randVecs(rng, 3, dim)); err != nil {
		t.Fatal(err)
	}
	w3.Close()
	segs, _ := filepath.Glob(filepath.Join(badSeg, "*"+filepath.Ext(segment.FileName(0))))
	for _, s := range segs {
		os.WriteFile(s, []byte("not a segment"), 0o644)
	}

	underFile := filepath.Join(root, "afile", "s") // its parent is a file
	os.WriteFile(filepath.Join(root, "afile"), nil, 0o644)

	open := func(dir string, opts Options) func() error {
		return func() error {
			db, err := Open(dir, opts)
			if err == nil {
				db.Close()
			}
			return err
		}
	}
	nan := []float32{float32(math.NaN()), 1, 2, 3}
	cases := []struct {
		name string
		path string // the store's path, named once; "" for none
		call func() error
	}{
		{"Open Dimension -1", filepath.Join(root, "neg"), open(filepath.Join(root, "neg"), Options{Dimension: -1})},
		{"Open SegmentBytes -1", filepath.Join(root, "seg"), open(filepath.Join(root, "seg"), Options{Dimension: dim, SegmentBytes: -1})},
		{"Open new without Dimension", filepath.Join(root, "nodim"), open(filepath.Join(root, "nodim"), Options{})},
		{"Open foreign directory", foreign, open(foreign, Options{Dimension: dim})},
		{"Open read-only missing", filepath.Join(root, "missing"), open(filepath.Join(root, "missing"), Options{ReadOnly: true})},
		{"Open locked", live, open(live, Options{})},
		{"Open wrong Dimension", closedDir, open(closedDir, Options{Dimension: dim + 1})},
		{"Open damaged MANIFEST", badManifest, open(badManifest, Options{})},
		{"Open damaged segment", badSeg, open(badSeg, Options{})},
		{"Open under a file", underFile, open(underFile, Options{Dimension: dim})},
		{"Add wrong dimension", "", func() error { _, err := db.Add([][]float32{{1}}); return err }},
		{"Add NaN", "", func() error { _, err := db.Add([][]float32{nan}); return err }},
		{"Add read-only", "", func() error { _, err := ro.Add(randVecs(rng, 1, dim)); return err }},
		{"Delete closed", "", func() error { _, err := closed.Delete([]uint64{1}); return err }},
		{"Get not found", "", func() error { _, err := db.Get(1 << 40); return err }},
		{"Search TopK -1", "", func() error { _, err := db.Search(ctx, randVec(rng, dim), SearchOptions{TopK: -1}); return err }},
		{"Search wrong dimension", "", func() error { _, err := db.Search(ctx, []float32{1}, SearchOptions{}); return err }},
		{"SearchIn TopK -1", "", func() error {
			_, err := db.SearchIn(ctx, randVec(rng, dim), []uint64{0}, SearchOptions{TopK: -1})
			return err
		}},
		{"SearchBatch bad query", "", func() error {
			_, err := db.SearchBatch(ctx, [][]float32{randVec(rng, dim), nan}, SearchOptions{})
			return err
		}},
		{"Verify closed", "", func() error { return closed.Verify(ctx) }},
		{"Compact closed", "", func() error { _, err := closed.Compact(ctx); return err }},
		{"IDMapsSince closed", "", func() error { _, err := closed.IDMapsSince(0); return err }},
		{"ReleaseIDMaps read-only", "", func() error { return ro.ReleaseIDMaps(1) }},
		{"Range closed", "", func() error { return closed.Range(ctx, func(uint64, []float32) error { return nil }) }},
		{"SegmentInfo closed", "", func() error { _, err := closed.SegmentInfo(); return err }},
		{"Sync closed", "", func() error { return closed.Sync() }},
		{"Close twice", "", func() error { return closed.Close() }},
	}
	for _, c := range cases {
		err := c.call()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "memvec: ") || strings.Count(msg, "memvec:") != 1 {
			t.Errorf("%s: %q; want one \"memvec:\", at the start", c.name, msg)
		}
		if c.path != "" && strings.Count(msg, c.path) != 1 {
			t.Errorf("%s: %q names %s %d times; want once", c.name, msg, c.path, strings.Count(msg, c.path))
		}
		if c.path == "" && strings.Contains(msg, root) {
			t.Errorf("%s: %q names a path", c.name, msg)
		}
		t.Logf("%s: %s", c.name, msg)
	}
}
