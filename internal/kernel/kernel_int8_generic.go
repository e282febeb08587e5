package kernel

// int8MultiGo is the portable Int8DotBlockMulti for validated arguments,
// the reference the assembly is tested against. Rows are the outer loop
// so that a row stays in L1 while every query visits it; the queries'
// sums are not needed.
func int8MultiGo(qs []int8, nq, d int, _ []int32, codes []int8, stride, n int, out []int32, outStride int) {
	for r := 0; r < n; r++ {
		row := codes[r*stride : r*stride+d]
		for j := 0; j < nq; j++ {
			out[j*outStride+r] = int8DotGo(qs[j*d:(j+1)*d], row)
		}
	}
}

// int8DotGo returns the exact dot product of a and b, which have the same
// length (at most MaxInt8Dim, so no partial sum leaves int32). Four
// accumulators let the CPU overlap the additions.
func int8DotGo(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}
