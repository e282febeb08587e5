package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// Tests aimed at the bound's weak points: each part of R is driven close
// to equality on its own, and the test logs how much of the half-width
// the worst pair used (|K - centre| / half-width; 1 would be on the edge).

// usage returns |k - centre| / half-width of [lo, hi].
func usage(lo, hi, k float32) float64 {
	c := (float64(lo) + float64(hi)) / 2
	return math.Abs(float64(k)-c) / ((float64(hi) - float64(lo)) / 2)
}

// worst checks every kernel and order for the pair (x, raw query q) and
// returns the largest usage; it reports a dot product outside.
func worst(t *testing.T, name string, x, q []float32) float64 {
	t.Helper()
	qn, ok := normalize(q)
	if !ok {
		t.Fatalf("%s: query refused", name)
	}
	if _, ok := engineInv(x); !ok {
		t.Fatalf("%s: row refused", name)
	}
	codes := make([]byte, len(x))
	m := Encode(x, codes)
	qq := NewQuery(qn)
	lo, hi := qq.DotBounds(m, intDot(qq.Codes, codes))
	ks := []float32{kernel.Dot(qn, x)}
	for _, o := range orders {
		ks = append(ks, o.dot(qn, x))
	}
	var u float64
	for i, k := range ks {
		if !(lo <= k && k <= hi) {
			t.Errorf("%s d=%d: dot %d = %g outside [%g, %g]", name, len(x), i, k, lo, hi)
		}
		u = max(u, usage(lo, hi, k))
	}
	return u
}

// TestWeakPointResidualAlongQuery: every component of the row half way
// between two codes (||e|| as large as it gets) and the query along e, so
// |<e, qn>| = ||e||*||qn||: the Cauchy-Schwarz step is an equality.
func TestWeakPointResidualAlongQuery(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var u float64
	for _, d := range append(dims, MaxDim) {
		for k := 0; k < 4; k++ {
			x := families[8].rows(r, d, 1)[0] // max-code-error
			u = max(u, worst(t, "residual along query", x, residual(x)))
		}
	}
	t.Logf("largest usage of the half-width: %.7f", u)
	if u < 0.4 {
		t.Errorf("the construction used only %.4f of the half-width: it no longer aims at the bound", u)
	}
}

// TestWeakPointQueryResidualAlongCodes: row codes all ±127 with no
// residual, and a query whose own residual f has the codes' signs and the
// same magnitude everywhere, so |s*<c, f>| = s*||c||*||f||.
func TestWeakPointQueryResidualAlongCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var u float64
	for _, d := range append(dims, MaxDim) {
		for k := 0; k < 4; k++ {
			x := make([]float32, d)
			for i := range x {
				x[i] = float32(2*r.IntN(2) - 1)
			}
			u = max(u, worst(t, "query residual along codes", x, residualAlongCodes(r, x)))
		}
	}
	t.Logf("largest usage of the half-width: %.7f", u)
	if u < 0.4 {
		t.Errorf("the construction used only %.4f of the half-width: it no longer aims at the bound", u)
	}
}

// TestWeakPointLargeDimension: the cancellation and positive families at
// MaxDim, where gamma_{d+1} is largest and a long chain of float32
// additions loses the most.
func TestWeakPointLargeDimension(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, fi := range []int{1, 9, 10} { // positive, cancellation, subnormal-products
		rows := families[fi].rows(r, MaxDim, 2)
		for _, q := range queriesFor(r, rows, 3) {
			if _, ok := normalize(q); ok {
				worst(t, families[fi].name, rows[0], q)
			}
		}
	}
}

// gammaN is gamma_n = n*u/(1-n*u) for float32.
func gammaN(n int) float64 { return float64(n) * unit / (1 - float64(n)*unit) }

// exactDot returns sum x_i*q_i (products exact in float64, summed with
// Neumaier's compensation) and sum |x_i*q_i|.
func exactDot(x, q []float32) (dot, abs float64) {
	var s, c float64
	for i := range x {
		p := float64(x[i]) * float64(q[i])
		abs += math.Abs(p)
		t := s + p
		if math.Abs(s) >= math.Abs(p) {
			c += (s - t) + p
		} else {
			c += (p - t) + s
		}
		s = t
	}
	return s + c, abs
}

// TestBoundWidth reports how tight the interval is and fails if it
// becomes useless: the median width in cosine units ((hi-lo)/||x||), and
// relative to |D|, for random 512-d rows and queries (and, for
// information, other shapes).
func TestBoundWidth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fi, d int
		limit float64 // on the median width in cosine units
	}{
		{"gauss", 0, 512, 0.05},
		{"gauss", 0, 100, 0.06},
		{"positive", 1, 512, 0.05},
		{"clustered", 2, 512, 0.05},
		{"outlier", 4, 512, math.Inf(1)},
	} {
		r := rand.New(rand.NewPCG(9, uint64(tc.d)))
		rows := families[tc.fi].rows(r, tc.d, 200)
		codes := make([]byte, len(rows)*tc.d)
		metas := make([]Meta, len(rows))
		for j, x := range rows {
			metas[j] = Encode(x, codes[j*tc.d:(j+1)*tc.d])
		}
		var cosW, relW []float64
		for k := 0; k < 50; k++ {
			raw := gauss(r, tc.d)
			if tc.fi != 0 {
				raw = rows[r.IntN(len(rows))] // a stored row
			}
			qn, _ := normalize(raw)
			q := NewQuery(qn)
			for j, x := range rows {
				lo, hi := q.DotBounds(metas[j], intDot(q.Codes, codes[j*tc.d:(j+1)*tc.d]))
				inv, _ := engineInv(x)
				dd, _ := exactDot(x, qn)
				w := float64(hi) - float64(lo)
				cosW = append(cosW, w*float64(inv))
				relW = append(relW, w/math.Abs(dd))
			}
		}
		mc, mr := median(cosW), median(relW)
		t.Logf("%-9s d=%4d: median width %.4f of the cosine scale, %.3g of |D|", tc.name, tc.d, mc, mr)
		if mc > tc.limit {
			t.Errorf("%s d=%d: median width %.4f > %.4f", tc.name, tc.d, mc, tc.limit)
		}
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
