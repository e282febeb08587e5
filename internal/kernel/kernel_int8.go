package kernel

// The integer kernels behind the int8 prefilter (issue 13): a query of
// int8 values meets rows of int8 codes. Their sums are exact in int32, so
// every implementation returns the same values and a search that trusts
// them picks the same candidates whichever kernel runs.

// MaxInt8Dim is the largest dimension the int8 kernels accept: for d <=
// 65536 every dot product of int8 vectors is at most 128*128*d = 2^30 in
// absolute value, so the int32 result is exact (the VNNI kernel's
// unsigned-times-signed intermediates may wrap, which the final
// correction undoes exactly, modulo 2^32).
const MaxInt8Dim = 1 << 16

// Int8DotBlock scores n = len(out) rows of int8 codes against one int8
// query:
//
//	out[r] = sum_i int32(q[i]) * int32(codes[r*stride+i])
//
// for i in [0, len(q)) and r in [0, n). Values may be any int8 (the
// quantizer's codes are in [-127, 127]). It reads nothing but q and the
// codes: the AVX-512 VNNI kernel computes sum_i (codes[...]+128)*q[i] and
// subtracts 128*sum_i q[i], a constant of the query.
//
// It needs len(q) <= MaxInt8Dim, stride >= len(q) and len(codes) >=
// (n-1)*stride+len(q). The result is exact and the same for every
// implementation. Only out[:n] is written. Int8DotBlock does not
// allocate.
func Int8DotBlock(q []int8, codes []int8, stride int, out []int32) {
	cur.Int8DotBlock(q, codes, stride, out)
}

// Int8DotBlockMulti scores n rows of codes against nq int8 queries of
// dimension d packed row-major in qs (query j is qs[j*d:(j+1)*d]):
//
//	out[j*outStride+r] = dot(qs[j*d:(j+1)*d], codes[r*stride:r*stride+d])
//
// for j in [0, nq) and r in [0, n), exactly, as Int8DotBlock. It needs
// d <= MaxInt8Dim, len(qs) >= nq*d, stride >= d,
// len(codes) >= (n-1)*stride+d, outStride >= n and
// len(out) >= (nq-1)*outStride+n; no other element of out is written. The
// kernel is register-tiled like DotBlockMulti, so each code chunk loaded
// from memory is used for several queries. It does not allocate.
func Int8DotBlockMulti(qs []int8, nq, d int, codes []int8, stride, n int, out []int32, outStride int) {
	cur.Int8DotBlockSums(qs, nq, d, nil, codes, stride, n, out, outStride)
}

// Int8Sums returns the sum of each of the nq int8 queries of dimension d
// packed in qs, for Int8DotBlockSums.
func Int8Sums(qs []int8, nq, d int) []int32 {
	sums := make([]int32, nq)
	for j := range sums {
		for _, v := range qs[j*d : (j+1)*d] {
			sums[j] += int32(v)
		}
	}
	return sums
}

// Int8DotBlockSums is Int8DotBlockMulti given qsums = Int8Sums(qs, nq, d),
// which the VNNI kernel's correction needs: a caller that scores the same
// queries against many blocks sums them once rather than at every call.
// Sums that are not the queries' give wrong results on VNNI only; nil
// qsums are computed. It does not allocate.
func Int8DotBlockSums(qs []int8, nq, d int, qsums []int32, codes []int8, stride, n int, out []int32, outStride int) {
	cur.Int8DotBlockSums(qs, nq, d, qsums, codes, stride, n, out, outStride)
}

// Int8Impl names the integer kernel of the selected implementation:
// "avx512-vnni", "avx2" or "go" ("avx512" runs the AVX2 integer kernel on
// CPUs without AVX512_VNNI).
func Int8Impl() string { return cur.i8name }

// int8Multi is Int8DotBlockSums for validated arguments: nq, d, n >= 1,
// qsums nil or of length nq.
type int8Multi func(qs []int8, nq, d int, qsums []int32, codes []int8, stride, n int, out []int32, outStride int)

// Int8DotBlock is the package-level Int8DotBlock for implementation k.
func (k *impl) Int8DotBlock(q []int8, codes []int8, stride int, out []int32) {
	k.Int8DotBlockMulti(q, 1, len(q), codes, stride, len(out), out, len(out))
}

// Int8DotBlockMulti is the package-level Int8DotBlockMulti for
// implementation k.
func (k *impl) Int8DotBlockMulti(qs []int8, nq, d int, codes []int8, stride, n int, out []int32, outStride int) {
	k.Int8DotBlockSums(qs, nq, d, nil, codes, stride, n, out, outStride)
}

// Int8DotBlockSums is the package-level Int8DotBlockSums for
// implementation k.
func (k *impl) Int8DotBlockSums(qs []int8, nq, d int, qsums []int32, codes []int8, stride, n int, out []int32, outStride int) {
	if d > MaxInt8Dim {
		panic("kernel: int8 dimension above MaxInt8Dim")
	}
	if !multiArgsOK(nq, d, len(qs), len(codes), stride, n, len(out), outStride) {
		return
	}
	if d == 0 {
		for i := 0; i < nq; i++ {
			clear(out[i*outStride : i*outStride+n])
		}
		return
	}
	if qsums != nil && len(qsums) < nq {
		panic("kernel: fewer query sums than queries")
	}
	k.i8(qs, nq, d, qsums[:min(len(qsums), nq)], codes, stride, n, out, outStride)
}
