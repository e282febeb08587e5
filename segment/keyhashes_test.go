package segment

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// KeyHashes gives the hash of each distinct key of a sealed segment once,
// from its tables, from the index rebuilt when they are damaged, and after
// a reopen; it refuses an active segment and reports a lost index rather
// than give no keys.
func TestKeyHashes(t *testing.T) {
	const dim, capacity = 2, 32
	dir, s, _, km := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(41, 42)), keyedSpecs()[:5])
	var want []uint64
	for k := range km.lastRow() {
		want = append(want, HashKey([]byte(k)))
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("no keys: the test needs some")
	}
	hashes := func(s *Segment) ([]uint64, error) {
		var got []uint64
		err := s.KeyHashes(func(h uint64) { got = append(got, h) })
		slices.Sort(got)
		return got, err
	}
	check := func(s *Segment, what string) {
		t.Helper()
		got, err := hashes(s)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: KeyHashes = %x, %v; want %x", what, got, err, want)
		}
	}
	if _, err := hashes(s); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("KeyHashes of an active segment: %v, want ErrInvalidArgument", err)
	}
	if n := s.KeyCount(); n != 0 {
		t.Fatalf("KeyCount of an active segment: %d", n)
	}
	seal := mustSeal(t, s)
	check(s, "sealed")
	if n := s.KeyCount(); n != uint64(len(want)) {
		t.Fatalf("KeyCount = %d, want %d", n, len(want))
	}
	tr := *s.trailer
	mustClose(t, s)
	s = mustOpen(t, dir, 1, dim, capacity, &seal)
	check(s, "reopened")
	if n := s.KeyCount(); n != uint64(len(want)) {
		t.Fatalf("KeyCount after reopen = %d, want %d", n, len(want))
	}
	mustClose(t, s)

	// Damaged key table: rebuilt from the blobs.
	xorByte(t, segPath(dir, 1), int64(tr.keyTabOff)+3, 0x10)
	s = mustOpen(t, dir, 1, dim, capacity, &seal)
	check(s, "tables damaged")
	if s.TablesErr() == nil || s.mem == nil {
		t.Fatalf("damaged tables were used: %v", s.TablesErr())
	}
	mustClose(t, s)

	// The blobs too: no index, and KeyHashes says so.
	xorByte(t, segPath(dir, 1), int64(tr.blobEnd)-1, 0x04)
	s = mustOpen(t, dir, 1, dim, capacity, &seal)
	defer s.Close()
	if got, err := hashes(s); !errors.Is(err, errs.ErrCorrupt) || len(got) != 0 {
		t.Fatalf("KeyHashes without an index = %x, %v; want none and ErrCorrupt", got, err)
	}
}
