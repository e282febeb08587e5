package kernel

// The bound test of the code pass (engine/prefilter.go), in assembly for
// AVX-512: a search of 1M rows tests a million upper bounds, a float64
// formula per row that the Go loop computes one row at a time.

// ScreenUpper tests rows [0, m) of a block for quant.Query.Screen, m the
// number it returns (a multiple of 8, at most len(dots); 0 when the
// selected implementation has no assembly for it, and then the caller
// tests every row itself). metas holds each row's 16-byte meta, scale,
// ErrNorm and CodeNorm as little-endian float32s first; coef is {a, b, w,
// t} of the query. Bit j of out[i] is set unless
//
//	float32((s*t)*float64(dots[r]) + ((c*a + e*b) + w)) * inv[r] < cut
//
// for row r = 8i+j, each operation rounded once in that order and a NaN
// hi taken as +Inf: exactly the Go expression quant uses. It needs
// len(metas) >= 16*len(dots), len(inv) >= len(dots) and len(out) >=
// len(dots)/8; it does not allocate.
func ScreenUpper(metas []byte, dots []int32, inv []float32, coef *[4]float64, cut float32, out []byte) int {
	return cur.ScreenUpper(metas, dots, inv, coef, cut, out)
}

// ScreenUpper is the package-level ScreenUpper for implementation k.
func (k *impl) ScreenUpper(metas []byte, dots []int32, inv []float32, coef *[4]float64, cut float32, out []byte) int {
	m := len(dots) &^ 7
	if m == 0 {
		return 0
	}
	if len(metas) < 16*m || len(inv) < m || len(out) < m/8 {
		panic("kernel: ScreenUpper: slices too short")
	}
	return screenAsm(k, metas, dots[:m], inv, coef, cut, out)
}

// Screener is one implementation's ScreenUpper, for tests that compare
// it with the Go expression.
type Screener struct{ k *impl }

// Screeners lists the screeners of the implementations this CPU and
// build can run, best first.
func Screeners() []Screener {
	var l []Screener
	for _, k := range available() {
		l = append(l, Screener{k})
	}
	return l
}

// Name names the implementation.
func (s Screener) Name() string { return s.k.name }

// ScreenUpper is the package-level ScreenUpper of this implementation.
func (s Screener) ScreenUpper(metas []byte, dots []int32, inv []float32, coef *[4]float64, cut float32, out []byte) int {
	return s.k.ScreenUpper(metas, dots, inv, coef, cut, out)
}
