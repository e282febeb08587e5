package segment

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// The sum table is written at Seal with the key tables, before the seal's
// sync: a power cut or a failed write at any of the seal's writes leaves
// every synced row, and a seal that went on without its table still
// serves every row and code block (recomputing the table) and verifies.

// sealFaultSegment writes the durable rows of a fresh segment through f.
func sealFaultSegment(t *testing.T, f *vfs.Fault) (dir string, s *Segment, m *model) {
	t.Helper()
	dir = t.TempDir()
	s, err := Create(f, dir, 1, sumsDim, sumsCap, 0)
	if err != nil {
		t.Fatal(err)
	}
	m = &model{dim: sumsDim}
	appendBatches(t, s, m, rand.New(rand.NewPCG(3, 4)), []batchSpec{
		{firstID: 1, rows: 700, durable: true}, {firstID: 701, rows: 900, durable: true},
	})
	return dir, s, m
}

// sealWrites counts the writes of a Seal of sealFaultSegment's segment.
func sealWrites(t *testing.T) int {
	f := vfs.NewFault(nil, 0)
	_, s, _ := sealFaultSegment(t, f)
	defer s.Close()
	n := 0
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		if ev.Kind == vfs.OpWrite {
			n++
		}
		return vfs.Decision{}
	})
	mustSeal(t, s)
	if n < 3 {
		t.Fatalf("Seal made %d writes: want the sum table, the trailer's body and its first byte", n)
	}
	return n
}

// checkSealedServes opens the segment sealed with seal and checks that it
// serves every row and code block, exactly, and verifies but for damage
// to its derived tables.
func checkSealedServes(t *testing.T, dir string, seal Seal, m *model, what string) {
	t.Helper()
	s := mustOpen(t, dir, 1, sumsDim, sumsCap, &seal)
	defer s.Close()
	if err := s.CheckRows(0, seal.Rows); err != nil {
		t.Fatalf("%s: CheckRows: %v", what, err)
	}
	if err := s.CheckCodes(0, seal.Rows); err != nil {
		t.Fatalf("%s: CheckCodes: %v", what, err)
	}
	checkModel(t, s, m)
	if err := s.Verify(context.Background(), &seal); err != nil && !errors.Is(err, ErrTables) {
		t.Fatalf("%s: Verify: %v", what, err)
	}
}

func TestSealCutOrFailedAtEveryWrite(t *testing.T) {
	n := sealWrites(t)
	for k := 1; k <= n; k++ {
		// A failed write (a full disk): the seal goes on without what
		// the write was for, and the sealed segment serves every row.
		f := vfs.NewFault(nil, uint64(k))
		dir, s, m := sealFaultSegment(t, f)
		i := 0
		f.SetHook(func(ev vfs.Event) vfs.Decision {
			if ev.Kind == vfs.OpWrite {
				if i++; i == k {
					return vfs.Decision{Err: errFull, Short: ev.Len / 2}
				}
			}
			return vfs.Decision{}
		})
		seal := mustSeal(t, s)
		mustClose(t, s)
		checkSealedServes(t, dir, seal, m, "failed write")

		// A torn power cut at the write: the seal is not acknowledged
		// (no manifest records it), the segment reopens active with
		// every synced row, and seals again.
		f = vfs.NewFault(nil, uint64(k))
		f.Sector = 512
		dir, s, m = sealFaultSegment(t, f)
		i = 0
		f.SetHook(func(ev vfs.Event) vfs.Decision {
			if ev.Kind == vfs.OpWrite {
				if i++; i == k {
					return vfs.Decision{Crash: true, Torn: true}
				}
			}
			return vfs.Decision{}
		})
		if _, err := s.Seal(); !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("write %d: Seal through a power cut: %v", k, err)
		}
		s.Close()
		r, err := OpenActive(nil, dir, 1, sumsDim, sumsCap, m.rows())
		if err != nil {
			t.Fatalf("write %d: OpenActive after the cut: %v", k, err)
		}
		checkModel(t, r, m)
		seal = mustSeal(t, r)
		mustClose(t, r)
		checkSealedServes(t, dir, seal, m, "resealed after a cut")
	}
}
