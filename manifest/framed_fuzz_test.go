package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/memvec/memvec/internal/testutil"
)

// The checks of a framedKind's fuzz target and committed seed corpus.

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
