package segment

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// The sum table of format 5 (sums.go): reads check their own rows and
// code blocks against it, the sealed checksum authenticates it, and a
// damaged table is recomputed from the rows.

const sumsDim, sumsCap = 4, 2600

// sealedSums writes a sealed segment of sumsDim with rows in batches of
// 500 (three code blocks, the last one short), and opens it again from
// disk, as a store does. The caller closes it.
func sealedSums(t testing.TB, rows int) (s *Segment, seal Seal, m *model) {
	t.Helper()
	dir, s, m, rng := newSegment(t, 1, sumsDim, sumsCap, 91, uint64(rows))
	var specs []batchSpec
	for r := 0; r < rows; r += 500 {
		specs = append(specs, batchSpec{firstID: uint64(100 + r), rows: min(500, rows-r)})
	}
	appendBatches(t, s, m, rng, specs)
	seal = mustSeal(t, s)
	mustClose(t, s)
	return mustOpen(t, dir, 1, sumsDim, sumsCap, &seal), seal, m
}

// wantCorruptAt fails t unless err wraps ErrCorrupt and names the
// segment's file and offset off.
func wantCorruptAt(t *testing.T, s *Segment, err error, off int64, what string) {
	t.Helper()
	if !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("%s: %v, want ErrCorrupt", what, err)
	}
	for _, w := range []string{s.Path(), fmt.Sprintf("offset %d", off)} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: error %q does not contain %q", what, err, w)
		}
	}
}

func TestSealWritesSumTable(t *testing.T) {
	s, seal, _ := sealedSums(t, 2100)
	defer s.Close()
	if s.Version() != 5 || !s.CheckedReads() {
		t.Fatalf("version %d, checked reads %v", s.Version(), s.CheckedReads())
	}
	tr := s.trailer
	if tr == nil || tr.sumOff != tablesAt(tr.tablesEnd()) || tr.sumLen != (2100+3)*8 {
		t.Fatalf("trailer %+v: want a sum table of %d bytes", tr, (2100+3)*8)
	}
	if seal.Checksum != s.DataSum(seal.Rows) || seal.Checksum != sealSum(seal.Rows, s.sumTable(seal.Rows, true)) {
		t.Fatal("the sealed checksum is not that of the sum table")
	}
	if err := s.CheckRows(0, seal.Rows); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckCodes(0, seal.Rows); err != nil {
		t.Fatal(err)
	}
	c := s.checked()
	if c.m == nil || c.all || c.tabErr != nil {
		t.Fatalf("the table was not read from the file: mapped %v, recomputed %v (%v)", c.m != nil, c.all, c.tabErr)
	}
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte of row i's vector or norm fails the check of row i and of
// any range holding it, with the row's offset; the other rows pass, even
// after the damage; undone, the row passes.
func TestCheckRowsFindsTheRow(t *testing.T) {
	const i = 1234
	for _, where := range []string{"vector", "norm"} {
		t.Run(where, func(t *testing.T) {
			s, seal, _ := sealedSums(t, 2100)
			defer s.Close()
			if err := s.CheckRows(0, 10); err != nil {
				t.Fatal(err)
			}
			off := s.lay.vectorOff(i) + 13
			if where == "norm" {
				off = s.lay.normsOff + i*4 + 2
			}
			xorByte(t, s.Path(), off, 0x08)
			wantCorruptAt(t, s, s.CheckRows(i, i+1), s.lay.vectorOff(i), "CheckRows(i)")
			wantCorruptAt(t, s, s.CheckRows(1000, 2000), s.lay.vectorOff(i), "CheckRows(range)")
			if err := s.CheckRows(0, i); err != nil {
				t.Fatalf("rows before i: %v", err)
			}
			if err := s.CheckRows(i+1, seal.Rows); err != nil {
				t.Fatalf("rows after i: %v", err)
			}
			wantCorruptAt(t, s, s.CheckRows(i, i+1), s.lay.vectorOff(i), "CheckRows(i) again")
			err := s.CheckCodes(1024, 2048)
			if where == "norm" {
				// The code pass reads the norms: the block fails too.
				wantCorruptAt(t, s, err, s.lay.codeOff+1024*s.lay.codeStride, "CheckCodes")
			} else if err != nil {
				t.Fatalf("CheckCodes after a vector flip: %v", err)
			}
			wantCorruptAt(t, s, s.Verify(context.Background(), &seal), s.lay.vectorOff(i), "Verify")
			xorByte(t, s.Path(), off, 0x08)
			if err := s.CheckRows(0, seal.Rows); err != nil {
				t.Fatalf("after the damage was undone: %v", err)
			}
		})
	}
}

// RowChecked, the inlined fast path of a reader, says true only for a row
// that passed CheckRows in this process: never before, never for a row
// that failed, never past the sealed rows.
func TestRowChecked(t *testing.T) {
	const bad = 700
	s, seal, _ := sealedSums(t, 2100)
	defer s.Close()
	if s.RowChecked(5) {
		t.Fatal("row 5 checked before any check")
	}
	xorByte(t, s.Path(), s.lay.vectorOff(bad)+1, 0x10)
	if err := s.CheckRows(0, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRows(bad, bad+1); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("row %d: %v, want ErrCorrupt", bad, err)
	}
	for r, want := range map[uint64]bool{0: true, 9: true, 10: false, bad: false, seal.Rows - 1: false, seal.Rows: false, 1 << 40: false} {
		if got := s.RowChecked(r); got != want {
			t.Errorf("RowChecked(%d) = %v, want %v", r, got, want)
		}
	}
}

// A flipped code or meta byte fails the check of its code block, with the
// block's first code's offset; the other blocks and the rows pass.
func TestCheckCodesFindsTheBlock(t *testing.T) {
	const row = 2070 // in block 2, the short last one
	for _, where := range []string{"code", "meta"} {
		t.Run(where, func(t *testing.T) {
			s, seal, _ := sealedSums(t, 2100)
			defer s.Close()
			off := s.lay.codeOff + row*s.lay.codeStride + 1
			if where == "meta" {
				off = s.lay.metaOff + row*s.lay.metaSize + 3
			}
			xorByte(t, s.Path(), off, 0x80)
			blockAt := s.lay.codeOff + 2048*s.lay.codeStride
			wantCorruptAt(t, s, s.CheckCodes(row, row+1), blockAt, "CheckCodes(row)")
			wantCorruptAt(t, s, s.CheckCodes(0, seal.Rows), blockAt, "CheckCodes(all)")
			if err := s.CheckCodes(0, 2048); err != nil {
				t.Fatalf("blocks 0 and 1: %v", err)
			}
			if err := s.CheckRows(0, seal.Rows); err != nil {
				t.Fatalf("rows: %v", err)
			}
			wantCorruptAt(t, s, s.Verify(context.Background(), &seal), blockAt, "Verify")
		})
	}
}

// Damage to the sum table or the trailer that places it makes the
// segment recompute the table from its rows: every row and block is
// served, and Verify reports the damaged table (ErrTables) unless the
// trailer was never committed (a seal on a full disk).
func TestDamagedSumTableIsRecomputed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, s *Segment)
		reported bool
	}{
		{"row entry", func(t *testing.T, s *Segment) { xorByte(t, s.Path(), int64(s.trailer.sumOff)+8*77+2, 1) }, true},
		{"block entry", func(t *testing.T, s *Segment) { xorByte(t, s.Path(), int64(s.trailer.sumEnd())-3, 1) }, true},
		{"trailer sum offset", func(t *testing.T, s *Segment) { xorByte(t, s.Path(), trailerOff+89, 1) }, true},
		{"trailer sum length", func(t *testing.T, s *Segment) { xorByte(t, s.Path(), trailerOff+96, 8) }, true},
		{"trailer checksum", func(t *testing.T, s *Segment) { xorByte(t, s.Path(), trailerOff+trailerSizeV5-1, 1) }, true},
		{"table cut off", func(t *testing.T, s *Segment) {
			if err := os.Truncate(s.Path(), int64(s.trailer.sumEnd())-8); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"trailer absent", func(t *testing.T, s *Segment) { writeAt(t, s.Path(), trailerOff, []byte{0}) }, false},
		{"part list and entry", func(t *testing.T, s *Segment) {
			xorByte(t, s.Path(), sumPartsOff, 1)
			xorByte(t, s.Path(), int64(s.trailer.sumOff)+8*5, 1)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, seal, m := sealedSums(t, 2100)
			tc.damage(t, s)
			s = reopenSealed(t, s, seal)
			defer s.Close()
			if err := s.CheckRows(0, seal.Rows); err != nil {
				t.Fatalf("CheckRows: %v", err)
			}
			if err := s.CheckCodes(0, seal.Rows); err != nil {
				t.Fatalf("CheckCodes: %v", err)
			}
			if c := s.checked(); !(c.all || c.fixed.Load()) || c.tabErr == nil {
				t.Fatalf("table not recomputed: all %v, fixed %v, tabErr %v", c.all, c.fixed.Load(), c.tabErr)
			}
			checkModel(t, s, m)
			err := s.Verify(context.Background(), &seal)
			if !tc.reported {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, errs.ErrCorrupt) || !errors.Is(err, ErrTables) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("Verify: %v, want ErrCorrupt and ErrTables with an offset", err)
			}
		})
	}
}

// A sum table that does not hash to the sealed checksum, with rows that do
// not either, fails every check: nothing of the segment is served.
func TestSumTableAgainstTheSeal(t *testing.T) {
	s, seal, _ := sealedSums(t, 600)
	bad := seal
	bad.Checksum ^= 1
	dir := filepath.Dir(s.Path())
	mustClose(t, s)
	s = mustOpen(t, dir, 1, sumsDim, sumsCap, &bad)
	defer s.Close()
	for what, err := range map[string]error{
		"CheckRows":  s.CheckRows(5, 6),
		"CheckCodes": s.CheckCodes(0, 1),
		"Verify":     s.Verify(context.Background(), &bad),
		"VerifyData": s.VerifyData(context.Background(), &bad),
	} {
		wantCorruptAt(t, s, err, HeaderSize, what)
	}
	// Damaged table and damaged rows: the rows cannot be placed.
	s2, seal2, _ := sealedSums(t, 600)
	xorByte(t, s2.Path(), int64(s2.trailer.sumOff), 1)
	xorByte(t, s2.Path(), s2.lay.vectorOff(9), 1)
	s2 = reopenSealed(t, s2, seal2)
	defer s2.Close()
	wantCorruptAt(t, s2, s2.CheckRows(100, 101), HeaderSize, "CheckRows with table and row damaged")
}

// TestCheckedReadsProperty seals segments, flips random bytes of their
// rows, norms, codes and metas (only of rows and blocks not yet checked:
// a check is once per process) and reads random ranges, against a model:
// a check passes exactly when no damaged byte is in what it covers and
// has not been checked, and then marks it checked; it fails naming the
// first damaged row or block. Reopening forgets the checks.
func TestCheckedReadsProperty(t *testing.T) {
	steps := 400
	if testing.Short() {
		steps = 150
	}
	rng := rand.New(rand.NewPCG(7, 8))
	detected := 0
	for round := 0; round < 3; round++ {
		rows := 1 + rng.IntN(2500)
		s, seal, _ := sealedSums(t, rows)
		n := seal.Rows
		blocks := sumBlocks(n)
		flipped := map[int64]byte{} // offset -> mask, applied
		rowChecked, blockChecked := make([]bool, n), make([]bool, blocks)
		// judge checks a read's error against the model: nil when no
		// damaged byte it reads is unchecked (bad < 0), else ErrCorrupt
		// at the first one's offset.
		judge := func(what string, bad int64, err error) {
			t.Helper()
			if bad < 0 && err != nil {
				t.Fatalf("%s: %v, want nil", what, err)
			}
			if bad >= 0 {
				wantCorruptAt(t, s, err, bad, what)
				detected++
			}
		}
		rowDirty := func(r uint64) bool {
			norm := s.lay.normsOff + int64(r)*4
			for off := range flipped {
				if off >= s.lay.vectorOff(r) && off < s.lay.vectorOff(r+1) || off >= norm && off < norm+4 {
					return true
				}
			}
			return false
		}
		blockDirty := func(b uint64) bool {
			from, to := b*SumBlockRows, min((b+1)*SumBlockRows, n)
			for off := range flipped {
				in := func(base, size int64) bool { return off >= base+int64(from)*size && off < base+int64(to)*size }
				if in(s.lay.codeOff, s.lay.codeStride) || in(s.lay.metaOff, s.lay.metaSize) || in(s.lay.normsOff, 4) {
					return true
				}
			}
			return false
		}
		for step := 0; step < steps; step++ {
			switch op := rng.IntN(10); {
			case op < 3: // flip a byte of an unchecked row or block
				r := uint64(rng.IntN(int(n)))
				var off int64
				switch rng.IntN(4) {
				case 0:
					off = s.lay.vectorOff(r) + int64(rng.IntN(sumsDim*4))
				case 1:
					off = s.lay.normsOff + int64(r)*4 + int64(rng.IntN(4))
				case 2:
					off = s.lay.codeOff + int64(r)*s.lay.codeStride + int64(rng.IntN(int(s.lay.codeStride)))
				default:
					off = s.lay.metaOff + int64(r)*s.lay.metaSize + int64(rng.IntN(int(s.lay.metaSize)))
				}
				isRow := off < s.lay.codeOff
				isBlock := off >= s.lay.normsOff
				if isRow && rowChecked[r] || isBlock && blockChecked[r/SumBlockRows] {
					continue // damage after the check: out of the model
				}
				mask := byte(1 + rng.IntN(255))
				xorByte(t, s.Path(), off, mask)
				flipped[off] ^= mask
				if flipped[off] == 0 {
					delete(flipped, off)
				}
			case op < 6: // read rows
				from := uint64(rng.IntN(int(n)))
				to := min(n, from+1+uint64(rng.IntN(64)))
				if rng.IntN(4) == 0 {
					from, to = 0, n // a scan
				}
				var bad = int64(-1)
				for r := from; r < to; r++ {
					if rowChecked[r] {
						continue
					}
					if rowDirty(r) {
						bad = s.lay.vectorOff(r)
						break
					}
					rowChecked[r] = true
				}
				judge(fmt.Sprintf("round %d step %d: CheckRows(%d, %d)", round, step, from, to), bad, s.CheckRows(from, to))
			case op < 9: // read codes
				from := uint64(rng.IntN(int(n)))
				to := min(n, from+1+uint64(rng.IntN(2*SumBlockRows)))
				var bad = int64(-1)
				for b := from / SumBlockRows; b <= (to-1)/SumBlockRows; b++ {
					if blockChecked[b] {
						continue
					}
					if blockDirty(b) {
						bad = s.lay.codeOff + int64(b*SumBlockRows)*s.lay.codeStride
						break
					}
					blockChecked[b] = true
				}
				judge(fmt.Sprintf("round %d step %d: CheckCodes(%d, %d)", round, step, from, to), bad, s.CheckCodes(from, to))
			default: // reopen: the checks are forgotten
				s = reopenSealed(t, s, seal)
				clear(rowChecked)
				clear(blockChecked)
			}
		}
		mustClose(t, s)
	}
	if detected < 10 {
		t.Fatalf("%d damaged reads: the test did not exercise the checks", detected)
	}
}

func FuzzDecodeTrailerV5(f *testing.F) {
	valid := trailer{rows: 4, blobEnd: 9000, rowDirOff: tablesAt(9000), rowDirLen: 64, k: bloomK}
	valid.keyTabOff, valid.keyTabLen = valid.rowDirOff+64, 36
	valid.bloomOff, valid.bloomLen = valid.keyTabOff+36, 8
	valid.sumOff, valid.sumLen = tablesAt(valid.tablesEnd()), 5*8
	f.Add(encodeTrailerFor(5, fuzzSalt, valid))
	f.Add(encodeTrailerFor(5, fuzzSalt, trailer{rows: 7, blobEnd: 8192, rowDirOff: 8192, keyTabOff: 8192, bloomOff: 8192, sumOff: 8192, sumLen: 56}))
	f.Add(encodeTrailerFor(5, fuzzSalt, trailer{rows: 2049, blobEnd: 8192, rowDirOff: 8192, keyTabOff: 8192, bloomOff: 8192, sumOff: 8192, sumLen: 2052 * 8}))
	f.Add(make([]byte, trailerSizeV5))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeTrailerV5(t, b)
		if len(b) >= trailerSizeV5 {
			b := bytes.Clone(b)
			binary.LittleEndian.PutUint64(b[trailerSizeV5-8:], trailerSum(fuzzSalt, b[:trailerSizeV5-8]))
			checkDecodeTrailerV5(t, b)
		}
	})
}

func checkDecodeTrailerV5(t *testing.T, b []byte) {
	t.Helper()
	tr, err := decodeTrailerFor(5, fuzzSalt, b)
	if err != nil {
		if !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if enc := encodeTrailerFor(5, fuzzSalt, tr); !bytes.Equal(enc, b[:trailerSizeV5]) {
		t.Fatalf("encodeTrailerFor(5, %+v) = %x, want %x", tr, enc, b[:trailerSizeV5])
	}
	if tr.sumOff < tr.tablesEnd() || tr.sumOff%8 != 0 || tr.sumEnd() > maxBlobEnd || tr.sumLen%8 != 0 ||
		tr.sumLen/8 < tr.rows || tr.sumLen/8 > tr.rows+sumBlocks(tr.rows) {
		t.Fatalf("accepted trailer %+v", tr)
	}
}

// Checks past the sealed rows are refused, not read.
func TestChecksPastTheRows(t *testing.T) {
	s, seal, _ := sealedSums(t, 1030)
	defer s.Close()
	for what, err := range map[string]error{
		"CheckRows past the rows":  s.CheckRows(seal.Rows-1, seal.Rows+1),
		"CheckRows reversed":       s.CheckRows(5, 4),
		"CheckCodes past the rows": s.CheckCodes(seal.Rows, seal.Rows+1),
	} {
		if !errors.Is(err, errs.ErrInvalidArgument) {
			t.Fatalf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	if err := s.CheckRows(seal.Rows, seal.Rows); err != nil {
		t.Fatalf("empty range at the end: %v", err)
	}
}

// Concurrent readers check overlapping rows and blocks of a segment just
// opened: the table is loaded once, a row may be hashed twice, and every
// reader gets the same answer (run with -race).
func TestChecksConcurrent(t *testing.T) {
	s, seal, _ := sealedSums(t, 2100)
	defer s.Close()
	const bad = 1700
	xorByte(t, s.Path(), s.lay.vectorOff(bad), 1)
	defer xorByte(t, s.Path(), s.lay.vectorOff(bad), 1)
	errc := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for r := uint64(g); r < seal.Rows && err == nil; r += 37 {
				if r == bad {
					if e := s.CheckRows(r, r+1); !errors.Is(e, errs.ErrCorrupt) {
						err = fmt.Errorf("row %d: %v, want ErrCorrupt", r, e)
					}
					continue
				}
				err = s.CheckRows(r, r+1)
				if err == nil {
					err = s.CheckCodes(r, r+1)
				}
			}
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	wantCorruptAt(t, s, s.CheckRows(0, seal.Rows), s.lay.vectorOff(bad), "CheckRows(all)")
}

// A damaged list of the sum table's part checksums (sumparts.go) fails
// the sealed checksum, so the table is checked whole instead: every row
// and block is served, and Verify reports the list (ErrTables).
func TestDamagedPartList(t *testing.T) {
	s, seal, m := sealedSums(t, 2100)
	xorByte(t, s.Path(), sumPartsOff+8+5, 1)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	if err := s.CheckRows(0, seal.Rows); err != nil {
		t.Fatalf("CheckRows: %v", err)
	}
	if err := s.CheckCodes(0, seal.Rows); err != nil {
		t.Fatalf("CheckCodes: %v", err)
	}
	if c := s.checked(); c.list != nil {
		t.Fatal("a damaged part list was used")
	}
	checkModel(t, s, m)
	if err := s.Verify(context.Background(), &seal); !errors.Is(err, ErrTables) || !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Verify: %v, want ErrTables", err)
	}
}

// A row checked through the part list reads one part of the table: the
// other parts stay unchecked until a row of theirs is read.
func TestPartsCheckedLazily(t *testing.T) {
	s, seal, _ := sealedSums(t, 2100)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	if err := s.CheckRows(1000, 1001); err != nil {
		t.Fatal(err)
	}
	c := s.checked()
	if c.list == nil {
		t.Fatal("the part list was not used")
	}
	n := 0
	for i := range c.parts {
		n += bits.OnesCount64(c.parts[i].Load())
	}
	if n != 1 {
		t.Fatalf("%d parts checked for one row, want 1", n)
	}
}
