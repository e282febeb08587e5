package memvec

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// rowcheckDim has codes (quant.MaxDim is far above it), so a search goes
// through the prefilter and rescores its candidates.
const rowcheckDim = 8

// rowPlace is where an ID's row lies in a closed store: its segment file
// and the offsets of its vector and norm.
type rowPlace struct {
	path           string
	row            uint64
	vecOff, normAt int64
}

// placeRow finds id in the manifest of the closed store in dir; the
// segment must be sealed.
func placeRow(t *testing.T, dir string, id uint64) rowPlace {
	t.Helper()
	man, err := manifest.Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range man.Segments {
		var row uint64
		ok := false
		for _, r := range s.Runs {
			if id >= r.FirstID && id < r.FirstID+r.Count {
				row, ok = r.FirstRow+(id-r.FirstID), true
			}
		}
		if !ok {
			continue
		}
		if !s.Sealed {
			t.Fatalf("ID %d is in the active segment", id)
		}
		return rowPlace{
			path:   filepath.Join(dir, segment.FileName(s.Number)),
			row:    row,
			vecOff: segment.HeaderSize + int64(row)*rowcheckDim*4,
			normAt: segment.HeaderSize + int64(s.Capacity)*rowcheckDim*4 + int64(row)*4,
		}
	}
	t.Fatalf("ID %d in no segment", id)
	return rowPlace{}
}

// flipAt xors one byte of the file at path through its own descriptor:
// the store's mapping is shared, so its next read sees the damage.
func flipAt(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestRowReadsAreChecked: in a store opened from disk, a segment whose
// other rows were already served (so that it passed every check it made
// so far), a byte of one row is flipped under the open store. Get,
// SearchIn and the rescoring of a prefiltered Search that reads the row
// report ErrCorrupt naming the file and the row's offset; none returns
// the damaged bytes; the other rows are still served.
func TestRowReadsAreChecked(t *testing.T) {
	for _, where := range []string{"vector", "norm"} {
		t.Run(where, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			opts := Options{Dimension: rowcheckDim, SegmentBytes: 256 << 10, DisableAutoCompaction: true}
			db, err := openT(t, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(5))
			vecs := randVecs(rng, 6000, rowcheckDim)
			ids, err := db.Add(vecs)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			const victim = 1500 // in the first segment, past its first code block
			p := placeRow(t, dir, ids[victim])
			if db, err = openT(t, dir, opts); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			// Serve the victim's neighbours: its segment is in use.
			for _, i := range []int{victim - 1, victim + 1, 0, 2047} {
				if got, err := db.Get(ids[i]); err != nil || !bitsEqual(got, vecs[i]) {
					t.Fatalf("Get(%d) = %v, %v", ids[i], got, err)
				}
			}
			if _, err := db.SearchIn(ctx, vecs[victim+1], []uint64{ids[victim-1], ids[victim+1]}, SearchOptions{TopK: 2}); err != nil {
				t.Fatal(err)
			}
			off := p.vecOff + 5
			if where == "norm" {
				off = p.normAt + 1
			}
			flipAt(t, p.path, off, 0x40)
			checkErr := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s of the damaged row: %v, want ErrCorrupt", op, err)
				}
				at := fmt.Sprintf("offset %d", p.vecOff)
				if op == "Search" && where == "norm" {
					// The code pass reads the norms too: the row's
					// code block fails before any rescoring.
					at = "code block"
				}
				for _, w := range []string{filepath.Base(p.path), at} {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("%s: error %q does not contain %q", op, err, w)
					}
				}
			}
			got, err := db.Get(ids[victim])
			if got != nil {
				t.Fatalf("Get served %v", got)
			}
			checkErr("Get", err)
			res, err := db.SearchIn(ctx, vecs[victim], []uint64{ids[victim]}, SearchOptions{TopK: 1})
			if res != nil {
				t.Fatalf("SearchIn served %v", res)
			}
			checkErr("SearchIn", err)
			res, err = db.Search(ctx, vecs[victim], SearchOptions{TopK: 1})
			if res != nil {
				t.Fatalf("Search served %v", res)
			}
			checkErr("Search", err)
			// The other rows of the segment are still served.
			if got, err := db.Get(ids[victim+1]); err != nil || !bitsEqual(got, vecs[victim+1]) {
				t.Fatalf("Get of an intact row after the damage = %v, %v", got, err)
			}
			// Undone, the row is served again.
			flipAt(t, p.path, off, 0x40)
			if got, err := db.Get(ids[victim]); err != nil || !bitsEqual(got, vecs[victim]) {
				t.Fatalf("Get after the damage was undone = %v, %v", got, err)
			}
			// The same Search now succeeds, through the code pass and the
			// rescoring of the row (no chunk fell back to float32): the
			// path that reported the damage above, for the vector.
			before := db.Stats()
			res, err = db.Search(ctx, vecs[victim], SearchOptions{TopK: 1})
			if err != nil || len(res) != 1 || res[0].ID != ids[victim] {
				t.Fatalf("Search after the damage was undone = %v, %v", res, err)
			}
			if st := db.Stats(); st.RescoredRows == before.RescoredRows || st.FallbackSearches != before.FallbackSearches {
				t.Fatalf("the Search rescored %d rows, %d fallbacks: not the rescoring path",
					st.RescoredRows-before.RescoredRows, st.FallbackSearches-before.FallbackSearches)
			}
		})
	}
}

// TestCodeBlocksAreChecked: a flipped code byte of a sealed segment is
// reported by the code pass of a prefiltered Search (ErrCorrupt naming the
// file and the block), while an Exhaustive search, which reads no codes,
// and Get still answer exactly.
func TestCodeBlocksAreChecked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	opts := Options{Dimension: rowcheckDim, SegmentBytes: 256 << 10, DisableAutoCompaction: true}
	db, err := openT(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(6))
	vecs := randVecs(rng, 6000, rowcheckDim)
	ids, err := db.Add(vecs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, err := db.Search(ctx, vecs[10], SearchOptions{TopK: 3, Exhaustive: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	p := placeRow(t, dir, ids[1500])
	man, err := manifest.Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	capacity := man.Segments[0].Capacity
	// Format 5 at dimension 8: codes at align64(norms end), 8 a row.
	normsEnd := int64(segment.HeaderSize) + int64(capacity)*(rowcheckDim*4+4)
	codeOff := (normsEnd + 63) / 64 * 64
	if db, err = openT(t, dir, opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := codeOff + int64(p.row)*rowcheckDim + 3
	flipAt(t, p.path, at, 0x11)
	defer flipAt(t, p.path, at, 0x11) // for openT's check of the closed store
	_, err = db.Search(ctx, vecs[10], SearchOptions{TopK: 3})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(p.path)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("offset %d", codeOff+1024*rowcheckDim)) {
		t.Fatalf("prefiltered Search over a flipped code: %v, want ErrCorrupt naming the file and block 1", err)
	}
	got, err := db.Search(ctx, vecs[10], SearchOptions{TopK: 3, Exhaustive: true})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Exhaustive Search = %v, %v; want %v", got, err, want)
	}
	if v, err := db.Get(ids[1500]); err != nil || !bitsEqual(v, vecs[1500]) {
		t.Fatalf("Get of the row whose code is damaged = %v, %v", v, err)
	}
}
