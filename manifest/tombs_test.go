package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// sampleTombs is a valid checkpoint: ascending segment numbers, bitsets of
// several lengths, none ending in a zero word.
func sampleTombs() []SegmentTombs {
	return []SegmentTombs{
		{Number: 2, Bits: []uint64{1}},
		{Number: 5, Bits: []uint64{0, 0, 1 << 63}},
		{Number: 6, Bits: []uint64{math.MaxUint64, 0, 0x8000_0000_0000_0001, 7}},
		{Number: 1 << 40, Bits: []uint64{0xdeadbeef}},
	}
}

// tombsBody builds the body of a tombstone file as stored, with no
// sorting or trimming.
func tombsBody(gen uint64, segs []SegmentTombs) []byte {
	le := binary.LittleEndian
	b := le.AppendUint64(nil, gen)
	b = le.AppendUint32(b, uint32(len(segs)))
	for _, s := range segs {
		b = le.AppendUint64(b, s.Number)
		b = le.AppendUint32(b, uint32(len(s.Bits)))
		for _, w := range s.Bits {
			b = le.AppendUint64(b, w)
		}
	}
	return b
}

// rawTombs returns tombstone file bytes holding segs exactly as given.
func rawTombs(gen uint64, segs []SegmentTombs) []byte {
	return framed(tombsMagic, TombsVersion, tombsBody(gen, segs))
}

func cloneTombs(segs []SegmentTombs) []SegmentTombs {
	if segs == nil {
		return nil
	}
	c := make([]SegmentTombs, len(segs))
	for i, s := range segs {
		c[i] = SegmentTombs{Number: s.Number, Bits: append([]uint64(nil), s.Bits...)}
	}
	return c
}

func TestTombsFileName(t *testing.T) {
	tombsKind.fileNames(t, map[uint64]string{
		0:              "000000.tombs",
		42:             "000042.tombs",
		999999:         "999999.tombs",
		1000000:        "1000000.tombs",
		math.MaxUint64: "18446744073709551615.tombs",
	})
}

func TestTombsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  uint64
		segs []SegmentTombs
		want []SegmentTombs // what decodes; nil means segs
		size int            // encoded size, 0: not checked
	}{
		{name: "nil", gen: 1, size: 36},
		{name: "empty", gen: 2, segs: []SegmentTombs{}, want: []SegmentTombs(nil), size: 36},
		{name: "one", gen: 3, segs: []SegmentTombs{{Number: 0, Bits: []uint64{5}}}, size: 36 + 12 + 8},
		{name: "several", gen: 4, segs: sampleTombs()},
		{name: "no bits", gen: 5, segs: []SegmentTombs{{Number: 1}, {Number: 3, Bits: []uint64{}}},
			want: []SegmentTombs{{Number: 1}, {Number: 3}}, size: 36 + 2*12},
		{name: "trailing zero words trimmed", gen: 6,
			segs: []SegmentTombs{{Number: 1, Bits: []uint64{0, 1, 0, 0}}, {Number: 2, Bits: []uint64{0, 0}}},
			want: []SegmentTombs{{Number: 1, Bits: []uint64{0, 1}}, {Number: 2}}, size: 36 + 12 + 16 + 12},
		{name: "unsorted input", gen: 7,
			segs: []SegmentTombs{{Number: 9, Bits: []uint64{9}}, {Number: 1, Bits: []uint64{1}}, {Number: 4, Bits: []uint64{4}}},
			want: []SegmentTombs{{Number: 1, Bits: []uint64{1}}, {Number: 4, Bits: []uint64{4}}, {Number: 9, Bits: []uint64{9}}}},
		{name: "extreme numbers", gen: math.MaxUint64,
			segs: []SegmentTombs{{Number: 0, Bits: []uint64{1}}, {Number: math.MaxUint64, Bits: []uint64{math.MaxUint64}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tombsKind.roundTrip(t, tc.gen, tc.segs, tc.want, tc.size)
		})
	}
}

func TestTombsLayout(t *testing.T) {
	b := EncodeTombs(0x0102030405060708, []SegmentTombs{{Number: 3, Bits: []uint64{0xaa, 0xbb, 0}}})
	want := framed("memvecTS", 1, tombsBody(0x0102030405060708, []SegmentTombs{{Number: 3, Bits: []uint64{0xaa, 0xbb}}}))
	if !bytes.Equal(b, want) {
		t.Fatalf("EncodeTombs:\n% x\nwant\n% x", b, want)
	}
	le := binary.LittleEndian
	if le.Uint32(b[12:]) != 8+4+8+4+16 || le.Uint32(b[16+8+4+8:]) != 2 {
		t.Fatalf("bad body length or word count: % x", b)
	}
}

func TestDecodeTombsEveryByteFlip(t *testing.T) {
	tombsKind.everyByteFlip(t, EncodeTombs(11, sampleTombs()))
}

func TestDecodeTombsEveryTruncation(t *testing.T) {
	for _, segs := range [][]SegmentTombs{nil, sampleTombs()} {
		tombsKind.everyTruncation(t, 11, segs)
	}
}

func TestDecodeTombsFraming(t *testing.T) {
	good := EncodeTombs(3, sampleTombs())
	tombsKind.versions(t, good)
	_, _, err := DecodeTombs(EncodeIDMap(3, nil))
	wantOnlyCorrupt(t, "ID-map file", err)
	_, _, err = DecodeTombs(framed(tombsMagic, TombsVersion, append(tombsBody(3, sampleTombs()), 0, 0, 0, 0)))
	wantOnlyCorrupt(t, "trailing body bytes", err)
}

func TestDecodeTombsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		segs []SegmentTombs
	}{
		{"unsorted", []SegmentTombs{{Number: 5, Bits: []uint64{1}}, {Number: 2, Bits: []uint64{1}}}},
		{"duplicate", []SegmentTombs{{Number: 5, Bits: []uint64{1}}, {Number: 5, Bits: []uint64{2}}}},
		{"duplicate without bits", []SegmentTombs{{Number: 0}, {Number: 0}}},
		{"trailing zero word", []SegmentTombs{{Number: 5, Bits: []uint64{1, 0}}}},
		{"single zero word", []SegmentTombs{{Number: 1, Bits: []uint64{1}}, {Number: 5, Bits: []uint64{0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, segs, err := DecodeTombs(rawTombs(1, tc.segs))
			tombsKind.wantFailed(t, "DecodeTombs", gen, segs, err)
		})
	}
}

func TestDecodeTombsHugeCountsAllocateLittle(t *testing.T) {
	b := rawTombs(1, sampleTombs())
	segCountOff := 16 + 8
	wordCountOff := segCountOff + 4 + 8 // first segment's word count
	for _, off := range []int{segCountOff, wordCountOff} {
		d := bytes.Clone(b)
		binary.LittleEndian.PutUint32(d[off:], math.MaxUint32)
		tombsKind.allocatesLittle(t, fmt.Sprintf("huge count at %d", off), resealFramed(d))
	}
	if avg := testing.AllocsPerRun(20, func() { DecodeTombs(b) }); avg > float64(1+len(sampleTombs())) {
		t.Errorf("DecodeTombs of %d bytes: %.0f allocations", len(b), avg)
	}
}

func TestWriteReadTombs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		gen  uint64
		segs []SegmentTombs
		want []SegmentTombs
	}{
		{1, sampleTombs(), sampleTombs()},
		{2, nil, nil},
		{3, []SegmentTombs{{Number: 8, Bits: []uint64{3, 0}}, {Number: 4}}, []SegmentTombs{{Number: 4}, {Number: 8, Bits: []uint64{3}}}},
	} {
		tombsKind.writeRead(t, dir, tc.gen, tc.segs, tc.want)
	}
	// Writing again truncates.
	shorter := []SegmentTombs{{Number: 1, Bits: []uint64{1}}}
	tombsKind.writeRead(t, dir, 1, shorter, shorter)
	// A repeated segment number is the caller's error, and writes nothing.
	err := WriteTombs(nil, dir, 9, []SegmentTombs{{Number: 3}, {Number: 1}, {Number: 3, Bits: []uint64{1}}})
	if !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("WriteTombs with a repeated segment: %v, want ErrInvalidArgument", err)
	}
	if _, err := os.Stat(filepath.Join(dir, TombsFileName(9))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rejected WriteTombs left a file: %v", err)
	}
}

func TestReadTombsErrors(t *testing.T) {
	dir := t.TempDir()
	tombsKind.readMissing(t, dir, 4)
	tombsKind.readCorrupt(t, "wrong generation", dir, 4, EncodeTombs(5, sampleTombs()))
	b := EncodeTombs(4, sampleTombs())
	b[20] ^= 0x40
	tombsKind.readCorrupt(t, "damaged file", dir, 4, b)
	tombsKind.writeNoDir(t, dir)
}

func TestTombsSeedCorpus(t *testing.T) {
	tombsKind.seedCorpus(t, []seedCase{
		{"valid", nil},
		{"empty", nil},
		{"truncated", errs.ErrCorrupt},
		{"version2", errs.ErrVersion},
		{"huge_count", errs.ErrCorrupt},
		{"trailing_zero_word", errs.ErrCorrupt},
		{"unsorted", errs.ErrCorrupt},
	})
}

func FuzzDecodeTombs(f *testing.F) {
	good := EncodeTombs(11, sampleTombs())
	f.Add(good)
	f.Add(EncodeTombs(0, nil))
	f.Add(EncodeTombs(1, []SegmentTombs{{Number: 1}, {Number: 2}}))
	fuzzSeeds(f, good, TombsVersion, 24)
	f.Add(rawTombs(1, []SegmentTombs{{Number: 5, Bits: []uint64{1, 0}}}))
	f.Add(rawTombs(1, []SegmentTombs{{Number: 5}, {Number: 5}}))
	tombsKind.fuzzDecode(f, checkDecodedTombs)
}

// checkDecodedTombs checks the checkpoint that DecodeTombs made of b, which
// re-encodes to b (so no bitset ends in a zero word and the numbers
// ascend)...
func checkDecodedTombs(t *testing.T, b []byte, segs []SegmentTombs) {
	t.Helper()
	for i := 1; i < len(segs); i++ {
		if segs[i].Number <= segs[i-1].Number {
			t.Fatalf("segment %d follows %d", segs[i].Number, segs[i-1].Number)
		}
	}
	// ...and holds no more than its bytes describe (so the decoder
	// allocated in proportion to len(b)).
	n := 36
	for _, s := range segs {
		n += 12 + 8*len(s.Bits)
	}
	if n != len(b) {
		t.Fatalf("%d bytes decoded to %d bytes' worth of segments", len(b), n)
	}
}
