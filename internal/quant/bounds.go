package quant

import "math"

// # The certified interval
//
// The engine scores a stored row x (float32, not normalised) against a unit
// query qn (float32: the query times its float32 inverse norm) as
// fl(K*inv) clamped to [-1, 1], where K is the float32 dot product its
// kernel computes. fl(K*inv) is monotone in K for inv > 0, so an interval
// [lo, hi] that contains K gives one for the score. DotBounds returns such
// an interval from the row's Meta and the exact integer dot product I of
// the codes, without reading x.
//
// Write x = s*c + e (c the row's codes, s its scale, e the residual) and
// qn = t*p + f (p the query's codes, t its scale, f its residual). Then,
// as real numbers, D = <x, qn> is
//
//	D = s*t*I + s*<c, f> + <e, qn>
//
// and, by Cauchy-Schwarz, with N = Meta.CodeNorm >= s*||c|| and
// E = Meta.ErrNorm >= ||e||, Q >= ||qn|| and F >= ||f||:
//
//	|s*<c, f>| <= N*F        |<e, qn>| <= E*Q.
//
// The kernel computes K = fl(sum qn_i*x_i) in float32 in an order of its
// own, with or without fused multiply-adds. Every such evaluation is a
// binary tree over the d products: each leaf enters through one multiply
// (alone or fused), and each of at most d-1 merges (an add or an FMA's
// add) rounds once; a merge with an exact zero (a masked lane, an unused
// accumulator) is exact. So each product reaches K through at most d
// roundings. With gradual underflow (Go never sets flush-to-zero), every
// rounding is fl(z) = z*(1+δ) + η with |δ| <= u = 2^-24 and |η| <= 2^-150,
// and η = 0 for additions (a sum that lands in the subnormal range is
// exact); only the d multiplies (fused or not) carry an η. As for the
// inner product in Higham, Accuracy and Stability of Numerical Algorithms
// (2nd ed., §3.1, with Lemma 3.1 for the products of (1+δ) factors):
//
//	|K - D| <= gamma_d * sum|x_i*qn_i| + d*2^-150*(1+gamma_d)
//	        <= gamma_{d+1}*(N+E)*Q + d*2^-149,
//
// gamma_n = n*u/(1-n*u), using sum|x_i*qn_i| <= ||x||*||qn|| <= (N+E)*Q;
// gamma_{d+1} rather than gamma_d is a margin, not a need.
// No partial sum overflows: the engine keeps ||x|| <= 1e30 and ||qn|| ~ 1.
// So K lies in [s*t*I - R, s*t*I + R] with
//
//	R = N*(F + gamma*Q) + E*Q*(1+gamma) + d*2^-149,  gamma = gamma_{d+1}.
//
// # Rounding of the bound's own arithmetic
//
// NewQuery computes the per-query constants in float64 from exact values
// (f_i = qn_i - t*p_i is exact in float64, as in Encode; the sums of
// squares are covered by sumSlack) and multiplies each by inflate =
// 1+2^-38, which covers (1+k), k = 2^-40, and the at most eight float64
// roundings (2^-53 each) of computing it. With P >= ||p||:
//
//	a >= (1+k)*(F + gamma*Q) + 2k*t*P,  b >= (1+k)*Q*(1+gamma),  w >= (1+k)*d*2^-149.
//
// Per row DotBounds computes in float64
//
//	c = (s*t)*I              s*t is exact (24 by 24 bits): one rounding
//	g = N*a + E*b + w        four roundings of non-negative terms
//	lo = float32(c - g), hi = float32(c + g)
//
// Since |I| <= ||c||*||p||, |c| <= (1+2^-53)*s*t*|I| <= (1+2^-53)*N*t*P,
// so N*a >= (1+k)*N*(F + gamma*Q) + k*|c|: the 2k*t*P part of a pays
// for the rounding of c and for the cancellation in c + g when the
// interval straddles zero, without making g wait for c. Then, with
// |c - s*t*I| <= 2^-52*|c|, g >= (1-2^-51)*((1+k)*R + k*|c|) and
// fl(c+g) >= c + g - 2^-53*(|c| + g),
//
//	fl(c+g) >= s*t*I + (1-2^-50)(1+k)*R + ((1-2^-50)*k - 2^-53 - 2^-52)*|c|
//	        >= s*t*I + R >= K,
//
// as (1-2^-50)(1+k) >= 1 and (1-2^-50)*k > 2^-53 + 2^-52. Rounding to
// float32 is monotone and K is a float32, so fl(c+g) >= K gives hi =
// float32(fl(c+g)) >= float32(K) = K: the conversion needs no slack (an
// overflow gives +Inf). lo <= K likewise. For rows the engine accepts,
// every non-zero intermediate lies between 2^-400 and 2^200, far inside
// float64's normal range, so the relative error model holds. The slack
// widens the interval by about 2^-40 of R + 2*||x||, against a width of
// order 1e-2 of ||x|| from the quantization itself.

// slackK is k above: the relative slack that covers the float64 rounding
// of DotBounds' own arithmetic.
const slackK = 0x1p-40

// inflate turns a per-query constant into one that is at least (1+k)
// times its real value, whatever its (at most eight) float64 roundings.
const inflate = 1 + 0x1p-38

// unit is u, the unit roundoff of float32.
const unit = 0x1p-24

// Query is a unit query quantised for the integer kernels: Codes are p
// (as int8), and the unexported fields are the constants DotBounds needs.
type Query struct {
	// Codes are the query's int8 codes p, one per dimension.
	Codes []int8

	t       float64 // scale: a float32 value, qn ≈ t*p
	a, b, w float64 // the coefficients of N, E and 1 in g (see above)
}

// NewQuery quantises qn, the float32 unit query the float32 kernel uses
// (the engine's normalised query; the bounds are for dot products with
// exactly these float32 values): t = max|qn_i|/127 rounded to float32 and
// p_i = round(qn_i/t), which lies in [-127, 127]. qn must be finite, with
// 1 <= len(qn) <= MaxDim; only rows of that dimension have codes.
func NewQuery(qn []float32) Query {
	d := len(qn)
	if d == 0 || d > MaxDim {
		panic("quant: NewQuery: dimension outside [1, MaxDim]")
	}
	var m float64
	for _, x := range qn {
		m = max(m, math.Abs(float64(x)))
	}
	ts := float32(m / 127)
	if ts == 0 { // all zero, or below float32's range: p = 0, f = qn
		ts = math.SmallestNonzeroFloat32
	}
	t := float64(ts)
	codes := make([]int8, d)
	var ssF, ssQ float64
	var ssP int64
	for i, x := range qn {
		p := min(max(math.RoundToEven(float64(x)/t), -127), 127)
		codes[i] = int8(p)
		ssP += int64(p) * int64(p)
		// Exact, as x - s*c in Encode.
		f := float64(x) - t*p
		ssF += f * f
		ssQ += float64(x) * float64(x)
	}
	qNorm := math.Sqrt(ssQ) * sumSlack
	fNorm := math.Sqrt(ssF) * sumSlack
	pNorm := math.Sqrt(float64(ssP)) * sumSlack // ssP < 2^31: exact
	n := float64(d + 1)
	// n*unit and 1-n*unit are exact; the division rounds once (inflate
	// covers it where gamma is used).
	gamma := n * unit / (1 - n*unit)
	return Query{
		Codes: codes,
		t:     t,
		a:     (fNorm + gamma*qNorm + 2*slackK*t*pNorm) * inflate,
		b:     qNorm * (1 + gamma) * inflate,
		w:     float64(d) * 0x1p-149 * inflate,
	}
}

// DotBounds returns lo <= hi such that lo <= K <= hi for the float32 dot
// product K of the query and the row that any of memvec's kernels
// computes (any summation order, with or without FMA), given the row's
// Meta m (as Encode returned it, for a row the engine accepts) and dot,
// the exact integer dot product sum p_i*c_i of the query's and the row's
// codes. If m holds a NaN, as no Encode result does, the interval is
// [-Inf, +Inf]. See the comment at the top of bounds.go for the proof.
func (q *Query) DotBounds(m Meta, dot int32) (lo, hi float32) {
	// g does not depend on c, so the two chains overlap.
	g := float64(m.CodeNorm)*q.a + float64(m.ErrNorm)*q.b + q.w
	c := float64(m.Scale) * q.t * float64(dot)
	lo, hi = float32(c-g), float32(c+g)
	if !(lo <= hi) {
		lo, hi = negInf, posInf
	}
	return lo, hi
}

// negInf and posInf are the float32 infinities (variables, so that the
// bound functions stay cheap enough to inline).
var (
	negInf = float32(math.Inf(-1))
	posInf = float32(math.Inf(1))
)

// UpperBound returns DotBounds' hi alone, about 10% cheaper (1.8 against
// 2.0 ns a row here): a scan can test it against the k-th best lower bound
// and call DotBounds only for the rows that pass. If m holds a NaN the
// result is +Inf.
func (q *Query) UpperBound(m Meta, dot int32) float32 {
	g := float64(m.CodeNorm)*q.a + float64(m.ErrNorm)*q.b + q.w
	c := float64(m.Scale) * q.t * float64(dot)
	hi := float32(c + g)
	if hi != hi {
		hi = posInf
	}
	return hi
}
