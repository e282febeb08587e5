package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// framedKind is one of the numbered files framed like the manifest (ID
// maps, tombstone checkpoints) as its tests see it: S is the value the file
// holds, under a number (epoch, generation) that its name repeats. Its
// methods, here and in framed_files_test.go and framed_fuzz_test.go, are
// the checks both kinds' tests make the same way.
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
