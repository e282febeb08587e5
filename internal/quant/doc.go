// Package quant owns memvec's int8 row codes: how a float32 row becomes a
// code (Encode), the per-row numbers stored beside it (Meta), and the
// certified interval that contains the score the float32 kernel computes
// for a (query, row) pair, given only the code (see bounds.go).
//
// # Codes
//
// A row x of dimension d is stored as d signed bytes c (each in
// [-127, 127]) and a Meta of MetaSize bytes:
//
//	0   4  scale s, float32: s = max|x_i| / 127 rounded to float32
//	4   4  ErrNorm, float32: an upper bound of ||x - s*c||_2
//	8   4  CodeNorm, float32: an upper bound of s*||c||_2
//	12  4  Sum, int32: sum of c_i (written and checksummed with the code;
//	       no kernel reads it since the VNNI kernel flips the codes' sign
//	       bits and corrects by the query's sum)
//
// with c_i = round(x_i / s) clamped to [-127, 127]. The upper bounds are
// computed in float64 from exact integer sums and rounded up to float32,
// so they hold whatever the float32 rounding. Encode is deterministic: the
// same row always gives the same bytes, whichever kernel implementation
// runs (kernel.QuantizeInt8 fixes the order of the float64 sum, which the
// AVX-512, AVX2 and Go code all follow; the tests compare them bit for
// bit), so a compaction that re-encodes a row writes what copying would
// have, on any machine.
//
// Codes are kept only for dimensions up to MaxDim, so that every integer
// dot product of a code with an int8 query (at most d*255*127 in absolute
// value for the unsigned-times-signed form) fits in an int32 exactly.
//
// # Bounds
//
// NewQuery quantises a unit query the same way (scale t, codes p), and
// Query.DotBounds turns a row's Meta and the exact integer dot product
// I = sum p_i*c_i into float32 lo <= hi that contain the float32 dot
// product any of memvec's kernels computes for the pair, whatever its
// summation order and use of FMA:
//
//	[s*t*I - R, s*t*I + R],  R = N*(F + gamma*Q) + E*Q*(1+gamma) + d*2^-149
//
// with N = CodeNorm, E = ErrNorm, Q >= ||qn||, F >= ||qn - t*p|| and
// gamma = gamma_{d+1} of float32, computed in float64 with every rounding
// covered, then rounded to float32 (which cannot cross K, itself a
// float32). bounds.go holds the proof.
//
// # Invariants
//
//   - Meta.ErrNorm >= ||x - s*c|| and Meta.CodeNorm >= s*||c|| as real
//     numbers, for every row Encode accepts (finite, non-zero, dimension
//     at most MaxDim).
//   - For every row and query the engine accepts, lo <= K <= hi, K the
//     float32 dot product of any kernel (bounds_test.go checks the
//     selected kernel and ten pure-Go summation orders; run it with
//     MEMVEC_KERNEL=go, avx2 and avx512 for every kernel).
//   - Nothing here trusts bytes read from disk: the segment checks the
//     codes and metas with the rows' checksums before a search uses them.
package quant
