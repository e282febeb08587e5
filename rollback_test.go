package memvec

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dirFiles returns every regular file under dir with its bytes.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func unitVecs(n, dim, seed int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		v[0] = 1
		v[1+(i+seed)%(dim-1)] = float32(i+seed) / 7
		out[i] = v
	}
	return out
}

// TestOpenRefusesRolledBackManifest: a MANIFEST copied back from an
// earlier moment must not make Open delete the segments written since as
// orphans, hand their IDs out again or apply newer deletes to older rows
// (issue 10, item 4). Open refuses it with ErrCorrupt naming a file and
// deletes nothing; putting the newer MANIFEST back recovers everything.
func TestOpenRefusesRolledBackManifest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		later func(t *testing.T, db *DB)
	}{
		{"one add of new segments", func(t *testing.T, db *DB) {
			if _, err := db.Add(unitVecs(300, 8, 150)); err != nil {
				t.Fatal(err)
			}
		}},
		{"adds and deletes", func(t *testing.T, db *DB) {
			for i := range 3 {
				if _, err := db.Add(unitVecs(100, 8, 150+100*i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Delete([]uint64{3, 4, 200, 300}); err != nil {
				t.Fatal(err)
			}
		}},
		{"a compaction", func(t *testing.T, db *DB) {
			if _, err := db.Delete([]uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			opts := Options{Dimension: 8, SegmentBytes: 4096 + 64*(8*4+4+48), DisableAutoCompaction: true}
			db, err := openT(t, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Add(unitVecs(150, 8, 0)); err != nil {
				t.Fatal(err)
			}
			old, err := os.ReadFile(filepath.Join(dir, "MANIFEST"))
			if err != nil {
				t.Fatal(err)
			}
			tc.later(t, db)
			want := db.Stats()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			newer, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
			if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), old, 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirFiles(t, dir)
			db, err = openT(t, dir, Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a rolled-back MANIFEST")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open: %v; want ErrCorrupt naming a file of the store", err)
			}
			if after := dirFiles(t, dir); len(after) != len(before) {
				t.Fatalf("Open changed the directory: %d files before, %d after", len(before), len(after))
			}
			os.WriteFile(filepath.Join(dir, "MANIFEST"), newer, 0o644)
			db, err = openT(t, dir, Options{DisableAutoCompaction: true}) // a compaction would move NextID
			if err != nil {
				t.Fatalf("Open with the newer MANIFEST back: %v", err)
			}
			defer db.Close()
			if got := db.Stats(); got.Live != want.Live || got.NextID != want.NextID {
				t.Fatalf("after putting the MANIFEST back: %+v, want %+v", got, want)
			}
		})
	}
}

// TestOpenRefusesForeignActiveSegment: store B's active segment copied
// over store A's (same dimension and capacity) is refused at Open, not
// served under A's IDs (issue 10, item 5). So is a sealed one.
func TestOpenRefusesForeignActiveSegment(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		root := t.TempDir()
		opts := Options{Dimension: 8, SegmentBytes: 4096 + 64*(8*4+4+48), DisableAutoCompaction: true}
		var dirs []string
		for i := range 2 {
			dir := filepath.Join(root, string(rune('a'+i)))
			db, err := openT(t, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := 10
			if sealed {
				n = 70 // fills segment 0, seals it, starts segment 1
			}
			if _, err := db.Add(unitVecs(n, 8, 100*i)); err != nil {
				t.Fatal(err)
			}
			db.Close()
			dirs = append(dirs, dir)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], "000000.seg"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dirs[0], "000000.seg"), b, 0o644)
		db, err := openT(t, dirs[0], Options{})
		if err == nil {
			db.Close()
			t.Fatalf("sealed=%v: Open accepted another store's segment", sealed)
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "000000.seg") {
			t.Fatalf("sealed=%v: Open: %v; want ErrCorrupt naming 000000.seg", sealed, err)
		}
	}
}

// TestLockSurvivesRemovedLockFile: users delete "stale" LOCK files; a
// second opener must still get ErrLocked while the first has the store
// (issue 10, item 6), and after Close the store opens again.
func TestLockSurvivesRemovedLockFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	db, err := openT(t, dir, Options{Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "LOCK")); err != nil {
		t.Fatal(err)
	}
	wantLocked(t, dir, Options{}, "second Open after rm LOCK")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestOrphanRemovalOnlyExactNames: Open removes only regular files in
// exactly the form memvec writes (issue 10, item 9).
func TestOrphanRemovalOnlyExactNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	db, err := openT(t, dir, Options{Dimension: 4})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	keep := []string{"1.seg", "7.idmap", "0000001.seg", "18446744073709551615.seg", "+00001.seg", "000001.seg.bak"}
	for _, name := range keep {
		os.WriteFile(filepath.Join(dir, name), []byte("mine"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "000123.seg"), 0o755)
	keep = append(keep, "000123.seg")
	os.WriteFile(filepath.Join(dir, "000055.seg"), nil, 0o644) // empty: a crash inside Create
	db, err = openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("Open removed %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "000055.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the orphan 000055.seg is still there: %v", err)
	}
	if entries, _ := os.ReadDir(dir); !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == "MANIFEST" }) {
		t.Fatal("no MANIFEST")
	}
}

// TestOpenRefusesRolledBackManifestByLog: when only the tombstone log
// proves the rollback (no segment was created or named since), its
// records' generation does.
func TestOpenRefusesRolledBackManifestByLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	db, err := openT(t, dir, Options{Dimension: 8, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second goes into the active segment: no manifest write
		if _, err := db.Add(unitVecs(10, 8, 10*i)); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
	if err := db.Close(); err != nil { // records the rows: a new generation
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "MANIFEST")); string(now) == string(old) {
		t.Fatal("Close wrote no manifest; the test needs one")
	}
	db, err = openT(t, dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete([]uint64{3}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "MANIFEST"), old, 0o644)
	db, err = openT(t, dir, Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a MANIFEST older than the tombstone log")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "tombstone record") {
		t.Fatalf("Open: %v; want ErrCorrupt from the log", err)
	}
}
