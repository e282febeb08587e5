package engine

import (
	"math/rand"
	"testing"
)

// TestAnyDeleted checks anyDeleted's word masks against a row-by-row scan.
func TestAnyDeleted(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		tb := newTombs(300)
		for i := rng.Intn(4); i > 0; i-- {
			tb.add(uint64(rng.Intn(300)))
		}
		from := uint64(rng.Intn(300))
		to := from + uint64(rng.Intn(int(300-from)+1))
		want := false
		for r := from; r < to; r++ {
			want = want || tb.has(r)
		}
		if got := anyDeleted(tb, from, to); got != want {
			t.Fatalf("anyDeleted([%d, %d)) = %v, want %v; tombs %v", from, to, got, want, tb.bits)
		}
	}
}
