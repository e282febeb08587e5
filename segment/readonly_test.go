package segment

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// TestOpenActiveReadOnlyTornTail: a torn tail is cut in memory only; the
// file's bytes stay as they are, and every write fails with ErrReadOnly.
// A writable open of the same file cuts it on disk (zeroes the records).
func TestOpenActiveReadOnlyTornTail(t *testing.T) {
	dir := t.TempDir()
	const dim, capacity = 4, 16
	s := mustCreate(t, dir, 1, dim, capacity)
	for i, n := range []int{3, 2, 4} {
		vecs := make([][]float32, n)
		norms := make([]float32, n)
		for j := range vecs {
			vecs[j] = []float32{1, float32(i), float32(j), 1}
			norms[j] = 1
		}
		if err := s.Append(uint64(100*i), vecs, norms, false); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, s)
	path := segPath(dir, 1)
	// Tear the third batch: flip a byte of its first row.
	xorByte(t, path, newLayout(dim, capacity).vectorOff(5), 0x40)
	before, _ := os.ReadFile(path)
	r, err := OpenActiveReadOnly(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows() != 5 {
		t.Fatalf("read-only open shows %d rows, want 5 (the torn batch cut)", r.Rows())
	}
	if err := r.Append(900, [][]float32{{1, 1, 1, 1}}, []float32{0.5}, true); !errors.Is(err, errs.ErrReadOnly) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := r.Seal(); !errors.Is(err, errs.ErrReadOnly) {
		t.Fatalf("Seal: %v", err)
	}
	mustClose(t, r)
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("a read-only open changed the file")
	}
	w, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 5 {
		t.Fatalf("writable open shows %d rows", w.Rows())
	}
	mustClose(t, w)
	checkRecordsZeroFrom(t, path, newLayout(dim, capacity), 2)
}
