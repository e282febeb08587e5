//go:build !amd64 || purego

package kernel

// Without assembly, Go quantises every element.

func maxAbsAsm(*impl, []float32) (int, uint32) { return 0, 0 }

func quantAsm(*impl, []float32, float32, float32, []byte, *[QuantLanes]float64) (int, int64, int64) {
	return 0, 0, 0
}
