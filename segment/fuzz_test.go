package segment

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/internal/testutil"
)

const fuzzSalt = 0x5eed5a175eed5a17

func validHeader() []byte {
	return EncodeHeader(Header{Version: Version, Dim: 128, Capacity: 1000, Number: 42, Salt: fuzzSalt})
}

func validRecord() []byte {
	b := make([]byte, recordSize)
	Record{Rows: 3, FirstRow: 10, FirstID: 77, Synced: 10, Index: 2, Sum: 0x0123456789abcdef}.encode(b)
	return b
}

func FuzzDecodeHeader(f *testing.F) {
	h := validHeader()
	f.Add(h)
	f.Add(append(bytes.Clone(h), make([]byte, HeaderSize-headerUsed)...))
	f.Add(h[:headerUsed-1])
	f.Add([]byte{})
	f.Add(EncodeHeader(Header{Version: Version + 1, Dim: 4, Capacity: 8, Number: 1}))
	f.Add(EncodeHeader(Header{Version: 1, Dim: 4, Capacity: 8, Number: 1, Salt: fuzzSalt}))
	f.Add(EncodeHeader(Header{Version: Version, Dim: 1, Capacity: maxCapacity(1)}))
	f.Add(EncodeHeader(Header{Version: Version, Dim: 1, Capacity: maxCapacity(1) + 1}))
	f.Add(EncodeHeader(Header{Version: 3, Dim: 1, Capacity: maxCapacityFor(3, 1)}))
	f.Add(EncodeHeader(Header{Version: Version, Dim: quant.MaxDim + 1, Capacity: maxCapacity(quant.MaxDim + 1)}))
	f.Add(EncodeHeader(Header{Version: Version, Dim: ^uint32(0), Capacity: 1}))
	f.Add(EncodeHeader(Header{Version: Version, Dim: 0, Capacity: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeHeader(t, b)
		// Random bytes almost never pass the checksum, so also decode the
		// input with its checksum repaired, to reach the field checks.
		for _, sumAt := range []int{40, 48} { // versions 1 and 2
			if len(b) >= sumAt+8 {
				b := bytes.Clone(b)
				binary.LittleEndian.PutUint64(b[sumAt:], xxhash.Sum64(b[:sumAt]))
				checkDecodeHeader(t, b)
			}
		}
	})
}

// checkDecodeHeader asserts what DecodeHeader must do with any input.
func checkDecodeHeader(t *testing.T, b []byte) {
	t.Helper()
	h, err := DecodeHeader(b)
	if err != nil {
		testutil.WantCorruptOrVersion(t, err)
		return
	}
	enc := EncodeHeader(h)
	if len(b) < len(enc) {
		t.Fatalf("decoded a %d-byte header", len(b))
	}
	if !bytes.Equal(enc, b[:len(enc)]) {
		t.Fatalf("EncodeHeader(%+v) = %x, want %x", h, enc, b[:len(enc)])
	}
	if h.Version < 1 || h.Version > Version || h.Dim == 0 || h.Capacity == 0 || h.Capacity > maxCapacityFor(h.Version, int(h.Dim)) {
		t.Fatalf("accepted out-of-range header %+v", h)
	}
	// The shape it accepts has a sane layout: no offset overflows.
	l := layoutFor(h.Version, int(h.Dim), h.Capacity)
	if l.normsOff <= HeaderSize || l.codeOff < l.normsOff || l.metaOff < l.codeOff || l.recordOff < l.metaOff ||
		l.size < l.recordOff || l.size > maxFileSize+4096 {
		t.Fatalf("header %+v gives layout %+v", h, l)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := validRecord()
	f.Add(r)
	f.Add(r[:recordSize-1])
	f.Add(make([]byte, recordSize))
	f.Add([]byte{})
	zeroRows := bytes.Clone(r)
	binary.LittleEndian.PutUint32(zeroRows[4:], 0)
	f.Add(zeroRows)
	overflow := bytes.Clone(r)
	binary.LittleEndian.PutUint64(overflow[16:], ^uint64(0)-1)
	f.Add(overflow)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(b) < recordSize || rec.Rows == 0 || rec.FirstID+uint64(rec.Rows) < rec.FirstID {
			t.Fatalf("accepted record %+v from %d bytes", rec, len(b))
		}
		enc := make([]byte, recordSize)
		rec.encode(enc)
		if !bytes.Equal(enc, b[:recordSize]) {
			t.Fatalf("encode(%+v) = %x, want %x", rec, enc, b[:recordSize])
		}
	})
}

// FuzzRecoverTail damages a small active segment file at arbitrary places
// (each 3 input bytes: a 2-byte offset and an xor mask) and opens it with
// one of three durable bounds. Open must never panic; it may refuse with
// ErrCorrupt. When it succeeds it keeps at least the bound and a prefix of
// the original batches; unless Verify reports damage below the bound (which
// Open does not checksum), those rows are the original ones bit for bit; no
// stale record survives, and the segment takes further appends.
func FuzzRecoverTail(f *testing.F) {
	const dim, capacity = 2, 12
	nosync, mNosync := fuzzBaseSegment(f, dim, capacity, false)
	durable, mDurable := fuzzBaseSegment(f, dim, capacity, true)
	lay := newLayout(dim, capacity)
	at := func(off int64, mask byte) []byte { return []byte{byte(off), byte(off >> 8), mask} }
	f.Add(false, uint8(0), at(lay.recordOff+recordSize, 0xff))
	f.Add(true, uint8(0), at(lay.recordOff+recordSize, 0xff))
	f.Add(false, uint8(1), at(HeaderSize+9, 0x01))
	f.Add(true, uint8(2), append(at(lay.recordOff+3*recordSize+24, 0x80), at(lay.normsOff+4, 1)...))
	f.Add(false, uint8(2), at(lay.recordOff+6*recordSize, 0x4d))
	f.Add(true, uint8(1), at(5, 1))
	f.Add(false, uint8(0), at(lay.codeOff+int64(mNosync.start[3])*dim, 0x02))  // the last batch's codes
	f.Add(true, uint8(1), at(lay.metaOff+int64(mDurable.start[1])*16+3, 0x40)) // batch 1's meta, below the bound
	f.Fuzz(func(t *testing.T, useDurable bool, bound uint8, damage []byte) {
		orig, m := nosync, mNosync
		if useDurable {
			orig, m = durable, mDurable
		}
		var lower uint64 // the durable bound: none, the start of batch 2, every row
		switch bound % 3 {
		case 1:
			lower = m.start[2]
		case 2:
			lower = m.rows()
		}
		dir, s := openDamaged(t, withDamage(orig, damage), dim, capacity, lower)
		if s == nil {
			return
		}
		k := batchesHeld(m, s.Rows())
		if k < 0 || s.Rows() < lower {
			s.Close()
			t.Fatalf("recovered %d rows: not a batch boundary of %v at or past the bound %d", s.Rows(), m.start, lower)
		}
		want := m.prefix(k)
		checkRecordsZeroFrom(t, s.Path(), s.lay, uint64(k))
		if err := s.Verify(context.Background(), nil); err != nil {
			s.Close()
			if !errors.Is(err, errs.ErrCorrupt) || lower == 0 {
				t.Fatalf("Verify: %v; only damage below a durable bound may be left to Verify", err)
			}
			return
		}
		checkModel(t, s, want)
		if err := s.Append(500, [][]float32{{1, 2}}, []float32{3}, false); err != nil {
			t.Fatalf("Append: %v", err)
		}
		s.Close()
		s, err := OpenActive(nil, dir, 1, dim, capacity, lower)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		if s.Rows() != want.rows()+1 {
			t.Fatalf("after append and reopen Rows() = %d, want %d", s.Rows(), want.rows()+1)
		}
	})
}

// withDamage returns a copy of orig damaged as the input of a fuzzer says:
// each 3 bytes of damage are a 2-byte offset (wrapped to orig's length)
// and a mask xored into the byte there.
func withDamage(orig, damage []byte) []byte {
	b := bytes.Clone(orig)
	for i := 0; i+3 <= len(damage); i += 3 {
		off := int(binary.LittleEndian.Uint16(damage[i:])) % len(b)
		b[off] ^= damage[i+2]
	}
	return b
}

// openDamaged writes b as active segment 1 of a fresh directory and opens
// it with the durable bound. A refusal must wrap ErrCorrupt (or
// ErrVersion) and leave the file as it was; then the segment is nil.
func openDamaged(t *testing.T, b []byte, dim int, capacity, bound uint64) (string, *Segment) {
	t.Helper()
	dir := t.TempDir()
	path := segPath(dir, 1)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenActive(nil, dir, 1, dim, capacity, bound)
	if err != nil {
		if !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrVersion) {
			t.Fatalf("Open: %v, want ErrCorrupt", err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, b) {
			t.Fatal("a failed Open modified the file")
		}
		return dir, nil
	}
	return dir, s
}

// batchesHeld returns the k whose first k batches of m hold exactly rows
// rows, or -1 when rows is not a batch boundary.
func batchesHeld(m *model, rows uint64) int {
	k := -1
	for i := 0; i <= len(m.start); i++ {
		if m.prefix(i).rows() == rows {
			k = i
		}
	}
	return k
}

// fuzzSegment creates segment 1 in a fresh directory with the fuzzers'
// fixed salt, so that the same appends give the same bytes on every run,
// and returns it open.
func fuzzSegment(tb testing.TB, dim int, capacity uint64) (string, *Segment) {
	dir := tb.TempDir()
	s := mustCreate(tb, dir, 1, dim, capacity)
	mustClose(tb, s)
	writeAt(tb, segPath(dir, 1), 0, EncodeHeader(Header{Version: Version, Dim: uint32(dim), Capacity: capacity, Number: 1, Salt: fuzzSalt}))
	return dir, mustOpen(tb, dir, 1, dim, capacity, nil)
}

// fuzzBaseSegment builds, deterministically, the bytes of a small active
// segment (fixed salt, fixed rows) and the model of what it holds.
func fuzzBaseSegment(tb testing.TB, dim int, capacity uint64, durable bool) ([]byte, *model) {
	dir, s := fuzzSegment(tb, dim, capacity)
	m := &model{dim: dim}
	rng := rand.New(rand.NewPCG(23, 24))
	appendBatches(tb, s, m, rng, []batchSpec{
		{firstID: 1, rows: 2, durable: durable},
		{firstID: 3, rows: 1, durable: durable},
		{firstID: 9, rows: 3, durable: durable},
		{firstID: 12, rows: 2, durable: durable},
	})
	mustClose(tb, s)
	b, err := os.ReadFile(segPath(dir, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return b, m
}

// TestSeedCorpus checks that the committed seed corpus holds what its file
// names say, so that the fuzzers start from both sides of every check.
func TestSeedCorpus(t *testing.T) {
	for _, tc := range []struct {
		fuzz, file string
		decode     func([]byte) error
		want       error // nil: decodes
	}{
		{"FuzzDecodeHeader", "valid", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "valid_page", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "truncated", func(b []byte) error { _, err := DecodeHeader(b); return err }, errs.ErrCorrupt},
		{"FuzzDecodeHeader", "version4", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "version5", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "version6", func(b []byte) error { _, err := DecodeHeader(b); return err }, errs.ErrVersion},
		{"FuzzDecodeHeader", "v1_valid", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "v1_valid_page", func(b []byte) error { _, err := DecodeHeader(b); return err }, nil},
		{"FuzzDecodeHeader", "bad_checksum", func(b []byte) error { _, err := DecodeHeader(b); return err }, errs.ErrCorrupt},
		{"FuzzDecodeRecord", "valid", func(b []byte) error { _, err := DecodeRecord(b); return err }, nil},
		{"FuzzDecodeRecord", "truncated", func(b []byte) error { _, err := DecodeRecord(b); return err }, errs.ErrCorrupt},
		{"FuzzDecodeRecord", "zero_rows", func(b []byte) error { _, err := DecodeRecord(b); return err }, errs.ErrCorrupt},
		{"FuzzDecodeRecord", "zero", func(b []byte) error { _, err := DecodeRecord(b); return err }, errs.ErrCorrupt},
	} {
		t.Run(tc.fuzz+"/"+tc.file, func(t *testing.T) {
			b := testutil.ReadFuzzSeed(t, tc.fuzz, tc.file)
			err := tc.decode(b)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("decode: %v, want %v", err, tc.want)
			}
		})
	}
}
