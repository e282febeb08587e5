package quant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestFMA32 checks the test's float32 FMA against a*b+c computed exactly
// in big.Float and rounded once to float32, on random operands over the
// whole exponent range (subnormal results included) and on sums built to
// land on or next to a float32 rounding midpoint, where a double rounding
// through float64 would go wrong.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func() float32 {
		switch r.IntN(4) {
		case 0:
			return math.Float32frombits(r.Uint32() & 0x807fffff) // subnormal
		case 1:
			return float32(r.NormFloat64())
		default:
			f := float32(math.Ldexp(r.Float64()+0.5, r.IntN(120)-60))
			if r.IntN(2) == 0 {
				f = -f
			}
			return f
		}
	}
	n := 300000
	if testing.Short() {
		n = 30000
	}
	for i := 0; i < n; i++ {
		a, b, c := rnd(), rnd(), rnd()
		switch i % 3 {
		case 0:
			// c cancels a*b (exact in float64) down to its low bits.
			c = -float32(float64(a) * float64(b))
		case 1:
			// a and b of 13 significant bits: a*b has at most 26, so it
			// often lies on a float32 midpoint, and a tiny c far below
			// float64's precision of a*b decides the rounding.
			a = float32(math.Ldexp(float64(r.IntN(1<<13)|1<<12), r.IntN(40)-20))
			b = float32(math.Ldexp(float64(r.IntN(1<<13)|1<<12), r.IntN(40)-20))
			_, e := math.Frexp(float64(a) * float64(b))
			c = float32(math.Ldexp(float64(2*r.IntN(2)-1), e-55-r.IntN(30)))
		}
		got := fma32(a, b, c)
		want := exactFMA32(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%08x), want %g (%08x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	// Exact midpoints: 1 + 2^-24 is half way between 1 and its successor;
	// a sticky 2^-60 decides the rounding.
	for _, tc := range [][3]float32{
		{1 + 0x1p-12, 1 + 0x1p-12, 0x1p-60},  // 1 + 2^-11 + 2^-24 + 2^-60: just above a midpoint, rounds up
		{1 + 0x1p-12, 1 + 0x1p-12, -0x1p-60}, // just below it, rounds down
		{1 + 0x1p-12, 1 + 0x1p-12, 0},        // on it: ties to even (down)
		{0x1p-75, 0x1p-75, 0},                // 2^-150: half the smallest subnormal, ties to 0
		{0x1p-75, 0x1p-75, 0x1p-149},         // 2^-149 + 2^-150: ties to even, 2^-148
		{0x1p-75, 0x1p-75 + 0x1p-98, 0},      // just above 2^-150: rounds up to 2^-149
	} {
		a, b, c := tc[0], tc[1], tc[2]
		want := exactFMA32(a, b, c)
		if got := fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// exactFMA32 is a*b+c rounded once to the nearest float32, ties to even.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(1000)
	x.Mul(big.NewFloat(float64(a)).SetPrec(1000), big.NewFloat(float64(b)))
	x.Add(x, big.NewFloat(float64(c)))
	f, _ := x.Float32()
	return f
}
