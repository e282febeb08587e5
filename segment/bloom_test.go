package segment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// modulus.mod is x % d for every d, including the extremes.
func TestModulus(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ds := []uint64{1, 2, 3, 64, 640, 1 << 32, 1<<32 + 1, math.MaxUint64 / 3, math.MaxUint64 - 1, math.MaxUint64}
	for range 200 {
		ds = append(ds, rng.Uint64()>>rng.IntN(64)|1, 64*uint64(1+rng.IntN(1<<20)))
	}
	for _, d := range ds {
		c := newModulus(d)
		xs := []uint64{0, 1, d - 1, d, d + 1, math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 / d * d, math.MaxUint64/d*d - 1}
		for range 200 {
			xs = append(xs, rng.Uint64())
		}
		for _, x := range xs {
			if got := c.mod(x); got != x%d {
				t.Fatalf("%d mod %d = %d, want %d", x, d, got, x%d)
			}
		}
	}
}
