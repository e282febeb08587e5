package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
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

func TestIDMapFileName(t *testing.T) {
	idMapKind.fileNames(t, map[uint64]string{
		0:              "000000.idmap",
		7:              "000007.idmap",
		123456:         "123456.idmap",
		1234567:        "1234567.idmap",
		math.MaxUint64: "18446744073709551615.idmap",
	})
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
			idMapKind.roundTrip(t, tc.epoch, tc.runs, tc.want, 36+24*len(tc.runs))
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
	idMapKind.everyByteFlip(t, EncodeIDMap(9, sampleIDRuns()))
}

func TestDecodeIDMapEveryTruncation(t *testing.T) {
	for _, runs := range [][]IDRun{nil, sampleIDRuns()} {
		idMapKind.everyTruncation(t, 9, runs)
	}
}

func TestDecodeIDMapFraming(t *testing.T) {
	good := EncodeIDMap(3, sampleIDRuns())
	// An intact newer version is ErrVersion, an intact older one (0)
	// ErrCorrupt.
	idMapKind.versions(t, good)
	// Another file kind's framing is not an ID map.
	_, _, err := DecodeIDMap(EncodeTombs(3, nil))
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
			idMapKind.wantFailed(t, "DecodeIDMap", epoch, runs, err)
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
	idMapKind.allocatesLittle(t, "huge run count", resealFramed(b))
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
		idMapKind.writeRead(t, dir, tc.epoch, tc.runs, tc.runs)
	}
	// Writing again truncates: a shorter map replaces a longer one whole.
	shorter := []IDRun{{Old: 3, New: 4, Len: 5}}
	idMapKind.writeRead(t, dir, 1, shorter, shorter)
}

func TestReadIDMapErrors(t *testing.T) {
	dir := t.TempDir()
	idMapKind.readMissing(t, dir, 4)
	// The bytes of another epoch under this epoch's name.
	idMapKind.readCorrupt(t, "wrong epoch", dir, 4, EncodeIDMap(3, sampleIDRuns()))
	// A damaged file.
	b := EncodeIDMap(4, sampleIDRuns())
	b[len(b)/2] ^= 1
	idMapKind.readCorrupt(t, "damaged file", dir, 4, b)
	// A newer format.
	if err := os.WriteFile(filepath.Join(dir, IDMapFileName(4)), withVersion(EncodeIDMap(4, nil), IDMapVersion+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIDMap(nil, dir, 4); !errors.Is(err, errs.ErrVersion) {
		t.Fatalf("newer format: %v, want ErrVersion", err)
	}
	// Writing into a directory that does not exist fails.
	idMapKind.writeNoDir(t, dir)
}

func TestIDMapSeedCorpus(t *testing.T) {
	idMapKind.seedCorpus(t, []seedCase{
		{"valid", nil},
		{"empty", nil},
		{"truncated", errs.ErrCorrupt},
		{"version2", errs.ErrVersion},
		{"bad_checksum", errs.ErrCorrupt},
		{"huge_count", errs.ErrCorrupt},
		{"overlapping", errs.ErrCorrupt},
	})
}

func FuzzDecodeIDMap(f *testing.F) {
	good := EncodeIDMap(9, sampleIDRuns())
	f.Add(good)
	f.Add(EncodeIDMap(0, nil))
	f.Add(EncodeIDMap(math.MaxUint64, []IDRun{{Old: math.MaxUint64 - 1, New: 0, Len: 1}}))
	fuzzSeeds(f, good, IDMapVersion, 24)
	for _, tc := range badIDRuns {
		f.Add(encodeIDMap(1, tc.runs))
	}
	bad := encodeIDMap(1, badIDRuns[len(badIDRuns)-1].runs)
	f.Add(bad[16 : len(bad)-8])
	idMapKind.fuzzDecode(f, checkDecodedIDMap)
}

// checkDecodedIDMap checks the runs that DecodeIDMap made of b, which
// re-encode to b...
func checkDecodedIDMap(t *testing.T, b []byte, runs []IDRun) {
	t.Helper()
	// ...hold no more runs than the bytes describe (so the decoder
	// allocated in proportion to len(b))...
	if 36+24*len(runs) != len(b) {
		t.Fatalf("%d bytes decoded to %d runs", len(b), len(runs))
	}
	// ...and obey the format's rules, so WriteIDMap would accept them.
	if err := checkIDRuns(runs); err != nil {
		t.Fatalf("decoded runs break the rules: %v", err)
	}
}
