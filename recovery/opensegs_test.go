package recovery

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// buildSealed writes a store by hand with n segments of 4 rows each (IDs
// 4i to 4i+3 in segment i): all sealed but the last, the active one.
func buildSealed(t *testing.T, dir string, n int) {
	t.Helper()
	st := mustRecover(t, dir, Config{Dimension: 2})
	m := st.Manifest.Clone()
	m.Generation++
	for i := range n {
		seg, err := segment.Create(nil, dir, uint64(i), 2, 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		vecs := [][]float32{{1, 0}, {0, 1}, {1, 1}, {1, float32(i)}}
		if err := seg.Append(uint64(4*i), vecs, []float32{1, 1, 1, 1}, true); err != nil {
			t.Fatal(err)
		}
		e := manifest.Segment{Number: uint64(i), Capacity: 8, Rows: 4, Salt: seg.Salt()}
		if i < n-1 {
			seal, err := seg.Seal()
			if err != nil {
				t.Fatal(err)
			}
			e.Sealed, e.Checksum, e.Runs = true, seal.Checksum, seal.Runs
		}
		seg.Close()
		m.Segments = append(m.Segments, e)
	}
	m.NextSegment, m.NextID = uint64(n), uint64(4*n)
	if err := manifest.Store(nil, dir, m); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// openFDs counts this process's open file descriptors (Linux), or -1.
func openFDs() int {
	if runtime.GOOS != "linux" {
		return -1
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

// Sealed segments are opened many at a time, and the store comes back
// whole: every segment, every ID.
func TestOpenManySegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	const n = 3*openParallel + 5
	buildSealed(t, dir, n)
	st := mustRecover(t, dir, Config{})
	defer st.Close()
	if len(st.Segments) != n || st.NextID != 4*n {
		t.Fatalf("%d segments, next ID %d", len(st.Segments), st.NextID)
	}
	for i, s := range st.Segments {
		if s.Number() != uint64(i) || s.Rows() != 4 || s.Sealed() != (i < n-1) || s.Entry.Number != uint64(i) {
			t.Fatalf("segment %d: number %d rows %d sealed %v entry %+v", i, s.Number(), s.Rows(), s.Sealed(), s.Entry)
		}
		if seg, row, ok := st.Index.Find(uint64(4*i + 3)); !ok || seg != i || row != 3 {
			t.Fatalf("ID %d: segment %d row %d %v", 4*i+3, seg, row, ok)
		}
	}
}

// With several damaged segments, Open reports the first by manifest order,
// as a sequential open would, whatever order the parallel opens finish
// in; and it leaves no file open.
func TestOpenReportsFirstDamagedSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	const n = 2*openParallel + 10
	buildSealed(t, dir, n)
	// A header that names another segment number (5), and files too short
	// to hold a header (the others).
	hdr, err := os.ReadFile(filepath.Join(dir, segment.FileName(7)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segment.FileName(5)), hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{6, openParallel + 3, n - 2} {
		if err := os.Truncate(filepath.Join(dir, segment.FileName(uint64(i))), 100); err != nil {
			t.Fatal(err)
		}
	}
	before := openFDs()
	for range 20 {
		_, err := Recover(dir, Config{})
		if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), segment.FileName(5)) {
			t.Fatalf("Recover: %v, want the damage of %s", err, segment.FileName(5))
		}
	}
	if after := openFDs(); after != before {
		t.Fatalf("%d descriptors open before the failed Recovers, %d after", before, after)
	}
}
