// Package kernel holds memvec's distance kernel: the one place where a
// query meets a row. Everything that scores a vector calls Dot.
package kernel

// Dot returns the float32 dot product of a and b, which must have the same
// length. Four independent accumulators let the CPU overlap the additions.
func Dot(a, b []float32) float32 {
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
