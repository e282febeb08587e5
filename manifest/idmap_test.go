package manifest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// sampleIDRuns is a valid ID map: several runs, sorted by Old, whose new
// ranges are in a different order from their old ones.
func sampleIDRuns() []IDRun {
	return []IDRun{
		{Old: 0, New: 5000, Len: 60},
		{Old: 60, New: 4000, Len: 1},
		{Old: 200, New: 4001, Len: 40},
		{Old: 1000, New: 6000, Len: 1 << 20},
	}
}

// resealFramed fixes the body length and checksum of hand-edited ID-map or
// tombstone file bytes, so that a test reaches the checks behind them.
func resealFramed(b []byte) []byte {
	b = bytes.Clone(b[:len(b)-8])
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// framed returns file bytes with the given magic, version and body.
func framed(magic string, version uint32, body []byte) []byte {
	return frameEnd(append(frameStart(magic, version, len(body)), body...))
}

// wantOnlyCorrupt fails unless err wraps errs.ErrCorrupt and not
// errs.ErrVersion.
func wantOnlyCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, errs.ErrCorrupt) || errors.Is(err, errs.ErrVersion) {
		t.Fatalf("%s: %v, want ErrCorrupt only", what, err)
	}
}

// readFuzzSeed parses a single-[]byte `go test fuzz v1` file of the
// committed seed corpus of target.
func readFuzzSeed(t *testing.T, target, name string) []byte {
	t.Helper()
	path := filepath.Join("testdata", "fuzz", target, name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s: not a one-value go test fuzz v1 file: %q", path, lines)
	}
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(v)
}

func TestIDMapFileName(t *testing.T) {
	for epoch, want := range map[uint64]string{
		0:              "000000.idmap",
		7:              "000007.idmap",
		123456:         "123456.idmap",
		1234567:        "1234567.idmap",
		math.MaxUint64: "18446744073709551615.idmap",
	} {
		if got := IDMapFileName(epoch); got != want {
			t.Errorf("IDMapFileName(%d) = %q, want %q", epoch, got, want)
		}
	}
}

func TestIDMapRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		epoch uint64
		runs  []IDRun
		want  []IDRun // nil: runs
	}{
		{name: "nil", epoch: 1},
		{name: "empty", epoch: 2, runs: []IDRun{}, want: nil},
		{name: "one", epoch: 3, runs: []IDRun{{Old: 10, New: 20, Len: 5}}},
		{name: "several", epoch: 4, runs: sampleIDRuns()},
		{name: "adjacent", epoch: 5, runs: []IDRun{{Old: 0, New: 100, Len: 10}, {Old: 10, New: 110, Len: 10}, {Old: 20, New: 90, Len: 10}}},
		{name: "unsorted input", epoch: 6,
			runs: []IDRun{{Old: 50, New: 0, Len: 5}, {Old: 0, New: 10, Len: 5}, {Old: 20, New: 5, Len: 5}},
			want: []IDRun{{Old: 0, New: 10, Len: 5}, {Old: 20, New: 5, Len: 5}, {Old: 50, New: 0, Len: 5}}},
		{name: "top of the ID space", epoch: math.MaxUint64,
			runs: []IDRun{{Old: 0, New: math.MaxUint64 - 1, Len: 1}, {Old: math.MaxUint64 - 10, New: 0, Len: 10}}},
		{name: "whole ID space but one", epoch: 0, runs: []IDRun{{Old: 0, New: 0, Len: math.MaxUint64}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil && len(tc.runs) > 0 {
				want = tc.runs
			}
			orig := slices.Clone(tc.runs)
			b := EncodeIDMap(tc.epoch, tc.runs)
			if !slices.Equal(tc.runs, orig) {
				t.Fatalf("EncodeIDMap modified its argument: %v, was %v", tc.runs, orig)
			}
			if wantLen := 36 + 24*len(tc.runs); len(b) != wantLen {
				t.Fatalf("encoded %d runs in %d bytes, want %d", len(tc.runs), len(b), wantLen)
			}
			epoch, runs, err := DecodeIDMap(b)
			if err != nil {
				t.Fatalf("DecodeIDMap: %v", err)
			}
			if epoch != tc.epoch || !reflect.DeepEqual(runs, want) {
				t.Fatalf("decoded epoch %d runs %v, want %d %v", epoch, runs, tc.epoch, want)
			}
			if again := EncodeIDMap(epoch, runs); !bytes.Equal(again, b) {
				t.Fatal("re-encoding the decoded map changed its bytes")
			}
		})
	}
}

func TestIDMapLayout(t *testing.T) {
	b := EncodeIDMap(0x0102030405060708, []IDRun{{Old: 1, New: 2, Len: 3}})
	le := binary.LittleEndian
	if string(b[:8]) != "memvecIM" || le.Uint32(b[8:]) != 1 || le.Uint32(b[12:]) != 12+24 {
		t.Fatalf("bad header % x", b[:16])
	}
	if le.Uint64(b[16:]) != 0x0102030405060708 || le.Uint32(b[24:]) != 1 ||
		le.Uint64(b[28:]) != 1 || le.Uint64(b[36:]) != 2 || le.Uint64(b[44:]) != 3 {
		t.Fatalf("bad body % x", b[16:52])
	}
	if le.Uint64(b[52:]) != xxhash.Sum64(b[:52]) || len(b) != 60 {
		t.Fatalf("bad checksum or length %d", len(b))
	}
}

func TestDecodeIDMapEveryByteFlip(t *testing.T) {
	b := EncodeIDMap(9, sampleIDRuns())
	for off := range b {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[off] ^= mask
			epoch, runs, err := DecodeIDMap(d)
			if epoch != 0 || runs != nil {
				t.Fatalf("byte %d ^= %#x: DecodeIDMap returned %d, %v with an error", off, mask, epoch, runs)
			}
			wantOnlyCorrupt(t, "byte flip", err)
		}
	}
}

func TestDecodeIDMapEveryTruncation(t *testing.T) {
	for _, runs := range [][]IDRun{nil, sampleIDRuns()} {
		b := EncodeIDMap(9, runs)
		for n := 0; n < len(b); n++ {
			_, got, err := DecodeIDMap(b[:n])
			if got != nil {
				t.Fatalf("truncation to %d bytes returned runs", n)
			}
			wantOnlyCorrupt(t, "truncation", err)
		}
		for _, extra := range [][]byte{{0}, {1, 2, 3, 4, 5, 6, 7, 8}} {
			_, _, err := DecodeIDMap(append(bytes.Clone(b), extra...))
			wantOnlyCorrupt(t, "extra bytes", err)
		}
	}
	_, _, err := DecodeIDMap(nil)
	wantOnlyCorrupt(t, "DecodeIDMap(nil)", err)
}

func TestDecodeIDMapFraming(t *testing.T) {
	good := EncodeIDMap(3, sampleIDRuns())
	// An intact newer version is ErrVersion, an intact older one (0)
	// ErrCorrupt.
	newer := bytes.Clone(good)
	binary.LittleEndian.PutUint32(newer[8:], IDMapVersion+1)
	if _, _, err := DecodeIDMap(resealFramed(newer)); !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("version %d: %v, want ErrVersion only", IDMapVersion+1, err)
	}
	older := bytes.Clone(good)
	binary.LittleEndian.PutUint32(older[8:], 0)
	_, _, err := DecodeIDMap(resealFramed(older))
	wantOnlyCorrupt(t, "version 0", err)
	// Another file kind's framing is not an ID map.
	_, _, err = DecodeIDMap(EncodeTombs(3, nil))
	wantOnlyCorrupt(t, "tombs file", err)
	// Bytes past the runs, inside the checksummed body.
	_, _, err = DecodeIDMap(resealFramed(append(good[:len(good)-8:len(good)-8], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
	wantOnlyCorrupt(t, "trailing body bytes", err)
	// A run count one higher than the runs present.
	more := bytes.Clone(good)
	binary.LittleEndian.PutUint32(more[24:], uint32(len(sampleIDRuns())+1))
	_, _, err = DecodeIDMap(resealFramed(more))
	wantOnlyCorrupt(t, "run count too high", err)
}

// badIDRuns are run lists, in stored order, that break a rule of the format.
var badIDRuns = []struct {
	name string
	runs []IDRun
	// sortable: sorting by Old makes them valid, so WriteIDMap accepts them.
	sortable bool
}{
	{name: "zero len", runs: []IDRun{{Old: 1, New: 100, Len: 0}}},
	{name: "zero len among others", runs: []IDRun{{Old: 0, New: 100, Len: 1}, {Old: 5, New: 200, Len: 0}, {Old: 10, New: 300, Len: 1}}},
	{name: "unsorted", runs: []IDRun{{Old: 10, New: 100, Len: 5}, {Old: 0, New: 200, Len: 5}}, sortable: true},
	{name: "equal old", runs: []IDRun{{Old: 10, New: 100, Len: 5}, {Old: 10, New: 200, Len: 5}}},
	{name: "overlapping old", runs: []IDRun{{Old: 10, New: 100, Len: 5}, {Old: 14, New: 200, Len: 5}}},
	{name: "contained old", runs: []IDRun{{Old: 10, New: 100, Len: 50}, {Old: 20, New: 200, Len: 5}}},
	{name: "overlapping new", runs: []IDRun{{Old: 0, New: 100, Len: 5}, {Old: 10, New: 104, Len: 5}}},
	{name: "overlapping new out of order", runs: []IDRun{{Old: 0, New: 200, Len: 5}, {Old: 10, New: 100, Len: 5}, {Old: 20, New: 196, Len: 5}}},
	{name: "equal new", runs: []IDRun{{Old: 0, New: 100, Len: 1}, {Old: 10, New: 100, Len: 1}}},
	{name: "old overflows", runs: []IDRun{{Old: math.MaxUint64, New: 0, Len: 1}}},
	{name: "old ends at 2^64", runs: []IDRun{{Old: math.MaxUint64 - 9, New: 0, Len: 10}}},
	{name: "old overflows by far", runs: []IDRun{{Old: 1 << 63, New: 0, Len: 1<<63 + 5}}},
	{name: "new overflows", runs: []IDRun{{Old: 0, New: math.MaxUint64, Len: 1}}},
	{name: "new ends at 2^64", runs: []IDRun{{Old: 0, New: 1 << 63, Len: 1 << 63}}},
	{name: "overflow hides overlap", runs: []IDRun{{Old: 0, New: 0, Len: 10}, {Old: math.MaxUint64 - 1, New: 5, Len: 3}}},
}

func TestDecodeIDMapInvalidRuns(t *testing.T) {
	for _, tc := range badIDRuns {
		t.Run(tc.name, func(t *testing.T) {
			// encodeIDMap stores runs in the order given.
			epoch, runs, err := DecodeIDMap(encodeIDMap(7, tc.runs))
			if epoch != 0 || runs != nil {
				t.Fatalf("returned %d, %v with an error", epoch, runs)
			}
			wantOnlyCorrupt(t, "DecodeIDMap", err)
		})
	}
}

func TestWriteIDMapRejectsInvalidRuns(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range badIDRuns {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteIDMap(nil, dir, 1, tc.runs)
			path := filepath.Join(dir, IDMapFileName(1))
			if tc.sortable {
				if err != nil {
					t.Fatalf("WriteIDMap of runs valid once sorted: %v", err)
				}
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errs.ErrInvalidArgument) {
				t.Fatalf("WriteIDMap: %v, want ErrInvalidArgument", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("rejected WriteIDMap left a file: %v", err)
			}
		})
	}
}

func TestDecodeIDMapHugeCountAllocatesLittle(t *testing.T) {
	b := EncodeIDMap(1, sampleIDRuns())
	binary.LittleEndian.PutUint32(b[24:], math.MaxUint32)
	b = resealFramed(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		_, _, err := DecodeIDMap(b)
		wantOnlyCorrupt(t, "huge run count", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("10 decodes of %d bytes allocated %d bytes", len(b), n)
	}
	good := EncodeIDMap(1, sampleIDRuns())
	if avg := testing.AllocsPerRun(20, func() { DecodeIDMap(good) }); avg > 2 {
		t.Errorf("DecodeIDMap of %d bytes: %.0f allocations", len(good), avg)
	}
}

func TestWriteReadIDMap(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		epoch uint64
		runs  []IDRun
	}{{1, sampleIDRuns()}, {2, nil}, {1234567, []IDRun{{Old: 5, New: 6, Len: 1}}}} {
		if err := WriteIDMap(nil, dir, tc.epoch, tc.runs); err != nil {
			t.Fatalf("WriteIDMap(%d): %v", tc.epoch, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, IDMapFileName(tc.epoch)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, EncodeIDMap(tc.epoch, tc.runs)) {
			t.Fatalf("file of epoch %d differs from EncodeIDMap", tc.epoch)
		}
		runs, err := ReadIDMap(nil, dir, tc.epoch)
		if err != nil {
			t.Fatalf("ReadIDMap(%d): %v", tc.epoch, err)
		}
		if !reflect.DeepEqual(runs, tc.runs) {
			t.Fatalf("ReadIDMap(%d) = %v, want %v", tc.epoch, runs, tc.runs)
		}
	}
	// Writing again truncates: a shorter map replaces a longer one whole.
	if err := WriteIDMap(nil, dir, 1, []IDRun{{Old: 3, New: 4, Len: 5}}); err != nil {
		t.Fatal(err)
	}
	if runs, err := ReadIDMap(nil, dir, 1); err != nil || !reflect.DeepEqual(runs, []IDRun{{Old: 3, New: 4, Len: 5}}) {
		t.Fatalf("ReadIDMap after rewrite: %v, %v", runs, err)
	}
}

func TestReadIDMapErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadIDMap(nil, dir, 4); !errors.Is(err, os.ErrNotExist) || !IsNotExist(err) {
		t.Fatalf("ReadIDMap of a missing file: %v, want os.ErrNotExist", err)
	}
	path := filepath.Join(dir, IDMapFileName(4))
	// The bytes of another epoch under this epoch's name.
	if err := os.WriteFile(path, EncodeIDMap(3, sampleIDRuns()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadIDMap(nil, dir, 4)
	wantOnlyCorrupt(t, "wrong epoch", err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	// A damaged file.
	b := EncodeIDMap(4, sampleIDRuns())
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadIDMap(nil, dir, 4)
	wantOnlyCorrupt(t, "damaged file", err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	// A newer format.
	v2 := EncodeIDMap(4, nil)
	binary.LittleEndian.PutUint32(v2[8:], IDMapVersion+1)
	if err := os.WriteFile(path, resealFramed(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIDMap(nil, dir, 4); !errors.Is(err, errs.ErrVersion) {
		t.Fatalf("newer format: %v, want ErrVersion", err)
	}
	// Writing into a directory that does not exist fails.
	if err := WriteIDMap(nil, filepath.Join(dir, "missing"), 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteIDMap into a missing directory: %v", err)
	}
}

func TestIDMapSeedCorpus(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error // nil: decodes
	}{
		{"valid", nil},
		{"empty", nil},
		{"truncated", errs.ErrCorrupt},
		{"version2", errs.ErrVersion},
		{"bad_checksum", errs.ErrCorrupt},
		{"huge_count", errs.ErrCorrupt},
		{"overlapping", errs.ErrCorrupt},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := readFuzzSeed(t, "FuzzDecodeIDMap", tc.file)
			epoch, runs, err := DecodeIDMap(b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("DecodeIDMap: %v", err)
				}
				if !bytes.Equal(EncodeIDMap(epoch, runs), b) {
					t.Fatal("seed does not re-encode to itself")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeIDMap: %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzDecodeIDMap(f *testing.F) {
	good := EncodeIDMap(9, sampleIDRuns())
	f.Add(good)
	f.Add(EncodeIDMap(0, nil))
	f.Add(EncodeIDMap(math.MaxUint64, []IDRun{{Old: math.MaxUint64 - 1, New: 0, Len: 1}}))
	f.Add(good[:len(good)-1])
	f.Add(good[:24])
	f.Add([]byte{})
	v2 := bytes.Clone(good)
	binary.LittleEndian.PutUint32(v2[8:], IDMapVersion+1)
	f.Add(resealFramed(v2))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[24:], 1<<31)
	f.Add(resealFramed(huge))
	for _, tc := range badIDRuns {
		f.Add(encodeIDMap(1, tc.runs))
	}
	bad := encodeIDMap(1, badIDRuns[len(badIDRuns)-1].runs)
	f.Add(bad[16 : len(bad)-8])
	// Bodies, for the input framed as a body.
	f.Add(good[16 : len(good)-8])
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The input as a whole file exercises the framing; the checksum
		// hides the body from most mutations, so the input framed as a
		// body exercises the structural checks too.
		checkIDMapDecode(t, b)
		checkIDMapDecode(t, framed(idMapMagic, IDMapVersion, b))
	})
}

// checkIDMapDecode checks what DecodeIDMap makes of b: an error that is
// exactly one of ErrCorrupt and ErrVersion, or a value that re-encodes to b
// and is no larger than b describes.
func checkIDMapDecode(t *testing.T, b []byte) {
	t.Helper()
	epoch, runs, err := DecodeIDMap(b)
	if err != nil {
		if epoch != 0 || runs != nil {
			t.Fatal("DecodeIDMap returned a map with an error")
		}
		if errors.Is(err, errs.ErrCorrupt) == errors.Is(err, errs.ErrVersion) {
			t.Fatalf("error %v is not exactly one of ErrCorrupt, ErrVersion", err)
		}
		return
	}
	// Whatever decodes re-encodes to the same bytes...
	if enc := EncodeIDMap(epoch, runs); !bytes.Equal(enc, b) {
		t.Fatalf("EncodeIDMap(DecodeIDMap(b)) differs from b:\n%x\n%x", enc, b)
	}
	// ...holds no more runs than its bytes describe (so the decoder
	// allocated in proportion to len(b))...
	if 36+24*len(runs) != len(b) {
		t.Fatalf("%d bytes decoded to %d runs", len(b), len(runs))
	}
	// ...and obeys the format's rules, so WriteIDMap would accept it.
	if err := checkIDRuns(runs); err != nil {
		t.Fatalf("decoded runs break the rules: %v", err)
	}
}
