package kernel

import "encoding/binary"

// The portable implementation. It is the only one on GOARCHes other than
// amd64 and under the purego build tag, the fallback on amd64 CPUs without
// AVX2+FMA, and the reference the assembly is tested against.

var goImpl = &impl{name: "go", dot: dotGo, multi: multiGo, stream: streamGo,
	i8: int8MultiGo, i8name: "go"}

// dotGo returns the dot product of a and b, which must have the same
// length. Four independent accumulators let the CPU overlap the additions.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// multiGo is DotBlockMulti for validated arguments. Rows are the outer
// loop so that a row stays in L1 while every query visits it.
func multiGo(qs []float32, nq, d int, rows []float32, stride, n int, out []float32, outStride int) {
	for r := 0; r < n; r++ {
		row := rows[r*stride : r*stride+d]
		for i := 0; i < nq; i++ {
			out[i*outStride+r] = dotGo(qs[i*d:(i+1)*d], row)
		}
	}
}

// streamGo is Stream in portable Go: four independent accumulators of
// 64-bit words, then the bytes left over.
func streamGo(b []byte) uint64 {
	var x0, x1, x2, x3 uint64
	i := 0
	for ; i+32 <= len(b); i += 32 {
		x0 ^= binary.LittleEndian.Uint64(b[i:])
		x1 ^= binary.LittleEndian.Uint64(b[i+8:])
		x2 ^= binary.LittleEndian.Uint64(b[i+16:])
		x3 ^= binary.LittleEndian.Uint64(b[i+24:])
	}
	for ; i+8 <= len(b); i += 8 {
		x0 ^= binary.LittleEndian.Uint64(b[i:])
	}
	var last [8]byte
	copy(last[:], b[i:])
	return x0 ^ x1 ^ x2 ^ x3 ^ binary.LittleEndian.Uint64(last[:])
}
