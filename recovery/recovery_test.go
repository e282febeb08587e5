package recovery

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

func mustRecover(t *testing.T, dir string, cfg Config) *State {
	t.Helper()
	st, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// buildStore writes a store by hand: one active segment of rows IDs
// starting at 0, and a WAL deleting dead.
func buildStore(t *testing.T, dir string, rows int, dead [][]uint64) {
	t.Helper()
	st := mustRecover(t, dir, Config{Dimension: 2})
	seg, err := segment.Create(nil, dir, 0, 2, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	vecs := make([][]float32, rows)
	inv := make([]float32, rows)
	for i := range vecs {
		vecs[i], inv[i] = []float32{1, float32(i)}, 1
	}
	if err := seg.Append(0, vecs, inv, true); err != nil {
		t.Fatal(err)
	}
	seg.Close()
	m := st.Manifest.Clone()
	m.Generation++
	m.NextSegment = 1
	m.NextID = uint64(rows)
	m.Segments = []manifest.Segment{{Number: 0, Capacity: 64}}
	if err := manifest.Store(nil, dir, m); err != nil {
		t.Fatal(err)
	}
	for _, ids := range dead {
		if _, err := st.WAL.Append(ids); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCreateThenReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	st := mustRecover(t, dir, Config{Dimension: 3})
	if !st.Created || st.Manifest.Dimension != 3 || st.NextID != 0 {
		t.Fatalf("created state %+v", st)
	}
	st.Close()
	st = mustRecover(t, dir, Config{})
	defer st.Close()
	if st.Created || st.Manifest.Dimension != 3 {
		t.Fatalf("reopened state %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string)
		cfg   Config
		want  error
	}{
		{"no store, no dimension", func(string) {}, Config{}, errs.ErrInvalidArgument},
		{"negative dimension", func(string) {}, Config{Dimension: -1}, errs.ErrInvalidArgument},
		{"foreign file", func(d string) { os.WriteFile(filepath.Join(d, "x.db"), nil, 0o644) }, Config{Dimension: 2}, errs.ErrNotStore},
		{"foreign dir named wal", func(d string) { os.Mkdir(filepath.Join(d, "wal"), 0o755) }, Config{Dimension: 2}, errs.ErrNotStore},
		{"dimension mismatch", func(d string) { mustRecover(t, d, Config{Dimension: 4}).Close() }, Config{Dimension: 2}, errs.ErrDimension},
		{"corrupt manifest", func(d string) {
			mustRecover(t, d, Config{Dimension: 4}).Close()
			os.WriteFile(filepath.Join(d, manifest.FileName), []byte("memvecMF garbage garbage"), 0o644)
		}, Config{}, errs.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			before, _ := os.ReadDir(dir)
			if _, err := Recover(dir, c.cfg); !errors.Is(err, c.want) {
				t.Fatalf("Recover: %v, want %v", err, c.want)
			}
			if c.want == errs.ErrNotStore {
				after, _ := os.ReadDir(dir)
				if len(after) != len(before) {
					t.Fatalf("a refused directory was changed: %v -> %v", before, after)
				}
			}
		})
	}
}

func TestInterruptedCreateCountsAsEmpty(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, LockFile), nil, 0o644)
	os.WriteFile(filepath.Join(dir, manifest.FileName+".tmp"), []byte("half"), 0o644)
	st := mustRecover(t, dir, Config{Dimension: 2})
	defer st.Close()
	if !st.Created {
		t.Fatal("leftovers of an interrupted create were not treated as an empty directory")
	}
	if _, err := os.Stat(filepath.Join(dir, manifest.FileName+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("stale MANIFEST.tmp kept: %v", err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	st := mustRecover(t, dir, Config{Dimension: 2})
	if _, err := Recover(dir, Config{}); !errors.Is(err, errs.ErrLocked) {
		t.Fatalf("second Recover: %v", err)
	}
	st.Close()
	mustRecover(t, dir, Config{}).Close()
}

func TestOrphansRemovedUnknownKept(t *testing.T) {
	dir := t.TempDir()
	buildStore(t, dir, 5, nil)
	orphan, err := segment.Create(nil, dir, 7, 2, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	orphan.Close()
	os.WriteFile(filepath.Join(dir, manifest.FileName+".tmp"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("keep"), 0o644)
	st := mustRecover(t, dir, Config{})
	defer st.Close()
	for name, want := range map[string]bool{segment.FileName(7): false, manifest.FileName + ".tmp": false, "notes.txt": true, segment.FileName(0): true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v, want %v", name, exists, want)
		}
	}
}

func TestReplayTombstones(t *testing.T) {
	dir := t.TempDir()
	buildStore(t, dir, 10, [][]uint64{{1, 3}, {3, 99}, {9}})
	st := mustRecover(t, dir, Config{})
	defer st.Close()
	if st.NextID != 10 {
		t.Fatalf("NextID %d", st.NextID)
	}
	for row := uint64(0); row < 10; row++ {
		want := row == 1 || row == 3 || row == 9
		if got := st.Segments[0].Tomb.Has(row); got != want {
			t.Errorf("row %d tombstoned = %v, want %v", row, got, want)
		}
	}
}

func TestWALShorterThanRecordedIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	buildStore(t, dir, 4, [][]uint64{{1}})
	m, err := manifest.Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	m.WALDurable = 5
	m.Generation++
	if err := manifest.Store(nil, dir, m); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(dir, Config{}); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Recover with a WAL shorter than recorded: %v", err)
	}
}
