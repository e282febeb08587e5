package quant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestDotBoundsArithmetic checks DotBounds' arithmetic against the
// documented formula evaluated in big.Float, for metas and integer dots
// spread over the whole range the engine's rows can produce (and beyond):
// with T = s*t*I ± R, R = N*(F + gamma*Q) + E*Q*(1+gamma) + d*2^-149 and
// Q, F, gamma the real values for the query, every float32 at most
// s*t*I + R is at most hi (hi >= T+ rounded down to float32), and the
// same for lo; and the interval is no more than 2^-30 wider than the
// formula's 2^-30*(|s*t*I| + R + N*Q) (plus a float32 rounding), so no
// slack has grown by mistake (the slack for the rounding of c is 2^-39 of
// N*t*||p|| ~ N*Q, not of |c|: that keeps g independent of c).
func TestDotBoundsArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for qi := 0; qi < n/100; qi++ {
		d := dims[qi%len(dims)]
		raw := gauss(r, d)
		if qi%3 == 1 {
			raw[r.IntN(d)] *= 1e6
		}
		qn, ok := normalize(raw)
		if !ok {
			continue
		}
		q := NewQuery(qn)
		Q, F := realNorms(qn, q)
		g := bigOf(float64(d+1) * unit)
		g.Quo(g, new(big.Float).SetPrec(exactPrec).Sub(bigOf(1), g))
		for k := 0; k < 100; k++ {
			m := Meta{
				Scale:    float32(math.Ldexp(1+r.Float64(), r.IntN(200)-120)),
				CodeNorm: float32(math.Ldexp(1+r.Float64(), r.IntN(200)-100)),
			}
			if k%4 != 0 {
				m.ErrNorm = float32(math.Ldexp(1+r.Float64(), r.IntN(240)-148))
			}
			if k%7 == 0 {
				// Far below any row the engine accepts, where the
				// underflow term d*2^-149 is a visible part of R.
				m.CodeNorm = float32(math.Ldexp(1+r.Float64(), -149+r.IntN(20)))
				m.ErrNorm = 0
			}
			lim := int64(d) * 127 * 127
			dot := int32(r.Int64N(2*lim+1) - lim)
			if k%5 == 0 {
				dot = int32(r.IntN(3) - 1)
			}
			lo, hi := q.DotBounds(m, dot)
			if u := q.UpperBound(m, dot); math.Float32bits(u) != math.Float32bits(hi) {
				t.Fatalf("UpperBound %g != DotBounds' hi %g", u, hi)
			}
			// R and s*t*I, exactly (to 1100 bits).
			R := mul(bigOf(float64(m.CodeNorm)), add(F, mul(g, Q)))
			R = add(R, mul(mul(bigOf(float64(m.ErrNorm)), Q), add(bigOf(1), g)))
			R = add(R, bigOf(float64(d)*0x1p-149))
			c := mul(mul(bigOf(float64(m.Scale)), bigOf(q.t)), bigOf(float64(dot)))
			up, down := add(c, R), new(big.Float).SetPrec(exactPrec).Sub(c, R)
			if f := roundDown32(up); hi < f {
				t.Fatalf("d=%d meta %+v dot %d: hi %g below the formula's %g", d, m, dot, hi, f)
			}
			if f := -roundDown32(new(big.Float).Neg(down)); lo > f {
				t.Fatalf("d=%d meta %+v dot %d: lo %g above the formula's %g", d, m, dot, lo, f)
			}
			// Not much wider: hi <= T+ + 2^-30*(|s*t*I| + R + N*Q), plus
			// an ulp.
			ac := new(big.Float).Abs(c)
			extra := mul(add(add(ac, R), mul(bigOf(float64(m.CodeNorm)), Q)), bigOf(0x1p-30))
			if f := roundDown32(add(up, extra)); math.Nextafter32(f, float32(math.Inf(1))) < hi {
				t.Fatalf("d=%d meta %+v dot %d: hi %g far above the formula's %v", d, m, dot, hi, up)
			}
		}
	}
}

// realNorms returns ||qn|| and ||qn - t*p|| to 1100 bits.
func realNorms(qn []float32, q Query) (Q, F *big.Float) {
	qq, ff := bigOf(0), bigOf(0)
	for i, x := range qn {
		bx := bigOf(float64(x))
		qq = add(qq, mul(bx, bx))
		f := new(big.Float).SetPrec(exactPrec).Sub(bx, mul(bigOf(q.t), bigOf(float64(q.Codes[i]))))
		ff = add(ff, mul(f, f))
	}
	return new(big.Float).SetPrec(exactPrec).Sqrt(qq), new(big.Float).SetPrec(exactPrec).Sqrt(ff)
}

func add(a, b *big.Float) *big.Float { return new(big.Float).SetPrec(exactPrec).Add(a, b) }
func mul(a, b *big.Float) *big.Float { return new(big.Float).SetPrec(exactPrec).Mul(a, b) }

// roundDown32 returns the largest float32 not above x.
func roundDown32(x *big.Float) float32 {
	f, _ := x.Float32()
	if new(big.Float).SetPrec(exactPrec).SetFloat64(float64(f)).Cmp(x) > 0 {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// TestDotBoundsNaN: a Meta with a NaN (which Encode never returns) gives
// the whole line, never an interval that could drop a row.
func TestDotBoundsNaN(t *testing.T) {
	q := NewQuery([]float32{0.6, 0.8})
	nan := float32(math.NaN())
	for _, m := range []Meta{
		{Scale: nan, ErrNorm: 1, CodeNorm: 1},
		{Scale: 1, ErrNorm: nan, CodeNorm: 1},
		{Scale: 1, ErrNorm: 1, CodeNorm: nan},
	} {
		lo, hi := q.DotBounds(m, 5)
		if !math.IsInf(float64(lo), -1) || !math.IsInf(float64(hi), 1) {
			t.Errorf("meta %+v: [%g, %g], want [-Inf, +Inf]", m, lo, hi)
		}
		if u := q.UpperBound(m, 5); !math.IsInf(float64(u), 1) {
			t.Errorf("meta %+v: UpperBound %g, want +Inf", m, u)
		}
	}
}
