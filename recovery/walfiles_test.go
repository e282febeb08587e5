package recovery

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/wal"
)

// multiFileStore builds a store whose tombstone log spans several files
// (written with a tiny segment size) and returns the log's file paths.
func multiFileStore(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	buildStore(t, dir, 40, nil)
	l, err := wal.Open(filepath.Join(dir, WALDir), wal.Options{SegmentSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	for id := uint64(0); id < 30; id += 3 {
		if _, err := l.Append([]uint64{id, id + 1, id + 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, WALDir, "*"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("the log has %d files, want several", len(files))
	}
	return dir, files
}

// TestLostFirstWALFile: removing the first file of the tombstone log must
// not silently undo its deletes (issue 10, item 3).
func TestLostFirstWALFile(t *testing.T) {
	dir, files := multiFileStore(t)
	st := mustRecover(t, dir, Config{})
	if n := st.Segments[0].Tomb.Count(); n != 30 {
		t.Fatalf("%d tombstones, want 30", n)
	}
	st.Close()
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(dir, Config{}); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Recover without the log's first file: %v; want ErrCorrupt", err)
	}
}

// TestDamagedWALNeverPanics: a log file cut at a record boundary, or a
// middle file removed, is ErrCorrupt naming the log, never a panic (issue
// 10, item 2).
func TestDamagedWALNeverPanics(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(files []string) error
	}{
		{"first file cut at a record boundary", func(files []string) error {
			b, err := os.ReadFile(files[0])
			if err != nil {
				return err
			}
			// Every frame here is the same size: keep the first.
			return os.WriteFile(files[0], b[:len(b)/2], 0o644)
		}},
		{"middle file removed", func(files []string) error { return os.Remove(files[1]) }},
		{"middle file emptied", func(files []string) error { return os.WriteFile(files[1], nil, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, files := multiFileStore(t)
			if err := tc.damage(files); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				_, err := Recover(dir, Config{ReadOnly: ro})
				if !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("ReadOnly=%v: Recover: %v; want ErrCorrupt", ro, err)
				}
			}
		})
	}
}
