package segment

import (
	"math/rand/v2"
	"testing"
)

// benchSealed is a sealed, reopened segment of 512-d rows (one 64 MiB
// segment holds about 25,000).
func benchSealed(b *testing.B, rows int) (*Segment, Seal) {
	b.Helper()
	const dim = 512
	dir, s, m, rng := newSegment(b, 1, dim, uint64(rows), 1, 2)
	for r := 0; r < rows; r += 1024 {
		vecs, norms := randomRows(rng, min(1024, rows-r), dim)
		if err := s.Append(uint64(r), vecs, norms, false); err != nil {
			b.Fatal(err)
		}
	}
	_ = m
	seal := mustSeal(b, s)
	mustClose(b, s)
	return mustOpen(b, dir, 1, dim, uint64(rows), &seal), seal
}

// BenchmarkCheckRowsChecked is what a scan pays per chunk of 8,192 rows
// once they are checked: a load of their bitmap's words.
func BenchmarkCheckRowsChecked(b *testing.B) {
	s, seal := benchSealed(b, 8192)
	defer s.Close()
	if err := s.CheckRows(0, seal.Rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := s.CheckRows(0, 8192); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckOneRow is a cold Get's check: one row hashed (the table
// is loaded once, outside the loop); each iteration a fresh segment state.
func BenchmarkCheckOneRow(b *testing.B) {
	s, seal := benchSealed(b, 8192)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for range b.N {
		r := rng.Uint64N(seal.Rows)
		if s.rowSum(r) == 0 {
			b.Fatal("zero sum")
		}
	}
}

// BenchmarkFirstFullCheck compares the first check of a whole segment:
// every row and block against the table (a first Exhaustive search) with
// the one checksum of all the bytes before format 5.
func BenchmarkFirstFullCheck(b *testing.B) {
	s, seal := benchSealed(b, 8192)
	defer s.Close()
	b.Run("sumTable", func(b *testing.B) {
		b.SetBytes(int64(seal.Rows) * 2052)
		for range b.N {
			s.sumTable(seal.Rows, true)
		}
	})
	b.Run("oneChecksum", func(b *testing.B) {
		b.SetBytes(int64(seal.Rows) * 2052)
		for range b.N {
			d := s.vectorBytes(0, seal.Rows)
			_ = sealSum(0, d)
		}
	})
}

// BenchmarkCheckRowChecked is what a SearchIn run or a rescored row pays
// once its row is checked: the call and one bit.
func BenchmarkCheckRowChecked(b *testing.B) {
	s, seal := benchSealed(b, 8192)
	defer s.Close()
	if err := s.CheckRows(0, seal.Rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		r := uint64(i*7919) % seal.Rows
		if err := s.CheckRows(r, r+1); err != nil {
			b.Fatal(err)
		}
	}
}
