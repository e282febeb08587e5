package kernel

func Int8DotBlockMulti(qs []int8, nq, d int, codes []int8, stride, n int, sums []int32, out []int32, outStride int) {
	for j := 0; j < nq; j++ {
		for r := 0; r < n; r++ {
			var s int32
			for i := 0; i < d; i++ {
				s += int32(qs[j*d+i]) * int32(codes[r*stride+i])
			}
			out[j*outStride+r] = s
		}
	}
}
