package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// refCheckVector is checkVector before fastInvNorm (the sequential sum),
// with its error's text.
func refCheckVector(v []float32) (float32, string) {
	var ss float64
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, fmt.Errorf("component %d is %v: %w", j, x, errs.ErrInvalidVector).Error()
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0, fmt.Errorf("all-zero vector: %w", errs.ErrInvalidVector).Error()
	}
	norm := math.Sqrt(ss)
	if norm < minNorm || norm > maxNorm {
		return 0, fmt.Errorf("norm %g outside the supported range [%g, %g]: %w", norm, minNorm, maxNorm, errs.ErrInvalidVector).Error()
	}
	return float32(1 / norm), ""
}

// TestFastInvNorm: whenever fastInvNorm answers, it answers the inverse
// norm of the sequential sum bit for bit, on rows of every scale the
// engine accepts and beyond, at many dimensions; and checkVector returns
// the reference's result and error for every row, invalid ones included.
func TestFastInvNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	fallbacks := 0
	for k := 0; k < n; k++ {
		d := 1 + r.IntN(600)
		if k%100 == 0 {
			d = []int{512, 1000, 4096}[k/100%3]
		}
		v := make([]float32, d)
		scale := math.Pow(10, -40+80*r.Float64())
		for i := range v {
			switch k % 5 {
			case 0, 1:
				v[i] = float32(r.NormFloat64() * scale)
			case 2: // wide exponent spread
				v[i] = float32(r.NormFloat64() * scale * math.Pow(2, float64(r.IntN(60)-30)))
			case 3: // integers: many exact sums and ties
				v[i] = float32(r.IntN(7) - 3)
			case 4: // mostly zero, sometimes all zero
				if r.IntN(d) == 0 {
					v[i] = float32(r.NormFloat64() * scale)
				}
			}
		}
		if k%97 == 0 {
			v[r.IntN(d)] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[k%3]
		}
		want, werr := refCheckVector(v)
		if inv, ok := fastInvNorm(v); ok {
			if werr != "" || math.Float32bits(inv) != math.Float32bits(want) {
				t.Fatalf("d=%d: fast %g, reference %g (%s)", d, inv, want, werr)
			}
		} else if werr == "" {
			fallbacks++
		}
		e := &Engine{dim: d}
		got, err := e.checkVector(v)
		if (err == nil) != (werr == "") || err != nil && err.Error() != werr || math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("d=%d: checkVector %g, %v; reference %g, %s", d, got, err, want, werr)
		}
	}
	t.Logf("%d valid rows fell back to the sequential sum", fallbacks)
}

// TestCheckVectorErrors: the errors name the same component and norm as
// before the fast path.
func TestCheckVectorErrors(t *testing.T) {
	e := &Engine{dim: 4}
	for _, v := range [][]float32{
		{1, float32(math.NaN()), float32(math.Inf(1)), 0},
		{1, 2, float32(math.Inf(-1)), 0},
		{0, 0, 0, 0},
		{1e-31, 0, 0, 0},
		{3e30, 0, 0, 0},
		{1e-30, 1e-30, 0, 0},
		{9e29, 9e29, 0, 0},
	} {
		_, want := refCheckVector(v)
		if _, err := e.checkVector(v); err == nil && want != "" || err != nil && err.Error() != want {
			t.Errorf("%v: error %v, want %q", v, err, want)
		}
	}
}
