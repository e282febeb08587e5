package segment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// [syncedFieldFrom, syncedFieldTo) is the byte range of a record's "synced" field.
const syncedFieldFrom, syncedFieldTo = 24, 32

// openExpectCorrupt opens the active segment expecting ErrCorrupt, and checks
// that the error names the file and that the failed Open left the file as
// it was.
func openExpectCorrupt(t *testing.T, dir string, n uint64, dim int, capacity uint64, wantInMsg ...string) {
	t.Helper()
	path := segPath(dir, n)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(nil, dir, n, dim, capacity, nil)
	if err == nil {
		s.Close()
		t.Fatalf("Open succeeded (%d rows), want ErrCorrupt", s.Rows())
	}
	if !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	for _, w := range append([]string{path}, wantInMsg...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a failed Open modified the file")
	}
}

// continueAfterRecovery appends two more batches to a recovered segment,
// reopens it and checks that exactly the recovered rows plus the new ones
// are there: no record of the cut tail comes back.
func continueAfterRecovery(t *testing.T, s *Segment, dir string, m *model, rng *rand.Rand) {
	t.Helper()
	n, dim, capacity := s.Number(), s.Dim(), s.Capacity()
	next := uint64(1)
	if len(m.ids) > 0 {
		next = m.ids[len(m.ids)-1] + 1
	}
	free := int(s.Free())
	specs := []batchSpec{{firstID: next, rows: 1}}
	if free >= 3 {
		specs = append(specs, batchSpec{firstID: next + 1000, rows: free - 1})
	}
	appendBatches(t, s, m, rng, specs)
	checkModel(t, s, m)
	mustClose(t, s)
	s = mustOpen(t, dir, n, dim, capacity, nil)
	defer s.Close()
	checkModel(t, s, m)
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatalf("Verify after recovery and append: %v", err)
	}
}

type damageFn func(t *testing.T, path string, l layout, m *model, k int)

func zeroRecord(t *testing.T, path string, l layout, _ *model, k int) {
	writeAt(t, path, recordOffset(l, uint64(k)), make([]byte, recordSize))
}

func flipRecordByte(off int64) damageFn {
	return func(t *testing.T, path string, l layout, _ *model, k int) {
		xorByte(t, path, recordOffset(l, uint64(k))+off, 0xff)
	}
}

// flipVectorByte flips byte at of batch k's vector bytes (negative: from the
// end).
func flipVectorByte(at int64) damageFn {
	return func(t *testing.T, path string, l layout, m *model, k int) {
		from, to := l.vectorOff(m.start[k]), l.vectorOff(m.start[k]+uint64(m.count[k]))
		off := from + at
		if at < 0 {
			off = to + at
		}
		xorByte(t, path, off, 0xff)
	}
}

func flipNormByte(t *testing.T, path string, l layout, m *model, k int) {
	xorByte(t, path, l.normsOff+int64(m.start[k])*4+int64(4*m.count[k]-1), 0x01)
}

type namedDamage struct {
	name   string
	fn     damageFn
	synced bool // hits the record's synced field
}

func allDamages() []namedDamage {
	d := []namedDamage{
		{name: "zero record", fn: zeroRecord},
		{name: "first vector byte", fn: flipVectorByte(0)},
		{name: "middle vector byte", fn: flipVectorByte(9)},
		{name: "last vector byte", fn: flipVectorByte(-1)},
		{name: "norm byte", fn: flipNormByte},
	}
	// The first and last byte of every record field (TestSingleByteFlipSweep
	// covers every byte).
	for _, off := range []int64{0, 3, 4, 7, 8, 15, 16, 23, 24, 31, 32, 39, 40, 47} {
		d = append(d, namedDamage{
			name:   fmt.Sprintf("record byte %d", off),
			fn:     flipRecordByte(off),
			synced: off >= syncedFieldFrom && off < syncedFieldTo,
		})
	}
	return d
}

func TestTornTail(t *testing.T) {
	const dim, capacity = 4, 64
	for _, durable := range []bool{false, true} {
		specs := []batchSpec{
			{firstID: 10, rows: 3, durable: durable},
			{firstID: 13, rows: 5, durable: durable},
			{firstID: 30, rows: 2, durable: durable},
			{firstID: 32, rows: 4, durable: durable},
		}
		last := len(specs) - 1
		for _, d := range allDamages() {
			t.Run(fmt.Sprintf("durable=%v/%s", durable, d.name), func(t *testing.T) {
				dir, path, lay, m, rng := writeClosed(t, dim, capacity, 7, 8, specs)

				d.fn(t, path, lay, m, last)

				s := mustOpen(t, dir, 1, dim, capacity, nil)
				want := m.prefix(last)
				checkModel(t, s, want)
				checkRecordsZeroFrom(t, path, lay, uint64(last))
				if err := s.Verify(context.Background(), nil); err != nil {
					t.Fatalf("Verify after cutting the tail: %v", err)
				}
				continueAfterRecovery(t, s, dir, want, rng)
			})
		}
	}
}

// TestMiddleBatchDamage: damage to a batch followed by a record that says
// the batch was durable is corruption, not a tear; without such a record
// (nothing was synced) the tail is cut at the damaged batch.
func TestMiddleBatchDamage(t *testing.T) {
	const dim, capacity = 3, 32
	for _, durable := range []bool{true, false} {
		specs := []batchSpec{
			{firstID: 1, rows: 3, durable: durable},
			{firstID: 4, rows: 4, durable: durable},
			{firstID: 8, rows: 2, durable: durable},
			{firstID: 20, rows: 3, durable: durable},
		}
		for k := 0; k < len(specs)-1; k++ {
			for _, d := range allDamages() {
				t.Run(fmt.Sprintf("durable=%v/batch %d/%s", durable, k, d.name), func(t *testing.T) {
					dir, path, lay, m, rng := writeClosed(t, dim, capacity, 9, uint64(k), specs)

					d.fn(t, path, lay, m, k)

					if durable {
						openExpectCorrupt(t, dir, 1, dim, capacity,
							fmt.Sprintf("offset %d", recordOffset(lay, uint64(k))))
						return
					}
					s := mustOpen(t, dir, 1, dim, capacity, nil)
					want := m.prefix(k)
					checkModel(t, s, want)
					checkRecordsZeroFrom(t, path, lay, uint64(k))
					continueAfterRecovery(t, s, dir, want, rng)
				})
			}
		}
	}
}

// TestStaleRecordTrap: after a cut, the records past it must be gone, or a
// later batch of the same size re-validates the old record that follows it.
func TestStaleRecordTrap(t *testing.T) {
	const dim, capacity = 3, 32
	dir, path, lay, m, rng := writeClosed(t, dim, capacity, 11, 12, []batchSpec{
		{firstID: 1, rows: 4}, // A
		{firstID: 5, rows: 4}, // B
		{firstID: 9, rows: 4}, // C
	})

	zeroRecord(t, path, lay, m, 1) // B's record only: C's record and rows stay

	s := mustOpen(t, dir, 1, dim, capacity, nil)
	a := m.prefix(1)
	checkModel(t, s, a)
	checkRecordsZeroFrom(t, path, lay, 1)
	// B': same size as B, so C's old record would line up exactly behind it.
	appendBatches(t, s, a, rng, []batchSpec{{firstID: 5, rows: 4}})
	mustClose(t, s)

	s = mustOpen(t, dir, 1, dim, capacity, nil)
	defer s.Close()
	checkModel(t, s, a) // A+B', and not C
	if s.Rows() != 8 {
		t.Fatalf("Rows() = %d, want 8 (A+B')", s.Rows())
	}
}

// TestOpenActiveDurableBound: rows recorded durable at a clean close bound
// what a recovery may cut. Records that end before the bound are
// corruption (and the file is left alone); the tail past it is cut as
// before; rows below it are not checksummed by Open, which leaves them to
// Verify as for a sealed segment.
func TestOpenActiveDurableBound(t *testing.T) {
	const dim, capacity = 3, 32
	specs := []batchSpec{{firstID: 1, rows: 3}, {firstID: 4, rows: 4}, {firstID: 20, rows: 2}, {firstID: 22, rows: 3, syncAfter: true}}
	// Batches start at rows 0, 3, 7, 9; 12 rows in all.
	for _, tc := range []struct {
		name    string
		durable uint64
		damage  func(t *testing.T, path string, l layout, m *model)
		keep    int  // batches kept, when Open succeeds
		corrupt bool // Open fails with ErrCorrupt at the record of batch keep
		verify  int  // if >= 0, Verify fails at the record of this batch
	}{
		{name: "no damage, bound 0", durable: 0, keep: 4, verify: -1},
		{name: "no damage, bound inside", durable: 7, keep: 4, verify: -1},
		{name: "no damage, bound at the end", durable: 12, keep: 4, verify: -1},
		{name: "bound past the rows", durable: 13, keep: 4, corrupt: true},
		{name: "bound past capacity", durable: capacity + 1, keep: 4, corrupt: true},
		{name: "last record zeroed below the bound", durable: 12,
			damage: func(t *testing.T, p string, l layout, m *model) { zeroRecord(t, p, l, m, 3) }, keep: 3, corrupt: true},
		{name: "middle record zeroed below the bound", durable: 9,
			damage: func(t *testing.T, p string, l layout, m *model) { zeroRecord(t, p, l, m, 1) }, keep: 1, corrupt: true},
		{name: "record zeroed past the bound", durable: 7,
			damage: func(t *testing.T, p string, l layout, m *model) { zeroRecord(t, p, l, m, 2) }, keep: 2, verify: -1},
		{name: "rows damaged past the bound", durable: 7,
			damage: func(t *testing.T, p string, l layout, m *model) { flipVectorByte(0)(t, p, l, m, 3) }, keep: 3, verify: -1},
		{name: "rows damaged below the bound", durable: 7,
			damage: func(t *testing.T, p string, l layout, m *model) { flipVectorByte(0)(t, p, l, m, 1) }, keep: 4, verify: 1},
		{name: "last batch's norm damaged below the bound", durable: 12,
			damage: func(t *testing.T, p string, l layout, m *model) { flipNormByte(t, p, l, m, 3) }, keep: 4, verify: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, lay, m, _ := writeClosed(t, dim, capacity, 31, 32, specs)
			if tc.damage != nil {
				tc.damage(t, path, lay, m)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := OpenActive(nil, dir, 1, dim, capacity, tc.durable)
			if tc.corrupt {
				if err == nil {
					s.Close()
					t.Fatalf("OpenActive succeeded with %d rows, want ErrCorrupt", s.Rows())
				}
				if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), path) ||
					!strings.Contains(err.Error(), fmt.Sprintf("offset %d", recordOffset(lay, uint64(tc.keep)))) {
					t.Fatalf("OpenActive: %v, want ErrCorrupt naming the file and the record of batch %d", err, tc.keep)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Fatal("a failed OpenActive modified the file")
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenActive: %v", err)
			}
			defer s.Close()
			want := m.prefix(tc.keep)
			if s.Rows() != want.rows() || !runsEqual(s.Runs(), want.runs()) {
				t.Fatalf("Rows() %d Runs() %+v, want %d %+v", s.Rows(), s.Runs(), want.rows(), want.runs())
			}
			checkRecordsZeroFrom(t, path, lay, uint64(tc.keep))
			err = s.Verify(context.Background(), nil)
			if tc.verify < 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				checkModel(t, s, want)
				return
			}
			if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", recordOffset(lay, uint64(tc.verify)))) {
				t.Fatalf("Verify: %v, want ErrCorrupt at the record of batch %d", err, tc.verify)
			}
		})
	}
}

// TestSealDoesNotBlessUncheckedDamage: OpenActive does not checksum the rows
// below its durable bound, and Seal computes the sealed checksum from the
// bytes as they are. Damage that Open let through therefore becomes part of
// the sealed segment's checksum (and a damaged first ID part of its runs),
// and Verify with the seal can never see it again.
func TestSealDoesNotBlessUncheckedDamage(t *testing.T) {
	const dim, capacity = 3, 16
	for _, tc := range []struct {
		name string
		off  func(l layout, m *model) int64
	}{
		{"vector byte", func(l layout, m *model) int64 { return l.vectorOff(1) + 2 }},
		{"first ID", func(l layout, m *model) int64 { return recordOffset(l, 0) + 16 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, s, m, rng := newSegment(t, 1, dim, capacity, 33, 34)
			appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 3}, {firstID: 4, rows: 2, syncAfter: true}})
			durable := s.Rows()
			path, lay := s.Path(), s.lay
			mustClose(t, s) // a clean close records durable = 5

			xorByte(t, path, tc.off(lay, m), 0x01) // bit rot while closed

			s, err := OpenActive(nil, dir, 1, dim, capacity, durable)
			if err != nil {
				// Also acceptable: Open reports the damage.
				if errors.Is(err, errs.ErrCorrupt) {
					return
				}
				t.Fatal(err)
			}
			appendBatches(t, s, m, rng, []batchSpec{{firstID: 6, rows: 2}})
			seal, err := s.Seal()
			if err != nil {
				s.Close()
				if errors.Is(err, errs.ErrCorrupt) {
					return // the damage is reported before it is sealed in
				}
				t.Fatal(err)
			}
			mustClose(t, s)
			s = mustOpen(t, dir, 1, dim, capacity, &seal)
			defer s.Close()
			if err := s.Verify(context.Background(), &seal); !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("damage below the durable bound was sealed in: Seal succeeded and Verify with the seal says %v", err)
			}
		})
	}
}

// flipOutcome is what Open must make of one damaged byte.
type flipOutcome struct {
	corrupt     bool // Open fails with ErrCorrupt
	skip        bool // hits bugSelfEvidence
	keep        int  // else: batches that survive
	verifyFails bool // Open keeps every row (damage below the durable bound is not checksummed) but Verify reports it
	idsChanged  bool // ...and the damage changed a record's first ID, so the runs differ
}

// TestSingleByteFlipSweep flips bytes of a small segment file one at a time
// and checks OpenActive against a model of the rules in the package doc and
// in recoverTail: header damage is corruption; damage to batch k (its rows,
// norms, codes, metas or record) at or past the durable bound cuts the segment before k,
// unless a later record says that rows at or past the start of k had been
// synced, which makes it corruption; below the durable bound, damage to a
// record's structure is corruption and other damage is left to Verify;
// damage anywhere else changes nothing.
func TestSingleByteFlipSweep(t *testing.T) {
	const dim, capacity = 4, 11
	patterns := []struct {
		name      string
		specs     []batchSpec
		durableAt int // OpenActive's bound is the start of this batch (len: all rows)
	}{
		{"nosync", []batchSpec{{firstID: 1, rows: 2}, {firstID: 10, rows: 3}, {firstID: 13, rows: 1}, {firstID: 50, rows: 3}}, 0},
		{"durable", []batchSpec{{firstID: 1, rows: 2, durable: true}, {firstID: 10, rows: 3, durable: true}, {firstID: 13, rows: 1, durable: true}, {firstID: 50, rows: 3, durable: true}}, 0},
		{"mixed", []batchSpec{{firstID: 1, rows: 2}, {firstID: 10, rows: 3, syncAfter: true}, {firstID: 13, rows: 1}, {firstID: 50, rows: 1, durable: true}, {firstID: 51, rows: 2}}, 0},
		{"nosync bound at batch 2", []batchSpec{{firstID: 1, rows: 2}, {firstID: 10, rows: 3, syncAfter: true}, {firstID: 13, rows: 1}, {firstID: 50, rows: 3}}, 2},
		{"bound at the end", []batchSpec{{firstID: 1, rows: 2}, {firstID: 10, rows: 3}, {firstID: 13, rows: 1}, {firstID: 50, rows: 3, syncAfter: true}}, 4},
	}
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			dir, path, lay, m, _ := writeClosed(t, dim, capacity, 13, 14, p.specs)
			if !lay.hasCodes() {
				t.Fatal("the sweep's segment has no codes to damage")
			}
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			nb := len(m.start)
			rows := m.rows()
			durable := m.prefix(p.durableAt).rows()
			batchOf := func(row uint64) int {
				k := 0
				for k+1 < nb && row >= m.start[k+1] {
					k++
				}
				return k
			}
			// damaged: batch k (at or past the bound) fails its check.
			damaged := func(k int) flipOutcome {
				for j := k + 1; j < nb; j++ {
					if m.synced[j] > m.start[k] {
						return flipOutcome{corrupt: true}
					}
				}
				return flipOutcome{keep: k}
			}
			intact := flipOutcome{keep: nb}
			expect := func(o int64) flipOutcome {
				switch {
				case o < headerUsed:
					return flipOutcome{corrupt: true}
				case o < HeaderSize:
					return intact
				case o < lay.normsOff+int64(capacity)*4,
					o >= lay.codeOff && o < lay.codeOff+int64(capacity)*lay.codeStride,
					o >= lay.metaOff && o < lay.metaOff+int64(capacity)*lay.metaSize:
					var r uint64
					switch {
					case o < lay.normsOff:
						r = uint64(o-HeaderSize) / uint64(dim*4)
					case o < lay.codeOff:
						r = uint64(o-lay.normsOff) / 4
					case o < lay.metaOff:
						r = uint64((o - lay.codeOff) / lay.codeStride)
					default:
						r = uint64((o - lay.metaOff) / lay.metaSize)
					}
					if r >= rows {
						return intact
					}
					if k := batchOf(r); m.start[k] >= durable {
						return damaged(k)
					}
					return flipOutcome{keep: nb, verifyFails: true}
				case o < lay.recordOff:
					return intact
				case o < lay.recordOff+capacity*recordSize:
					k := int((o - lay.recordOff) / recordSize)
					if k >= nb {
						return intact
					}
					f := (o - lay.recordOff) % recordSize
					if m.start[k] < durable {
						switch {
						case f >= 16 && f < 24: // first ID
							return flipOutcome{keep: nb, verifyFails: true, idsChanged: true}
						case f >= syncedFieldFrom && f < syncedFieldTo, f >= recordSize-8: // synced, sum
							return flipOutcome{keep: nb, verifyFails: true}
						default: // magic, rows, first row, index: the records end before the bound
							return flipOutcome{corrupt: true}
						}
					}
					e := damaged(k)
					return e
				default:
					return intact
				}
			}
			// Every byte of the header fields and of the vector, norm and
			// record areas; a sample of the unused header page and file tail.
			dataEnd := lay.recordOff + capacity*recordSize
			var offsets []int64
			for o := int64(0); o < int64(len(orig)); o++ {
				if o < 2*headerUsed || (o >= HeaderSize-8 && o < dataEnd+8) || o >= int64(len(orig))-8 || o%61 == 0 {
					offsets = append(offsets, o)
				}
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			counts := map[string]int{}
			for _, o := range offsets {
				e := expect(o)
				if e.skip {
					counts["skipped"]++
					continue
				}
				b := bytes.Clone(orig)
				b[o] ^= 0xff
				// Rewrite in place: the file keeps its size and blocks.
				if _, err := f.WriteAt(b, 0); err != nil {
					t.Fatal(err)
				}
				s, err := OpenActive(nil, dir, 1, dim, capacity, durable)
				if e.corrupt {
					counts["corrupt"]++
					if err == nil {
						s.Close()
						t.Fatalf("offset %d: Open succeeded with %d rows, want ErrCorrupt", o, s.Rows())
					}
					if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), path) {
						t.Fatalf("offset %d: Open: %v, want ErrCorrupt naming the file", o, err)
					}
					if now, _ := os.ReadFile(path); !bytes.Equal(now, b) {
						t.Fatalf("offset %d: a failed Open modified the file", o)
					}
					continue
				}
				if err != nil {
					t.Fatalf("offset %d: Open: %v, want %d of %d batches", o, err, e.keep, nb)
				}
				want := m.prefix(e.keep)
				if e.verifyFails {
					counts["left to Verify"]++
					func() {
						defer s.Close()
						if s.Rows() != rows {
							t.Fatalf("offset %d: Rows() = %d, want %d", o, s.Rows(), rows)
						}
						if got := s.Runs(); runsEqual(got, want.runs()) == e.idsChanged {
							t.Fatalf("offset %d: Runs() = %+v, model %+v (first ID damaged: %v)", o, got, want.runs(), e.idsChanged)
						}
						if err := s.Verify(context.Background(), nil); !errors.Is(err, errs.ErrCorrupt) {
							t.Fatalf("offset %d: Verify: %v, want ErrCorrupt", o, err)
						}
					}()
					continue
				}
				if e.keep < nb {
					counts["cut"]++
				} else {
					counts["intact"]++
				}
				func() {
					defer s.Close()
					if s.Rows() != want.rows() {
						t.Fatalf("offset %d: Rows() = %d, want %d", o, s.Rows(), want.rows())
					}
					checkModel(t, s, want)
					checkRecordsZeroFrom(t, path, lay, uint64(e.keep))
					if err := s.Verify(context.Background(), nil); err != nil {
						t.Fatalf("offset %d: Verify: %v", o, err)
					}
					if err := s.Append(1000, [][]float32{{1, 2, 3, 4}}, []float32{0.5}, false); err != nil {
						t.Fatalf("offset %d: Append after recovery: %v", o, err)
					}
				}()
				s, err = OpenActive(nil, dir, 1, dim, capacity, durable)
				if err != nil {
					t.Fatalf("offset %d: reopen after append: %v", o, err)
				}
				if s.Rows() != want.rows()+1 {
					t.Fatalf("offset %d: after append and reopen Rows() = %d, want %d", o, s.Rows(), want.rows()+1)
				}
				s.Close()
			}
			t.Logf("%d of %d offsets, durable bound %d: %v", len(offsets), len(orig), durable, counts)
			if counts["corrupt"] == 0 || counts["intact"] == 0 || (durable < rows && counts["cut"] == 0) || (durable > 0 && counts["left to Verify"] == 0) {
				t.Fatalf("sweep did not exercise every outcome: %v", counts)
			}
		})
	}
}

// TestDamagedRecordIsNotItsOwnDurabilityEvidence: the package doc says the
// first record that fails to check ends the segment unless a LATER valid
// record says the failed batch was durable. A record whose synced field is
// damaged fails its checksum, so it is the torn tail; it is not evidence.
func TestDamagedRecordIsNotItsOwnDurabilityEvidence(t *testing.T) {
	const dim, capacity = 2, 16
	for _, tc := range []struct {
		name    string
		durable bool
		k       int   // damaged batch
		off     int64 // damaged byte of its record
		alsoOff int64 // if not 0, also this byte of the next record
	}{
		{"nosync middle batch low byte", false, 1, syncedFieldFrom, 0},
		{"nosync middle batch high byte", false, 1, syncedFieldTo - 1, 0},
		{"nosync last batch", false, 2, syncedFieldFrom + 3, 0},
		{"durable last batch low byte", true, 2, syncedFieldFrom, 0},
		{"durable last batch high byte", true, 2, syncedFieldTo - 1, 0},
		// The next record fails its own checksum: it is not a "later valid
		// record" either, so it cannot turn the tear into corruption.
		{"nosync torn record then a damaged synced field", false, 1, 0, syncedFieldFrom + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, lay, m, _ := writeClosed(t, dim, capacity, 15, 16, []batchSpec{
				{firstID: 1, rows: 2, durable: tc.durable},
				{firstID: 3, rows: 3, durable: tc.durable},
				{firstID: 6, rows: 2, durable: tc.durable},
			})
			xorByte(t, path, recordOffset(lay, uint64(tc.k))+tc.off, 0xff)
			if tc.alsoOff != 0 {
				xorByte(t, path, recordOffset(lay, uint64(tc.k+1))+tc.alsoOff, 0xff)
			}
			s, err := Open(nil, dir, 1, dim, capacity, nil)
			if err != nil {
				t.Fatalf("Open: %v; want a torn tail cut before batch %d", err, tc.k)
			}
			defer s.Close()
			checkModel(t, s, m.prefix(tc.k))
		})
	}
}

func TestVerifySealed(t *testing.T) {
	const dim, capacity = 3, 20
	dir, s, m, rng := newSegment(t, 5, dim, capacity, 17, 18)
	appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 4}, {firstID: 5, rows: 6}})
	seal, err := s.Seal()
	if err != nil {
		t.Fatal(err)
	}
	path, lay := s.Path(), s.lay
	mustClose(t, s)

	s = mustOpen(t, dir, 5, dim, capacity, &seal)
	defer s.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		off  int64
		want string // "" for no error
	}{
		{"first vector byte", HeaderSize, fmt.Sprintf("offset %d", HeaderSize)},
		// Version 5 names the row (the offset of its vector).
		{"last row's last vector byte", lay.vectorOff(seal.Rows) - 1, fmt.Sprintf("offset %d", lay.vectorOff(seal.Rows-1))},
		{"first norm byte", lay.normsOff, fmt.Sprintf("offset %d", HeaderSize)},
		{"last norm byte", lay.normsOff + int64(seal.Rows)*4 - 1, fmt.Sprintf("offset %d", lay.vectorOff(seal.Rows-1))},
		{"header magic", 0, "offset 0"},
		{"header salt", 33, "offset 0"},
		{"vector byte past the rows", lay.vectorOff(seal.Rows), ""},
		{"norm byte past the rows", lay.normsOff + int64(seal.Rows)*4, ""},
		{"unused header byte", headerUsed + 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The mapping is shared: damage written through another
			// descriptor is what Verify reads.
			xorByte(t, path, tc.off, 0x10)
			defer xorByte(t, path, tc.off, 0x10)
			err := s.Verify(ctx, &seal)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("Verify: %v, want ErrCorrupt", err)
			}
			for _, w := range []string{path, tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if err := s.Verify(ctx, &seal); err != nil {
		t.Fatalf("Verify after restoring every byte: %v", err)
	}
	bad := seal
	bad.Checksum++
	if err := s.Verify(ctx, &bad); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Verify with a wrong seal checksum: %v, want ErrCorrupt", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Verify(cctx, &seal); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context: %v", err)
	}
}

func TestVerifyActive(t *testing.T) {
	const dim, capacity = 3, 20
	_, s, m, rng := newSegment(t, 6, dim, capacity, 19, 20)
	defer s.Close()
	ctx := context.Background()
	if err := s.Verify(ctx, nil); err != nil {
		t.Fatalf("Verify of an empty segment: %v", err)
	}
	appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 4}, {firstID: 5, rows: 6, durable: true}, {firstID: 30, rows: 2}})
	path, lay := s.Path(), s.lay
	for k := range m.start {
		for _, tc := range []struct {
			name string
			off  int64
		}{
			{"vector", lay.vectorOff(m.start[k]) + 5},
			{"norm", lay.normsOff + int64(m.start[k])*4},
			{"record magic", recordOffset(lay, uint64(k))},
			{"record synced", recordOffset(lay, uint64(k)) + syncedFieldFrom},
			{"record sum", recordOffset(lay, uint64(k)) + 47},
		} {
			t.Run(fmt.Sprintf("batch %d %s", k, tc.name), func(t *testing.T) {
				xorByte(t, path, tc.off, 0x04)
				defer xorByte(t, path, tc.off, 0x04)
				err := s.Verify(ctx, nil)
				if !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("Verify: %v, want ErrCorrupt", err)
				}
				for _, w := range []string{path, fmt.Sprintf("offset %d", recordOffset(lay, uint64(k)))} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			})
		}
	}
	// Bytes past the committed rows are not checked.
	for _, off := range []int64{lay.vectorOff(m.rows()), lay.normsOff + int64(m.rows())*4, recordOffset(lay, uint64(len(m.start)))} {
		xorByte(t, path, off, 0x04)
		if err := s.Verify(ctx, nil); err != nil {
			t.Errorf("damage at %d past the rows: Verify: %v", off, err)
		}
		xorByte(t, path, off, 0x04)
	}
	xorByte(t, path, 20, 0x01) // header capacity
	if err := s.Verify(ctx, nil); !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), "offset 0") {
		t.Errorf("header damage: Verify: %v, want ErrCorrupt at offset 0", err)
	}
	xorByte(t, path, 20, 0x01)
	if err := s.Verify(ctx, nil); err != nil {
		t.Fatalf("Verify after restoring every byte: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Verify(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	const n, dim, capacity = 3, 4, 16
	type env struct {
		dir, path string
		seal      Seal
	}
	setup := func(t *testing.T) env {
		dir, s, m, rng := newSegment(t, n, dim, capacity, 21, 22)
		appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 5, durable: true}})
		seal, err := s.Seal()
		if err != nil {
			t.Fatal(err)
		}
		path := s.Path()
		mustClose(t, s)
		return env{dir, path, seal}
	}
	truncate := func(size func(full int64) int64) func(t *testing.T, e env) {
		return func(t *testing.T, e env) {
			if err := os.Truncate(e.path, size(FileSize(dim, capacity))); err != nil {
				t.Fatal(err)
			}
		}
	}
	header := func(h Header) func(t *testing.T, e env) {
		return func(t *testing.T, e env) {
			old, err := DecodeHeader(readAt(t, e.path, 0, headerUsed))
			if err != nil {
				t.Fatal(err)
			}
			h.Salt = old.Salt
			writeAt(t, e.path, 0, EncodeHeader(h))
		}
	}
	good := Header{Version: Version, Dim: dim, Capacity: capacity, Number: n}
	with := func(f func(*Header)) Header { h := good; f(&h); return h }
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, e env)
		n        uint64
		dim      int
		capacity uint64
		want     error
		msg      string
	}{
		{name: "empty file", damage: truncate(func(int64) int64 { return 0 }), want: errs.ErrCorrupt, msg: "bytes, want"},
		{name: "header page only", damage: truncate(func(int64) int64 { return HeaderSize }), want: errs.ErrCorrupt, msg: "bytes, want"},
		{name: "short by a page", damage: truncate(func(s int64) int64 { return s - 4096 }), want: errs.ErrCorrupt, msg: "bytes, want"},
		{name: "short by a byte", damage: truncate(func(s int64) int64 { return s - 1 }), want: errs.ErrCorrupt, msg: "bytes, want"},
		{name: "wrong number", n: n + 1, want: errs.ErrCorrupt, msg: "header says"},
		{name: "smaller dim", dim: dim - 1, want: errs.ErrCorrupt, msg: "header says"},
		{name: "larger dim", dim: dim + 1, want: errs.ErrCorrupt},
		{name: "smaller capacity", capacity: capacity - 1, want: errs.ErrCorrupt, msg: "header says"},
		{name: "larger capacity", capacity: capacity + 1, want: errs.ErrCorrupt},
		{name: "header says another number", damage: header(with(func(h *Header) { h.Number = 99 })), want: errs.ErrCorrupt, msg: "header says"},
		{name: "header says another dim", damage: header(with(func(h *Header) { h.Dim = 2 })), want: errs.ErrCorrupt, msg: "header says"},
		{name: "header says another capacity", damage: header(with(func(h *Header) { h.Capacity = 8 })), want: errs.ErrCorrupt, msg: "header says"},
		{name: "version 3", damage: header(with(func(h *Header) { h.Version = Version + 1 })), want: errs.ErrVersion, msg: "offset 0"},
		{name: "bad magic", damage: func(t *testing.T, e env) { xorByte(t, e.path, 3, 0x20) }, want: errs.ErrCorrupt, msg: "offset 0"},
		{name: "bad header checksum", damage: func(t *testing.T, e env) { xorByte(t, e.path, 41, 0x01) }, want: errs.ErrCorrupt, msg: "offset 0"},
		{name: "damaged version byte", damage: func(t *testing.T, e env) { xorByte(t, e.path, 8, 0x02) }, want: errs.ErrCorrupt, msg: "offset 0"},
		{name: "missing file", damage: func(t *testing.T, e env) { os.Remove(e.path) }, want: os.ErrNotExist},
	} {
		for _, sealed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sealed=%v", tc.name, sealed), func(t *testing.T) {
				e := setup(t)
				if tc.damage != nil {
					tc.damage(t, e)
				}
				num, d, c := uint64(n), dim, uint64(capacity)
				if tc.n != 0 {
					num = tc.n
					if err := os.Rename(e.path, segPath(e.dir, num)); err != nil {
						t.Fatal(err)
					}
				}
				if tc.dim != 0 {
					d = tc.dim
				}
				if tc.capacity != 0 {
					c = tc.capacity
				}
				var seal *Seal
				if sealed {
					seal = &e.seal
				}
				s, err := Open(nil, e.dir, num, d, c, seal)
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("Open: %v, want %v", err, tc.want)
				}
				if tc.want == errs.ErrVersion && errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("Open: %v is both ErrVersion and ErrCorrupt", err)
				}
				if !strings.Contains(err.Error(), segPath(e.dir, num)) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q does not name the file and %q", err, tc.msg)
				}
			})
		}
	}

	t.Run("seal rows over capacity", func(t *testing.T) {
		e := setup(t)
		seal := e.seal
		seal.Rows = capacity + 1
		if s, err := Open(nil, e.dir, n, dim, capacity, &seal); !errors.Is(err, errs.ErrCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open: %v, want ErrCorrupt", err)
		}
	})
}

// TestOpenRejectsImpossibleShape: Create refuses a dimension or capacity out
// of range, Open does not check them. newLayout then overflows (capacity
// 1<<61 at dimension 4 gives a negative file size), the size check passes,
// mmap-go maps the whole file for a negative length, and a file shorter
// than a header page makes Open panic instead of failing. The manifest only
// checks capacity > 0, so a damaged-but-checksummed capacity reaches here.
func TestOpenRejectsImpossibleShape(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dim      int
		capacity uint64
	}{
		{"negative dim", -100, 100},
		{"zero dim", 0, 4},
		{"zero capacity", 4, 0},
		{"capacity over max", 4, maxCapacity(4) + 1},
		{"capacity whose layout overflows", 4, 1 << 61},
	} {
		for _, size := range []int{0, 10, HeaderSize - 1} {
			t.Run(fmt.Sprintf("%s/%d-byte file", tc.name, size), func(t *testing.T) {
				dir := t.TempDir()
				if err := os.WriteFile(segPath(dir, 1), make([]byte, size), 0o644); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Open panicked: %v", r)
					}
				}()
				s, err := Open(nil, dir, 1, tc.dim, tc.capacity, nil)
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrInvalidArgument) {
					t.Fatalf("Open: %v, want ErrCorrupt or ErrInvalidArgument", err)
				}
			})
		}
	}
}
