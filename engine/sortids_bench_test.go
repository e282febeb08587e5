package engine

import (
	"math/rand"
	"slices"
	"testing"
)

// BenchmarkSortIDs compares sortIDs with the comparison sort SearchIn used
// before, on 5M random IDs below 5M:
//
//	go test -run '^$' -bench SortIDs ./engine
func BenchmarkSortIDs(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	ids := make([]uint64, 5_000_000)
	for i := range ids {
		ids[i] = uint64(rng.Intn(len(ids)))
	}
	b.Run("radix", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sortIDs(ids, uint64(len(ids)), func() error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := slices.Clone(ids)
			slices.Sort(s)
			_ = slices.Compact(s)
		}
	})
}
