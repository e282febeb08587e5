package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/testutil"
)

func FuzzDecode(f *testing.F) {
	good := Encode(sample())
	f.Add(good)
	f.Add(Encode(&Manifest{Dimension: 1}))
	f.Add(good[:len(good)-1])
	f.Add(good[:24])
	f.Add([]byte{})
	next := bytes.Clone(good)
	binary.LittleEndian.PutUint32(next[8:], Version+1)
	f.Add(reseal(next))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[offSegCount:], 1<<31)
	f.Add(reseal(huge))
	flags := bytes.Clone(good)
	flags[offSeg0Flag] = 3
	f.Add(reseal(flags))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		// Random bytes almost never pass the checksum, so also decode the
		// input with its length field and checksum repaired: that is what
		// exercises the body parser and check.
		if len(b) >= 24 {
			checkDecode(t, reseal(b))
		}
	})
}

// checkDecode asserts what Decode must do with any input.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	m, err := Decode(b)
	if err != nil {
		if m != nil {
			t.Fatal("Decode returned a manifest with an error")
		}
		testutil.WantCorruptOrVersion(t, err)
		return
	}
	// Whatever decodes re-encodes to the same bytes (a version 1 file
	// re-encodes as the current version, which decodes to the same
	// manifest)...
	enc := Encode(m)
	if binary.LittleEndian.Uint32(b[8:]) == Version && !bytes.Equal(enc, b) {
		t.Fatalf("Encode(Decode(b)) differs from b:\n%x\n%x", enc, b)
	}
	if m2, err := Decode(enc); err != nil || !reflect.DeepEqual(normalize(m2), normalize(m)) {
		t.Fatalf("Decode(Encode(m)) = %+v, %v; want %+v", m2, err, m)
	}
	// ...and holds no more elements than its bytes can describe (so Decode
	// allocated in proportion to len(b)).
	runs := 0
	for _, s := range m.Segments {
		runs += len(s.Runs)
	}
	if len(m.Segments)*37+runs*24+len(m.IDMaps)*8 > len(b) {
		t.Fatalf("%d bytes decoded to %d segments, %d runs, %d ID maps", len(b), len(m.Segments), runs, len(m.IDMaps))
	}
}

// TestSeedCorpus checks that the committed seed corpus holds what its file
// names say. Only the framing is fixed across format versions, so the
// "framed" seeds are checked to pass it (length field and checksum hold, so
// that the fuzzer starts inside the body), not to decode.
// errV1 marks a seed written by version 1 of the format, which must still
// decode (with every salt 0).
var errV1 = errors.New("version 1")

func TestSeedCorpus(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error // nil: a well-framed current-version manifest
	}{
		{"valid", nil},
		{"minimal", nil},
		{"huge_count", nil},
		{"truncated", errs.ErrCorrupt},
		{"version3", errs.ErrVersion},
		{"v1_valid", errV1},
		{"v1_minimal", errV1},
		{"v1_huge_count", errs.ErrCorrupt},
		{"bad_checksum", errs.ErrCorrupt},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := testutil.ReadFuzzSeed(t, "FuzzDecode", tc.file)
			m, err := Decode(b)
			if tc.want == errV1 {
				if err != nil || binary.LittleEndian.Uint32(b[8:]) != 1 {
					t.Fatalf("a version 1 seed: Decode: %v", err)
				}
				for _, s := range m.Segments {
					if s.Salt != 0 {
						t.Fatalf("version 1 entry decoded with salt %#x", s.Salt)
					}
				}
				return
			}
			if tc.want == nil {
				if len(b) < 24 || string(b[:8]) != magic || binary.LittleEndian.Uint32(b[8:]) != Version ||
					!bytes.Equal(reseal(b), b) {
					t.Fatal("seed is not a well-framed manifest of this version")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
		})
	}
}
