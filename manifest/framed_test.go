package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/testutil"
)

// framedKind is one of the numbered files framed like the manifest (ID
// maps, tombstone checkpoints) as its tests see it: S is the value the file
// holds, under a number (epoch, generation) that its name repeats. The
// checks below are the ones both kinds' tests make the same way.
type framedKind[S ~[]E, E any] struct {
	decoder  string // the decode function's name, for messages
	magic    string
	fuzz     string // the fuzz target whose seed corpus holds the kind's files
	version  uint32
	fileName func(n uint64) string
	encode   func(n uint64, v S) []byte
	decode   func(b []byte) (uint64, S, error)
	write    func(dir string, n uint64, v S) error
	read     func(dir string, n uint64) (S, error)
	clone    func(v S) S // a deep copy
}

var idMapKind = framedKind[[]IDRun, IDRun]{
	decoder: "DecodeIDMap", magic: idMapMagic, fuzz: "FuzzDecodeIDMap", version: IDMapVersion,
	fileName: IDMapFileName, encode: EncodeIDMap, decode: DecodeIDMap,
	write: func(dir string, n uint64, v []IDRun) error { return WriteIDMap(nil, dir, n, v) },
	read:  func(dir string, n uint64) ([]IDRun, error) { return ReadIDMap(nil, dir, n) },
	clone: slices.Clone[[]IDRun],
}

var tombsKind = framedKind[[]SegmentTombs, SegmentTombs]{
	decoder: "DecodeTombs", magic: tombsMagic, fuzz: "FuzzDecodeTombs", version: TombsVersion,
	fileName: TombsFileName, encode: EncodeTombs, decode: DecodeTombs,
	write: func(dir string, n uint64, v []SegmentTombs) error { return WriteTombs(nil, dir, n, v) },
	read:  func(dir string, n uint64) ([]SegmentTombs, error) { return ReadTombs(nil, dir, n) },
	clone: cloneTombs,
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

// withVersion returns b with its version field set to v and resealed.
func withVersion(b []byte, v uint32) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[8:], v)
	return resealFramed(b)
}

// wantOnlyCorrupt fails unless err wraps errs.ErrCorrupt and not
// errs.ErrVersion.
func wantOnlyCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, errs.ErrCorrupt) || errors.Is(err, errs.ErrVersion) {
		t.Fatalf("%s: %v, want ErrCorrupt only", what, err)
	}
}

// wantFailed fails unless a decode that returned err also returned the
// zero number and a nil value.
func (k framedKind[S, E]) wantFailed(t *testing.T, what string, n uint64, v S, err error) {
	t.Helper()
	if n != 0 || v != nil {
		t.Fatalf("%s: %s returned %d, %v with an error", what, k.decoder, n, v)
	}
	wantOnlyCorrupt(t, what, err)
}

// roundTrip checks that v encodes under number n, without being modified,
// into size bytes (0: not checked), that these decode to n and want (nil:
// v, unless v is empty) and that re-encoding what decoded gives the same
// bytes.
func (k framedKind[S, E]) roundTrip(t *testing.T, n uint64, v, want S, size int) {
	t.Helper()
	if want == nil && len(v) > 0 {
		want = v
	}
	orig := k.clone(v)
	b := k.encode(n, v)
	if !reflect.DeepEqual(k.clone(v), orig) {
		t.Fatalf("encode modified its argument: %v, was %v", v, orig)
	}
	if size != 0 && len(b) != size {
		t.Fatalf("encoded %d elements in %d bytes, want %d", len(v), len(b), size)
	}
	got, gotV, err := k.decode(b)
	if err != nil {
		t.Fatalf("%s: %v", k.decoder, err)
	}
	if got != n || !reflect.DeepEqual(gotV, want) {
		t.Fatalf("decoded number %d value %v, want %d %v", got, gotV, n, want)
	}
	if again := k.encode(got, gotV); !bytes.Equal(again, b) {
		t.Fatal("re-encoding the decoded value changed its bytes")
	}
}

// everyByteFlip checks that flipping bits of any byte of b, a valid file,
// makes it ErrCorrupt and nothing else.
func (k framedKind[S, E]) everyByteFlip(t *testing.T, b []byte) {
	t.Helper()
	for off := range b {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[off] ^= mask
			n, v, err := k.decode(d)
			k.wantFailed(t, fmt.Sprintf("byte %d ^= %#x", off, mask), n, v, err)
		}
	}
}

// everyTruncation checks that every proper prefix of the file holding v
// under number n, the file with bytes appended, and nil are ErrCorrupt.
func (k framedKind[S, E]) everyTruncation(t *testing.T, n uint64, v S) {
	t.Helper()
	b := k.encode(n, v)
	for l := 0; l < len(b); l++ {
		_, got, err := k.decode(b[:l])
		if got != nil {
			t.Fatalf("truncation to %d bytes returned %v", l, got)
		}
		wantOnlyCorrupt(t, "truncation", err)
	}
	for _, extra := range [][]byte{{0}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		_, _, err := k.decode(append(bytes.Clone(b), extra...))
		wantOnlyCorrupt(t, "extra bytes", err)
	}
	_, _, err := k.decode(nil)
	wantOnlyCorrupt(t, k.decoder+"(nil)", err)
}

// versions checks that good, a valid file, is ErrVersion only when it
// claims the next format version and ErrCorrupt when it claims version 0.
func (k framedKind[S, E]) versions(t *testing.T, good []byte) {
	t.Helper()
	if _, _, err := k.decode(withVersion(good, k.version+1)); !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("version %d: %v, want ErrVersion only", k.version+1, err)
	}
	_, _, err := k.decode(withVersion(good, 0))
	wantOnlyCorrupt(t, "version 0", err)
}

// allocatesLittle checks that decoding b, whose count field claims far
// more elements than it holds, fails as ErrCorrupt without allocating
// in proportion to the count.
func (k framedKind[S, E]) allocatesLittle(t *testing.T, what string, b []byte) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		_, _, err := k.decode(b)
		wantOnlyCorrupt(t, what, err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("%s: 10 decodes of %d bytes allocated %d bytes", what, len(b), n)
	}
}

// writeRead writes v under number n into dir and checks that the file is
// exactly what encode makes of v and that reading it back gives want.
func (k framedKind[S, E]) writeRead(t *testing.T, dir string, n uint64, v, want S) {
	t.Helper()
	if err := k.write(dir, n, v); err != nil {
		t.Fatalf("write %d: %v", n, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, k.fileName(n)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, k.encode(n, v)) {
		t.Fatalf("file of number %d differs from its encoding", n)
	}
	got, err := k.read(dir, n)
	if err != nil {
		t.Fatalf("read %d: %v", n, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %d = %v, want %v", n, got, want)
	}
}

// readMissing checks that reading number n from dir, where no such file
// is, fails with os.ErrNotExist.
func (k framedKind[S, E]) readMissing(t *testing.T, dir string, n uint64) {
	t.Helper()
	if _, err := k.read(dir, n); !errors.Is(err, os.ErrNotExist) || !IsNotExist(err) {
		t.Fatalf("read of a missing file: %v, want os.ErrNotExist", err)
	}
}

// readCorrupt stores b as the file of number n in dir and checks that
// reading it is ErrCorrupt only, with an error that names the file.
func (k framedKind[S, E]) readCorrupt(t *testing.T, what, dir string, n uint64, b []byte) {
	t.Helper()
	path := filepath.Join(dir, k.fileName(n))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := k.read(dir, n)
	wantOnlyCorrupt(t, what, err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

// writeNoDir checks that writing into a directory that does not exist
// fails with os.ErrNotExist.
func (k framedKind[S, E]) writeNoDir(t *testing.T, dir string) {
	t.Helper()
	if err := k.write(filepath.Join(dir, "missing"), 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

// seedCase is a file of a fuzz target's committed seed corpus and what
// decoding it gives.
type seedCase struct {
	file string
	want error // nil: decodes
}

// seedCorpus checks that the committed seed corpus holds what its file
// names say: the valid seeds decode and re-encode to themselves, the others
// fail as named.
func (k framedKind[S, E]) seedCorpus(t *testing.T, cases []seedCase) {
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b := testutil.ReadFuzzSeed(t, k.fuzz, tc.file)
			n, v, err := k.decode(b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("%s: %v", k.decoder, err)
				}
				if !bytes.Equal(k.encode(n, v), b) {
					t.Fatal("seed does not re-encode to itself")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", k.decoder, err, tc.want)
			}
		})
	}
}

// fuzzSeeds adds the seeds both kinds' fuzz targets start from, around
// good, a valid file: it cut short, a newer version, a huge count at
// countOff, and bodies for the input framed as a body.
func fuzzSeeds(f *testing.F, good []byte, version uint32, countOff int) {
	f.Add(good[:len(good)-1])
	f.Add(good[:24])
	f.Add([]byte{})
	f.Add(withVersion(good, version+1))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[countOff:], 1<<31)
	f.Add(resealFramed(huge))
	f.Add(good[16 : len(good)-8])
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0})
}

// fuzzDecode runs the kind's fuzz target. The input as a whole file
// exercises the framing; the checksum hides the body from most mutations,
// so the input framed as a body exercises the structural checks too.
// Whatever decodes must re-encode to its bytes and pass valid, the kind's
// own rules.
func (k framedKind[S, E]) fuzzDecode(f *testing.F, valid func(t *testing.T, b []byte, v S)) {
	f.Fuzz(func(t *testing.T, b []byte) {
		k.checkDecode(t, b, valid)
		k.checkDecode(t, framed(k.magic, k.version, b), valid)
	})
}

// checkDecode checks what the decoder makes of b: an error that is exactly
// one of ErrCorrupt and ErrVersion with a zero value, or a value that
// re-encodes to b and passes valid.
func (k framedKind[S, E]) checkDecode(t *testing.T, b []byte, valid func(t *testing.T, b []byte, v S)) {
	t.Helper()
	n, v, err := k.decode(b)
	if err != nil {
		if n != 0 || v != nil {
			t.Fatalf("%s returned a value with an error", k.decoder)
		}
		testutil.WantCorruptOrVersion(t, err)
		return
	}
	if enc := k.encode(n, v); !bytes.Equal(enc, b) {
		t.Fatalf("encode(%s(b)) differs from b:\n%x\n%x", k.decoder, enc, b)
	}
	valid(t, b, v)
}
