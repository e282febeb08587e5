package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// FuzzDecodeRecord checks that DecodeRecord never panics, fails only with
// ErrCorrupt or ErrVersion, and that whatever it accepts re-encodes, in the
// frame's version, to the very same bytes (so no two encodings of one
// version decode alike).
func FuzzDecodeRecord(f *testing.F) {
	for _, tc := range bothVersions() {
		f.Add(tc.frame)
	}
	f.Add([]byte{})
	f.Add([]byte("MVTB"))
	f.Add(make([]byte, frameSize(version1, 1)))
	f.Add(make([]byte, frameSize(version2, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrVersion) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrVersion: %v", err)
			}
			return
		}
		if again := appendFrame(nil, r, b[4]); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %x, input was %x", r, again, b)
		}
	})
}
