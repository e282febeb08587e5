package kernel

import (
	"math"
	"math/rand"
	"testing"
)

// TestDotAgainstFloat64 checks Dot against a float64 reference for every
// length 1..300 and unaligned starts.
func TestDotAgainstFloat64(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	buf := make([]float32, 700)
	for i := range buf {
		buf[i] = float32(rng.NormFloat64())
	}
	for n := 1; n <= 300; n++ {
		for _, off := range []int{0, 1, 3} {
			a, b := buf[off:off+n], buf[350+off:350+off+n]
			var want, mag float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			got := float64(Dot(a, b))
			if math.Abs(got-want) > 1e-5*mag+1e-6 {
				t.Fatalf("n=%d off=%d: Dot %v, float64 %v", n, off, got, want)
			}
		}
	}
}
