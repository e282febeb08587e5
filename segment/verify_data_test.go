package segment

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// VerifyData, the check before a segment's rows are served, fails on
// damage to the rows or the blobs and passes over damage to the derived
// trailer and key tables alone (which Verify reports).
func TestVerifyDataOfSealedKeyed(t *testing.T) {
	const dim, capacity = 2, 32
	for _, tc := range []struct {
		name    string
		off     func(tr trailer) int64
		corrupt bool // VerifyData must fail
	}{
		{"intact", nil, false},
		{"vector", func(trailer) int64 { return HeaderSize + 5 }, true},
		{"blob", func(tr trailer) int64 { return int64(tr.blobEnd) - 1 }, true},
		{"trailer", func(trailer) int64 { return trailerOff + 16 }, false},
		{"key table", func(tr trailer) int64 { return int64(tr.keyTabOff) + 13 }, false},
		{"blob and trailer", func(tr trailer) int64 { return int64(tr.blobEnd) - 2 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, s, _, _ := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(40, 41)), keyedSpecs()[:5])
			seal := mustSeal(t, s)
			tr := *s.trailer
			mustClose(t, s)
			if tc.off != nil {
				xorByte(t, segPath(dir, 1), tc.off(tr), 0x10)
				if tc.name == "blob and trailer" {
					xorByte(t, segPath(dir, 1), trailerOff+16, 0x10)
				}
			}
			s = mustOpen(t, dir, 1, dim, capacity, &seal)
			defer s.Close()
			err := s.VerifyData(context.Background(), &seal)
			if tc.corrupt != errors.Is(err, errs.ErrCorrupt) || !tc.corrupt && err != nil {
				t.Fatalf("VerifyData: %v, want corrupt %v", err, tc.corrupt)
			}
			full := s.Verify(context.Background(), &seal)
			if (tc.off != nil) != errors.Is(full, errs.ErrCorrupt) {
				t.Fatalf("Verify: %v", full)
			}
		})
	}
}
