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
//	12  4  Sum, int32: sum of c_i (the unsigned-times-signed kernels use it)
//
// with c_i = round(x_i / s) clamped to [-127, 127]. The upper bounds are
// computed in float64 from exact integer sums and rounded up to float32,
// so they hold whatever the float32 rounding. Encode is deterministic: the
// same row always gives the same bytes, so a compaction that re-encodes a
// row writes what copying would have.
//
// Codes are kept only for dimensions up to MaxDim, so that every integer
// dot product of a code with an int8 query (at most d*255*127 in absolute
// value for the unsigned-times-signed form) fits in an int32 exactly.
//
// # Invariants
//
//   - Meta.ErrNorm >= ||x - s*c|| and Meta.CodeNorm >= s*||c|| as real
//     numbers, for every row Encode accepts (finite, non-zero, dimension
//     at most MaxDim).
//   - Nothing here trusts bytes read from disk: the segment checks the
//     codes and metas with the rows' checksums before a search uses them.
package quant
