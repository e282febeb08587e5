package quant

import (
	"math"
	"math/rand/v2"
)

// Test data: rows and queries of the shapes the issue names (random,
// clustered, near-duplicate, exact duplicate, outlier dimension, extreme
// norms) and shapes aimed at the bound's weak points.

// The engine's accepted norm range (engine/write.go).
const (
	minNorm = 1e-30
	maxNorm = 1e30
)

// engineInv is engine.checkVector: the float32 inverse norm of v, computed
// in float64, and whether the engine accepts v at all.
func engineInv(v []float32) (float32, bool) {
	var ss float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, false
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0, false
	}
	n := math.Sqrt(ss)
	if n < minNorm || n > maxNorm {
		return 0, false
	}
	return float32(1 / n), true
}

// normalize is engine.prepareQuery: q times its float32 inverse norm, in
// float32. ok is false if the engine would refuse q.
func normalize(q []float32) (qn []float32, ok bool) {
	inv, ok := engineInv(q)
	if !ok {
		return nil, false
	}
	qn = make([]float32, len(q))
	for i, x := range q {
		qn[i] = x * inv
	}
	return qn, true
}

func gauss(r *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func scaled(v []float32, f float64) []float32 {
	w := make([]float32, len(v))
	for i, x := range v {
		w[i] = float32(float64(x) * f)
	}
	return w
}

// family makes n rows of dimension d of one kind.
type family struct {
	name string
	rows func(r *rand.Rand, d, n int) [][]float32
}

var families = []family{
	{"gauss", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 { return gauss(r, d) })
	}},
	{"positive", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = r.Float32()
			}
			return v
		})
	}},
	{"clustered", func(r *rand.Rand, d, n int) [][]float32 {
		centres := fill(4, func(int) []float32 { return gauss(r, d) })
		return fill(n, func(int) []float32 {
			c := centres[r.IntN(len(centres))]
			v := make([]float32, d)
			for i := range v {
				v[i] = c[i] + float32(1e-3*r.NormFloat64())
			}
			return v
		})
	}},
	{"near-duplicate", func(r *rand.Rand, d, n int) [][]float32 {
		// A base row, exact copies of it, and copies with a few components
		// one ulp up or down.
		base := gauss(r, d)
		return fill(n, func(j int) []float32 {
			v := append([]float32(nil), base...)
			if j%3 == 0 {
				return v
			}
			for k := 0; k < 1+r.IntN(3); k++ {
				i := r.IntN(d)
				v[i] = math.Nextafter32(v[i], float32(math.Inf(2*r.IntN(2)-1)))
			}
			return v
		})
	}},
	{"outlier", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := gauss(r, d)
			v[r.IntN(d)] *= 1e6
			return v
		})
	}},
	{"extreme-norm", func(r *rand.Rand, d, n int) [][]float32 {
		// Norms from 1e-30 to 1e30; some with an outlier, so that the
		// other products underflow float32 at the small end.
		return fill(n, func(j int) []float32 {
			v := gauss(r, d)
			if j%2 == 1 {
				v[r.IntN(d)] *= 1e6
			}
			var ss float64
			for _, x := range v {
				ss += float64(x) * float64(x)
			}
			target := math.Pow(10, -30+60*r.Float64())
			return scaled(v, target/math.Sqrt(ss))
		})
	}},
	{"sparse", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for k := 0; k < 1+r.IntN(3); k++ {
				v[r.IntN(d)] = float32(r.NormFloat64())
			}
			return v
		})
	}},
	{"integer", func(r *rand.Rand, d, n int) [][]float32 {
		// Codes are exact (e = 0) when the largest component is 127.
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(r.IntN(255) - 127)
			}
			v[r.IntN(d)] = 127
			return v
		})
	}},
	{"max-code-error", func(r *rand.Rand, d, n int) [][]float32 {
		// Every component half way between two codes (scale 1), so
		// ||e|| is as large as a code allows.
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(r.IntN(254)-127) + 0.5
			}
			v[r.IntN(d)] = 127
			return v
		})
	}},
	{"cancellation", func(r *rand.Rand, d, n int) [][]float32 {
		// Components of one magnitude with random low bits, the first half
		// positive and the second negative: the running sum climbs to
		// ~d/2 and falls back to ~0, losing low bits all the way.
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = 1 + float32(r.Float64())*0x1p-3
				if i >= d/2 {
					v[i] = -v[i]
				}
			}
			return v
		})
	}},
	{"subnormal-products", func(r *rand.Rand, d, n int) [][]float32 {
		// Norm near 1e-30 with one dominant component: the other
		// components are about 1e-38 and their products with a unit
		// query are subnormal in float32.
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(r.NormFloat64() * 1e-37)
			}
			v[r.IntN(d)] = 2e-30
			return v
		})
	}},
}

func fill(n int, f func(int) []float32) [][]float32 {
	out := make([][]float32, n)
	for j := range out {
		out[j] = f(j)
	}
	return out
}

// queriesFor returns raw (not yet normalised) queries for rows: some rows
// themselves, their negations, rows scaled by 1e20 and 1e-20, random
// queries, queries along a row's code residual e (so that Cauchy-Schwarz
// on <e, qn> is tight), queries whose own residual f points along a row's
// codes, queries nearly orthogonal to a row (D ~ 0, where the kernel's
// rounding matters most) and, for every row, the sign pattern that makes
// all products positive or that cancels.
func queriesFor(r *rand.Rand, rows [][]float32, m int) [][]float32 {
	d := len(rows[0])
	var qs [][]float32
	pick := func() []float32 { return rows[r.IntN(len(rows))] }
	for len(qs) < m {
		x := pick()
		switch len(qs) % 10 {
		case 0:
			qs = append(qs, x)
		case 1:
			qs = append(qs, scaled(x, -1))
		case 2:
			qs = append(qs, scaled(x, 1e20))
		case 3:
			qs = append(qs, scaled(x, 1e-20))
		case 4:
			qs = append(qs, gauss(r, d))
		case 5:
			qs = append(qs, residual(x))
		case 6:
			qs = append(qs, residualAlongCodes(r, x))
		case 7:
			qs = append(qs, orthogonal(r, x))
		case 8:
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(math.Copysign(1+r.Float64(), float64(x[i])))
			}
			qs = append(qs, v)
		case 9:
			v := gauss(r, d)
			for i := range v {
				v[i] = float32(math.Copysign(math.Abs(float64(v[i])), float64(x[i]))) // all products >= 0
			}
			if r.IntN(2) == 0 {
				v = scaled(v, float64(x[r.IntN(d)])) // a query of the row's magnitude
			}
			qs = append(qs, v)
		}
	}
	return qs
}

// residual returns e = x - s*c, the code residual of x (x itself where
// that is zero).
func residual(x []float32) []float32 {
	codes := make([]byte, len(x))
	m := Encode(x, codes)
	e := make([]float32, len(x))
	nz := false
	for i, v := range x {
		e[i] = float32(float64(v) - float64(m.Scale)*float64(int8(codes[i])))
		nz = nz || e[i] != 0
	}
	if !nz {
		return x
	}
	return e
}

// residualAlongCodes returns a query whose components sit just short of
// half way between two of its own codes, with the sign of x's codes, so
// that f = qn - t*p points along c (up to the normalisation's rounding).
func residualAlongCodes(r *rand.Rand, x []float32) []float32 {
	codes := make([]byte, len(x))
	Encode(x, codes)
	v := make([]float32, len(x))
	for i := range v {
		k := float64(r.IntN(126))
		c := float64(int8(codes[i]))
		sign := math.Copysign(1, c)
		if c == 0 {
			sign = float64(2*r.IntN(2) - 1)
		}
		v[i] = float32(sign * (k + 0.499))
	}
	v[r.IntN(len(v))] = 127
	return v
}

// orthogonal returns a random vector minus its projection on x, computed
// in float64: <q, x> is then tiny against ||q||*||x||.
func orthogonal(r *rand.Rand, x []float32) []float32 {
	g := gauss(r, len(x))
	var gx, xx float64
	for i := range x {
		gx += float64(g[i]) * float64(x[i])
		xx += float64(x[i]) * float64(x[i])
	}
	if xx == 0 || math.IsInf(xx, 0) {
		return g
	}
	for i := range g {
		g[i] = float32(float64(g[i]) - gx/xx*float64(x[i]))
	}
	return g
}
