package memvec

import "math"

// DuplicateMinScore returns the largest MinScore that is guaranteed to keep
// every exact duplicate of a query (a stored vector equal to it bit for
// bit) in a store of dimension dim: a vector's score with itself is a
// float32 in [1 - γ(n), 1], where
//
//	n = ⌊dim/4⌋ + 10,  γ(n) = n·u / (1 - n·u),  u = 2⁻²⁴ (float32 rounding),
//
// and DuplicateMinScore is the smallest float32 at or above 1 - γ(n). It is
// about 1 - 6e-7 at dim 1, 1 - 1.2e-5 at 768, 1 - 9.8e-4 at 65,536 and
// 0.984 at MaxDimension. Typical vectors score much closer to 1 (the error
// grows like √dim·u: 1 - 6.4e-5 was measured at 2^20), but vectors built
// to round badly (one large component and many small ones that fall into
// the same accumulator) use up to about half of the margin with the
// portable kernel and a fifth with the AVX ones (TestSelfScoreBound).
// dim below 1 is treated as 1; the guarantee covers 1 <= dim <=
// MaxDimension.
//
// Why n: the score is fl(fl(q̂·x)·r) clamped to [-1, 1], where q̂ is the
// query scaled by r and r = fl32(1/‖x‖) is the inverse norm (computed in
// float64, so within u of exact), the same for the stored copy. Every
// product x_i·q̂_i is non-negative, so the relative error of the float32
// dot product is at most γ(k), k the most roundings any one term meets:
// k <= ⌊dim/4⌋ + 5 for each kernel (the portable one sums in four
// accumulators; AVX2 and AVX-512 in 8 and 16 lanes with fused
// multiply-adds and a 3- or 4-step reduction). Five more roundings bound
// the rest: r twice, the scaling of the query, the final product, and one
// for the float64 norm and underflow of tiny components (together below
// 2⁻²⁹ for a norm in the accepted [1e-30, 1e30]). Products of n factors
// (1+δ), |δ| <= u, lie within γ(n) of 1 (Higham, Accuracy and Stability
// of Numerical Algorithms, lemma 3.1).
func DuplicateMinScore(dim int) float32 {
	n := float64(max(dim, 1)/4 + 10)
	nu := n * 0x1p-24
	if nu >= 1 {
		return -1
	}
	b := 1 - nu/(1-nu)
	f := float32(b)
	if float64(f) < b {
		f = math.Nextafter32(f, 2)
	}
	return f
}
