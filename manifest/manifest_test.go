package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/segment"
)

// sample is a manifest with sealed segments holding several runs, an empty
// sealed segment, one active segment and kept ID-map epochs; every scalar
// counter has a distinct non-zero value.
func sample() *Manifest {
	return fillCounters(&Manifest{
		Generation:    7,
		Dimension:     384,
		NextID:        1000,
		NextSegment:   9,
		Epoch:         3,
		WALCheckpoint: 12345,
		WALDurable:    12400,
		Segments: []Segment{
			{Number: 2, Capacity: 100, Sealed: true, Rows: 100, Checksum: 0xdeadbeefcafef00d,
				Runs: []segment.Run{{FirstID: 0, FirstRow: 0, Count: 60}, {FirstID: 200, FirstRow: 60, Count: 40}}},
			{Number: 5, Capacity: 100, Sealed: true, Rows: 30, Checksum: 1,
				Runs: []segment.Run{{FirstID: 300, FirstRow: 0, Count: 10}, {FirstID: 400, FirstRow: 10, Count: 20}}},
			{Number: 6, Capacity: 50, Sealed: true},
			{Number: 8, Capacity: 100},
		},
		IDMaps: []uint64{1, 2, 3},
	})
}

// fillCounters gives every uint64 field of m that is still zero a distinct
// value, so that a round trip covers counters added to the format later
// without naming them here.
func fillCounters(m *Manifest) *Manifest {
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 && f.Uint() == 0 {
			f.SetUint(0x1111_0000_0000_0000 * uint64(i+1))
		}
	}
	return m
}

// maxCounters sets every uint64 field of m to the largest value.
func maxCounters(m *Manifest) *Manifest {
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(math.MaxUint64)
		}
	}
	return m
}

// Byte offsets into an encoding, derived from the encoder so that they
// follow fixed-size counters added to the body.
var (
	// scalarLen is the size of the fixed counters at the start of the body.
	scalarLen   = len(Encode(&Manifest{Dimension: 1})) - 16 - 4 - 4 - 8
	offSegCount = 16 + scalarLen
	offSeg0     = offSegCount + 4
	offSeg0Flag = offSeg0 + 16
	offSeg0Runs = offSeg0Flag + 1 + 24 // rows, checksum, salt
)

// normalize makes empty slices nil, so that a manifest built with empty
// slices compares equal to its decoded form.
func normalize(m *Manifest) *Manifest {
	c := m.Clone()
	if len(c.Segments) == 0 {
		c.Segments = nil
	}
	for i := range c.Segments {
		if len(c.Segments[i].Runs) == 0 {
			c.Segments[i].Runs = nil
		}
	}
	if len(c.IDMaps) == 0 {
		c.IDMaps = nil
	}
	return c
}

// reseal fixes the body length and checksum of hand-edited manifest bytes,
// so that a test reaches the structural checks behind them.
func reseal(b []byte) []byte {
	b = bytes.Clone(b[:len(b)-8])
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

func mustDecode(t *testing.T, b []byte) *Manifest {
	t.Helper()
	m, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Manifest
	}{
		{"sample", sample()},
		{"minimal", &Manifest{Dimension: 1}},
		{"empty slices", &Manifest{Dimension: 3, NextSegment: 2, Segments: []Segment{{Number: 1, Capacity: 4, Runs: []segment.Run{}}}, IDMaps: []uint64{}}},
		{"only active", &Manifest{Generation: 1, Dimension: 8, NextSegment: 1, Segments: []Segment{{Number: 0, Capacity: 1}}}},
		{"active with rows and runs", &Manifest{Dimension: 8, NextID: 5, NextSegment: 4, Segments: []Segment{
			{Number: 3, Capacity: 10, Rows: 7, Checksum: 99, Runs: []segment.Run{{FirstID: 1, FirstRow: 0, Count: 7}}}}}},
		{"extremes", maxCounters(&Manifest{
			Dimension: math.MaxUint32,
			Segments: []Segment{{Number: math.MaxUint64 - 1, Capacity: math.MaxUint64, Sealed: true, Rows: math.MaxUint64 - 1, Checksum: math.MaxUint64,
				Runs: []segment.Run{{FirstID: 0, FirstRow: 0, Count: math.MaxUint64 - 1}}}},
			IDMaps: []uint64{0, math.MaxUint64},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Encode(tc.m)
			runs := 0
			for _, s := range tc.m.Segments {
				runs += len(s.Runs)
			}
			wantLen := 16 + scalarLen + 4 + len(tc.m.Segments)*45 + runs*24 + 4 + 8*len(tc.m.IDMaps) + 8
			if len(b) != wantLen {
				t.Fatalf("Encode: %d bytes, want %d", len(b), wantLen)
			}
			if string(b[:8]) != magic || binary.LittleEndian.Uint32(b[8:]) != Version || binary.LittleEndian.Uint32(b[12:]) != uint32(len(b)-24) {
				t.Fatalf("Encode: bad preamble %x", b[:16])
			}
			if binary.LittleEndian.Uint64(b[len(b)-8:]) != xxhash.Sum64(b[:len(b)-8]) {
				t.Fatal("Encode: the last 8 bytes are not the xxhash64 of the rest")
			}
			got := mustDecode(t, b)
			if want := normalize(tc.m); !reflect.DeepEqual(normalize(got), want) {
				t.Fatalf("Decode(Encode(m)) =\n%+v\nwant\n%+v", got, want)
			}
			if again := Encode(got); !bytes.Equal(again, b) {
				t.Fatal("Encode(Decode(b)) != b")
			}
		})
	}
}

func TestStoreLoad(t *testing.T) {
	dir := t.TempDir()
	m := sample()
	if err := Store(nil, dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(m)) {
		t.Fatalf("Load = %+v, want %+v", got, m)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, Encode(m)) {
		t.Fatal("MANIFEST does not hold Encode(m)")
	}

	// A replacement is seen whole, and leaves no temporary file behind.
	next := m.Clone()
	next.Generation++
	next.Segments = next.Segments[:1]
	next.IDMaps = nil
	if err := Store(nil, dir, next); err != nil {
		t.Fatal(err)
	}
	got, err = Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(next)) {
		t.Fatalf("Load after replace = %+v, want %+v", got, next)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Fatalf("directory holds %v, want only %s", entries, FileName)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(nil, dir)
	if !IsNotExist(err) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing manifest: %v, want IsNotExist", err)
	}
	if IsNotExist(nil) || IsNotExist(errs.ErrCorrupt) || IsNotExist(fmt.Errorf("x: %w", errs.ErrNotStore)) {
		t.Fatal("IsNotExist is true for an error that is not about a missing file")
	}
	if !IsNotExist(fmt.Errorf("wrapped: %w", err)) {
		t.Fatal("IsNotExist does not see through wrapping")
	}

	b := Encode(sample())
	b[20] ^= 1
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(nil, dir)
	if m != nil || !errors.Is(err, errs.ErrCorrupt) || IsNotExist(err) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of a damaged manifest: %v, %v; want ErrCorrupt naming %s", m, err, path)
	}

	v2 := Encode(sample())
	binary.LittleEndian.PutUint32(v2[8:], Version+1)
	if err := os.WriteFile(path, reseal(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(nil, dir); !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Load of a version %d manifest: %v, want ErrVersion", Version+1, err)
	}
}

// TestDecodeEveryByteFlip: every single-byte change of an encoded manifest
// is ErrCorrupt. The checksum is checked before the version, so a damaged
// version field is corruption too, never ErrVersion (a newer format is only
// one whose checksum holds: see TestDecodeVersion).
func TestDecodeEveryByteFlip(t *testing.T) {
	b := Encode(sample())
	for off := range b {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[off] ^= mask
			m, err := Decode(d)
			if m != nil || !errors.Is(err, errs.ErrCorrupt) || errors.Is(err, errs.ErrVersion) {
				t.Fatalf("byte %d ^= %#x: Decode = %v, %v; want ErrCorrupt only", off, mask, m, err)
			}
		}
	}
}

func TestDecodeEveryTruncation(t *testing.T) {
	b := Encode(sample())
	for n := 0; n < len(b); n++ {
		m, err := Decode(b[:n])
		if m != nil || !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("Decode of the first %d of %d bytes: %v, %v; want ErrCorrupt", n, len(b), m, err)
		}
	}
	for _, extra := range [][]byte{{0}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		if _, err := Decode(append(bytes.Clone(b), extra...)); !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("Decode with %d extra bytes: %v, want ErrCorrupt", len(extra), err)
		}
	}
	if _, err := Decode(nil); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Decode(nil): %v", err)
	}
}

// TestDecodeVersion: a version other than this build's, under a checksum
// that holds, is a newer format (ErrVersion, whatever its body looks like)
// or, for 0, damage.
func TestDecodeVersion(t *testing.T) {
	odd := reseal(append([]byte(magic+"\x00\x00\x00\x00\x00\x00\x00\x00"), 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0))
	for _, tc := range []struct {
		name string
		b    []byte
		v    uint32
		want error
	}{
		{"zero", Encode(sample()), 0, errs.ErrCorrupt},
		{"next", Encode(sample()), Version + 1, errs.ErrVersion},
		{"max", Encode(sample()), math.MaxUint32, errs.ErrVersion},
		{"next with a body this build cannot parse", odd, Version + 1, errs.ErrVersion},
		{"current with that body", odd, Version, errs.ErrCorrupt},
	} {
		b := bytes.Clone(tc.b)
		binary.LittleEndian.PutUint32(b[8:], tc.v)
		b = reseal(b)
		other := errs.ErrVersion
		if tc.want == errs.ErrVersion {
			other = errs.ErrCorrupt
		}
		if m, err := Decode(b); m != nil || !errors.Is(err, tc.want) || errors.Is(err, other) {
			t.Errorf("%s: version %d: Decode = %v, %v; want only %v", tc.name, tc.v, m, err, tc.want)
		}
	}
}

// TestCheck builds manifests that break an invariant, encodes them (Encode
// does not check) and expects Decode to refuse them; the good cases sit at
// the edge of each rule.
func TestCheck(t *testing.T) {
	run := func(id, row, n uint64) segment.Run { return segment.Run{FirstID: id, FirstRow: row, Count: n} }
	sealed := func(num, capacity, rows uint64, runs ...segment.Run) Segment {
		return Segment{Number: num, Capacity: capacity, Sealed: true, Rows: rows, Checksum: 7, Runs: runs}
	}
	active := func(num, capacity, rows uint64) Segment { return Segment{Number: num, Capacity: capacity, Rows: rows} }
	base := func(segs ...Segment) *Manifest {
		return &Manifest{Generation: 1, Dimension: 4, NextID: 100, NextSegment: 10, Segments: segs}
	}
	for _, tc := range []struct {
		name string
		m    *Manifest
		msg  string // "" for a manifest that must decode
	}{
		{"zero dimension", &Manifest{Dimension: 0}, "dimension"},
		{"duplicated number", base(sealed(1, 10, 2, run(0, 0, 2)), sealed(1, 10, 2, run(2, 0, 2))), "duplicated"},
		{"duplicated active and sealed", base(sealed(3, 10, 0), active(3, 10, 0)), "duplicated"},
		{"number at next segment", base(active(10, 4, 0)), "not below next"},
		{"number above next segment", base(sealed(math.MaxUint64, 4, 0)), "not below next"},
		{"zero capacity", base(sealed(1, 0, 0)), "capacity"},
		{"zero capacity active", base(active(1, 0, 0)), "capacity"},
		{"rows over capacity", base(sealed(1, 4, 5, run(0, 0, 5))), "capacity"},
		{"rows over capacity active", base(active(1, 4, 5)), "capacity"},
		{"runs cover fewer rows", base(sealed(1, 10, 5, run(0, 0, 4))), "cover"},
		{"runs cover more rows", base(sealed(1, 10, 5, run(0, 0, 3), run(10, 3, 3))), "cover"},
		{"no runs for rows", base(sealed(1, 10, 5)), "cover"},
		{"run with a row gap", base(sealed(1, 10, 5, run(0, 0, 2), run(10, 3, 3))), "out of place"},
		{"run not at row 0", base(sealed(1, 10, 5, run(0, 1, 5))), "out of place"},
		{"overlapping runs", base(sealed(1, 10, 5, run(0, 0, 3), run(10, 2, 3))), "out of place"},
		{"empty run", base(sealed(1, 10, 5, run(0, 0, 5), run(9, 5, 0))), "out of place"},
		{"run beyond next ID", base(sealed(1, 10, 5, run(96, 0, 5))), "out of place"},
		{"run starting at next ID", base(sealed(1, 10, 1, run(100, 0, 1))), "out of place"},
		{"run ID overflow", base(sealed(1, 10, 2, run(math.MaxUint64, 0, 2))), "out of place"},
		{"two active", base(sealed(1, 10, 0), active(2, 10, 0), active(3, 10, 0)), "2 active"},

		{"good: run ends at next ID", base(sealed(1, 10, 5, run(95, 0, 5))), ""},
		{"good: sealed empty", base(sealed(1, 10, 0)), ""},
		{"good: full", base(sealed(1, 5, 5, run(0, 0, 5))), ""},
		{"good: number below next", base(sealed(9, 5, 0), active(0, 5, 5)), ""},
		{"good: active runs unchecked", base(Segment{Number: 2, Capacity: 5, Rows: 3, Runs: []segment.Run{run(500, 7, 0)}}), ""},
		{"good: no segments", base(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(Encode(tc.m))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !reflect.DeepEqual(normalize(m), normalize(tc.m)) {
					t.Fatalf("Decode = %+v, want %+v", m, tc.m)
				}
				return
			}
			wantCorruptMentioning(t, m, err, tc.msg)
		})
	}
}

// wantCorruptMentioning fails unless Decode returned no manifest and an
// error wrapping ErrCorrupt whose text holds msg.
func wantCorruptMentioning(t *testing.T, m *Manifest, err error, msg string) {
	t.Helper()
	if m != nil || !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Decode = %v, %v; want ErrCorrupt", m, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not mention %q", err, msg)
	}
}

func TestDecodeStructure(t *testing.T) {
	b := Encode(sample())
	if b[offSeg0Flag] != 1 || binary.LittleEndian.Uint32(b[offSeg0Runs:]) != 2 || binary.LittleEndian.Uint32(b[offSegCount:]) != 4 {
		t.Fatal("test offsets do not match the encoding")
	}
	idCountOff := len(b) - 8 - 3*8 - 4
	if binary.LittleEndian.Uint32(b[idCountOff:]) != 3 {
		t.Fatal("ID-map count offset does not match the encoding")
	}
	edit := func(f func(b []byte) []byte) []byte { return reseal(f(bytes.Clone(b))) }
	put32 := func(off int, v uint32) []byte {
		return edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b })
	}
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"flags 2", edit(func(b []byte) []byte { b[offSeg0Flag] = 2; return b }), "unknown flags"},
		{"flags 0x81", edit(func(b []byte) []byte { b[offSeg0Flag] = 0x81; return b }), "unknown flags"},
		{"trailing byte", edit(func(b []byte) []byte { return append(b[:len(b)-8], 0, 0, 0, 0, 0, 0, 0, 0, 0) }), "trailing"},
		{"segment count + 1", put32(offSegCount, 5), ""},
		{"segment count - 1", put32(offSegCount, 3), ""},
		{"huge segment count", put32(offSegCount, math.MaxUint32), "count"},
		{"huge run count", put32(offSeg0Runs, math.MaxUint32), "count"},
		{"run count + 1", put32(offSeg0Runs, 3), ""},
		{"huge ID-map count", put32(idCountOff, math.MaxUint32), "count"},
		{"ID-map count + 1", put32(idCountOff, 4), ""},
		{"ID-map count - 1", put32(idCountOff, 2), "trailing"},
		{"body cut after the counters", edit(func(b []byte) []byte { return append(b[:offSegCount+2], make([]byte, 8)...) }), "truncated"},
		{"body length off by one", func() []byte {
			d := bytes.Clone(b)
			binary.LittleEndian.PutUint32(d[12:], uint32(len(d)-23))
			return d
		}(), "body of"},
		{"magic", func() []byte { d := bytes.Clone(b); d[0] = 'M'; return d }(), "magic"},
		{"short", bytes.Clone(b[:23]), "magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.b)
			wantCorruptMentioning(t, m, err, tc.msg)
		})
	}
}

// TestDecodeHugeCountsAllocateLittle: a count field that claims billions of
// elements (with a valid checksum) must not make Decode allocate for them.
func TestDecodeHugeCountsAllocateLittle(t *testing.T) {
	b := Encode(sample())
	idCountOff := len(b) - 8 - 3*8 - 4
	for _, off := range []int{offSegCount, offSeg0Runs, idCountOff} {
		d := bytes.Clone(b)
		binary.LittleEndian.PutUint32(d[off:], math.MaxUint32)
		d = reseal(d)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := Decode(d); !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("count at %d: Decode: %v, want ErrCorrupt", off, err)
			}
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("count at %d: 10 Decodes of %d bytes allocated %d bytes", off, len(d), n)
		}
	}
	// And a well-formed manifest decodes with allocation in proportion
	// to its size.
	avg := testing.AllocsPerRun(20, func() { mustDecode(t, b) })
	if avg > 40 {
		t.Errorf("Decode of %d bytes: %.0f allocations", len(b), avg)
	}
}

func TestSegmentSeal(t *testing.T) {
	m := sample()
	if m.Segments[3].SealInfo() != nil {
		t.Fatal("active segment has a seal")
	}
	s := m.Segments[0]
	got := s.SealInfo()
	want := &segment.Seal{Rows: s.Rows, Checksum: s.Checksum, Runs: s.Runs}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SealInfo() = %+v, want %+v", got, want)
	}
}

func TestClone(t *testing.T) {
	m := sample()
	c := m.Clone()
	if !reflect.DeepEqual(c, m) {
		t.Fatalf("Clone = %+v, want %+v", c, m)
	}
	c.Generation++
	c.Segments[0].Runs[0].Count = 1
	c.Segments[1].Rows = 0
	c.Segments = append(c.Segments, Segment{Number: 99})
	c.IDMaps[0] = 42
	if !reflect.DeepEqual(m, sample()) {
		t.Fatalf("changing the clone changed the original: %+v", m)
	}
}

// TestSaltRoundTrip: version 2 records each segment's salt; a version 1
// file (the testdata store's) decodes with salt 0, "not recorded".
func TestSaltRoundTrip(t *testing.T) {
	m := &Manifest{Dimension: 3, NextSegment: 9, Segments: []Segment{
		{Number: 1, Capacity: 4, Salt: 0xdeadbeefcafe},
		{Number: 2, Capacity: 4, Sealed: true, Salt: math.MaxUint64},
	}}
	got, err := Decode(Encode(m))
	if err != nil || got.Segments[0].Salt != 0xdeadbeefcafe || got.Segments[1].Salt != math.MaxUint64 {
		t.Fatalf("Decode(Encode) = %+v, %v", got, err)
	}
	old, err := Load(nil, filepath.Join("..", "testdata", "store-v1", "store"))
	if err != nil {
		t.Fatal(err)
	}
	if len(old.Segments) == 0 {
		t.Fatal("the version 1 store has no segments")
	}
	for _, s := range old.Segments {
		if s.Salt != 0 {
			t.Fatalf("version 1 segment %d decoded with salt %#x", s.Number, s.Salt)
		}
	}
}
