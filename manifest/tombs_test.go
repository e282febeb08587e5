package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
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
	for gen, want := range map[uint64]string{
		0:              "000000.tombs",
		42:             "000042.tombs",
		999999:         "999999.tombs",
		1000000:        "1000000.tombs",
		math.MaxUint64: "18446744073709551615.tombs",
	} {
		if got := TombsFileName(gen); got != want {
			t.Errorf("TombsFileName(%d) = %q, want %q", gen, got, want)
		}
	}
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
			want := tc.want
			if want == nil && len(tc.segs) > 0 {
				want = tc.segs
			}
			orig := cloneTombs(tc.segs)
			b := EncodeTombs(tc.gen, tc.segs)
			if !reflect.DeepEqual(cloneTombs(tc.segs), orig) {
				t.Fatalf("EncodeTombs modified its argument: %v, was %v", tc.segs, orig)
			}
			if tc.size != 0 && len(b) != tc.size {
				t.Fatalf("encoded in %d bytes, want %d", len(b), tc.size)
			}
			gen, segs, err := DecodeTombs(b)
			if err != nil {
				t.Fatalf("DecodeTombs: %v", err)
			}
			if gen != tc.gen || !reflect.DeepEqual(segs, want) {
				t.Fatalf("decoded gen %d segs %v, want %d %v", gen, segs, tc.gen, want)
			}
			if again := EncodeTombs(gen, segs); !bytes.Equal(again, b) {
				t.Fatal("re-encoding the decoded checkpoint changed its bytes")
			}
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
	b := EncodeTombs(11, sampleTombs())
	for off := range b {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[off] ^= mask
			gen, segs, err := DecodeTombs(d)
			if gen != 0 || segs != nil {
				t.Fatalf("byte %d ^= %#x: DecodeTombs returned %d, %v with an error", off, mask, gen, segs)
			}
			wantOnlyCorrupt(t, "byte flip", err)
		}
	}
}

func TestDecodeTombsEveryTruncation(t *testing.T) {
	for _, segs := range [][]SegmentTombs{nil, sampleTombs()} {
		b := EncodeTombs(11, segs)
		for n := 0; n < len(b); n++ {
			_, got, err := DecodeTombs(b[:n])
			if got != nil {
				t.Fatalf("truncation to %d bytes returned segments", n)
			}
			wantOnlyCorrupt(t, "truncation", err)
		}
		for _, extra := range [][]byte{{0}, {1, 2, 3, 4, 5, 6, 7, 8}} {
			_, _, err := DecodeTombs(append(bytes.Clone(b), extra...))
			wantOnlyCorrupt(t, "extra bytes", err)
		}
	}
	_, _, err := DecodeTombs(nil)
	wantOnlyCorrupt(t, "DecodeTombs(nil)", err)
}

func TestDecodeTombsFraming(t *testing.T) {
	good := EncodeTombs(3, sampleTombs())
	newer := bytes.Clone(good)
	binary.LittleEndian.PutUint32(newer[8:], TombsVersion+1)
	if _, _, err := DecodeTombs(resealFramed(newer)); !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("version %d: %v, want ErrVersion only", TombsVersion+1, err)
	}
	older := bytes.Clone(good)
	binary.LittleEndian.PutUint32(older[8:], 0)
	_, _, err := DecodeTombs(resealFramed(older))
	wantOnlyCorrupt(t, "version 0", err)
	_, _, err = DecodeTombs(EncodeIDMap(3, nil))
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
			if gen != 0 || segs != nil {
				t.Fatalf("returned %d, %v with an error", gen, segs)
			}
			wantOnlyCorrupt(t, "DecodeTombs", err)
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
		d = resealFramed(d)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			_, _, err := DecodeTombs(d)
			wantOnlyCorrupt(t, "huge count", err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("count at %d: 10 decodes of %d bytes allocated %d bytes", off, len(d), n)
		}
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
		if err := WriteTombs(nil, dir, tc.gen, tc.segs); err != nil {
			t.Fatalf("WriteTombs(%d): %v", tc.gen, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, TombsFileName(tc.gen)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, EncodeTombs(tc.gen, tc.segs)) {
			t.Fatalf("file of generation %d differs from EncodeTombs", tc.gen)
		}
		segs, err := ReadTombs(nil, dir, tc.gen)
		if err != nil {
			t.Fatalf("ReadTombs(%d): %v", tc.gen, err)
		}
		if !reflect.DeepEqual(segs, tc.want) {
			t.Fatalf("ReadTombs(%d) = %v, want %v", tc.gen, segs, tc.want)
		}
	}
	// Writing again truncates.
	if err := WriteTombs(nil, dir, 1, []SegmentTombs{{Number: 1, Bits: []uint64{1}}}); err != nil {
		t.Fatal(err)
	}
	if segs, err := ReadTombs(nil, dir, 1); err != nil || !reflect.DeepEqual(segs, []SegmentTombs{{Number: 1, Bits: []uint64{1}}}) {
		t.Fatalf("ReadTombs after rewrite: %v, %v", segs, err)
	}
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
	if _, err := ReadTombs(nil, dir, 4); !errors.Is(err, os.ErrNotExist) || !IsNotExist(err) {
		t.Fatalf("ReadTombs of a missing file: %v, want os.ErrNotExist", err)
	}
	path := filepath.Join(dir, TombsFileName(4))
	if err := os.WriteFile(path, EncodeTombs(5, sampleTombs()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadTombs(nil, dir, 4)
	wantOnlyCorrupt(t, "wrong generation", err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	b := EncodeTombs(4, sampleTombs())
	b[20] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTombs(nil, dir, 4)
	wantOnlyCorrupt(t, "damaged file", err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	if err := WriteTombs(nil, filepath.Join(dir, "missing"), 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteTombs into a missing directory: %v", err)
	}
}

func TestTombsSeedCorpus(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error // nil: decodes
	}{
		{"valid", nil},
		{"empty", nil},
		{"truncated", errs.ErrCorrupt},
		{"version2", errs.ErrVersion},
		{"huge_count", errs.ErrCorrupt},
		{"trailing_zero_word", errs.ErrCorrupt},
		{"unsorted", errs.ErrCorrupt},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := readFuzzSeed(t, "FuzzDecodeTombs", tc.file)
			gen, segs, err := DecodeTombs(b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("DecodeTombs: %v", err)
				}
				if !bytes.Equal(EncodeTombs(gen, segs), b) {
					t.Fatal("seed does not re-encode to itself")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeTombs: %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecodeTombs(f *testing.F) {
	good := EncodeTombs(11, sampleTombs())
	f.Add(good)
	f.Add(EncodeTombs(0, nil))
	f.Add(EncodeTombs(1, []SegmentTombs{{Number: 1}, {Number: 2}}))
	f.Add(good[:len(good)-1])
	f.Add(good[:24])
	f.Add([]byte{})
	v2 := bytes.Clone(good)
	binary.LittleEndian.PutUint32(v2[8:], TombsVersion+1)
	f.Add(resealFramed(v2))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[24:], 1<<31)
	f.Add(resealFramed(huge))
	f.Add(rawTombs(1, []SegmentTombs{{Number: 5, Bits: []uint64{1, 0}}}))
	f.Add(rawTombs(1, []SegmentTombs{{Number: 5}, {Number: 5}}))
	// Bodies, for the input framed as a body.
	f.Add(good[16 : len(good)-8])
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The input as a whole file exercises the framing; the checksum
		// hides the body from most mutations, so the input framed as a
		// body exercises the structural checks too.
		checkTombsDecode(t, b)
		checkTombsDecode(t, framed(tombsMagic, TombsVersion, b))
	})
}

// checkTombsDecode checks what DecodeTombs makes of b: an error that is
// exactly one of ErrCorrupt and ErrVersion, or a value that re-encodes to b
// and is no larger than b describes.
func checkTombsDecode(t *testing.T, b []byte) {
	t.Helper()
	gen, segs, err := DecodeTombs(b)
	if err != nil {
		if gen != 0 || segs != nil {
			t.Fatal("DecodeTombs returned a checkpoint with an error")
		}
		if errors.Is(err, errs.ErrCorrupt) == errors.Is(err, errs.ErrVersion) {
			t.Fatalf("error %v is not exactly one of ErrCorrupt, ErrVersion", err)
		}
		return
	}
	// Whatever decodes re-encodes to the same bytes (so no bitset
	// ends in a zero word and the numbers ascend)...
	if enc := EncodeTombs(gen, segs); !bytes.Equal(enc, b) {
		t.Fatalf("EncodeTombs(DecodeTombs(b)) differs from b:\n%x\n%x", enc, b)
	}
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
