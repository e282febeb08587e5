package kernel

import (
	"bytes"
	"math"
	"math/rand"
	"testing"
	"unsafe"
)

// quantDims are the dimensions the quantiser is tested at: every tail
// length of the 8- and 16-lane registers, their neighbours and the limit.
var quantDims = func() []int {
	var l []int
	for d := 1; d <= 70; d++ {
		l = append(l, d)
	}
	return append(l, 100, 127, 128, 511, 512, 513, 1000, 4096, MaxInt8Dim)
}()

// quantScale returns quant.Encode's 1/scale and scale for row.
func quantScale(row []float32) (r, s float32) {
	var m uint32
	for _, x := range row {
		m = max(m, math.Float32bits(x)&0x7fffffff)
	}
	s = float32(float64(math.Float32frombits(m)) / 127)
	if s == 0 {
		s = math.SmallestNonzeroFloat32
	}
	r = 1 / s
	if math.IsInf(float64(r), 0) {
		r = 0
	}
	return r, s
}

// quantRef is QuantizeInt8 written from its doc comment, independently
// of quantGo: the lanes, then the tree.
func quantRef(row []float32, r, s float32, codes []byte) (float64, int64, int64) {
	var lanes [QuantLanes]float64
	var c2, c1 int64
	for i, x := range row {
		c := math.RoundToEven(float64(x * r))
		c = math.Min(math.Max(c, -127), 127)
		codes[i] = byte(int8(c))
		e := float64(x) - float64(s)*c
		lanes[i%QuantLanes] = math.FMA(e, e, lanes[i%QuantLanes])
		c2 += int64(c * c)
		c1 += int64(c)
	}
	for _, h := range []int{8, 4, 2, 1} {
		for j := 0; j < h; j++ {
			lanes[j] += lanes[j+h]
		}
	}
	return lanes[0], c2, c1
}

// quantRow draws a row of dimension d of kind k: gaussian with a scale
// from 2^-120 to 2^80, with outliers, subnormal components, rounding
// ties, tiny (subnormal scale) or signed zeros.
func quantRow(rng *rand.Rand, d, k int) []float32 {
	v := make([]float32, d)
	scale := math.Ldexp(1, rng.Intn(200)-120) // outliers stay finite
	for i := range v {
		switch k % 6 {
		case 0, 1:
			v[i] = float32(rng.NormFloat64() * scale)
		case 2: // subnormal components
			v[i] = math.Float32frombits(uint32(rng.Intn(0x800000)) | uint32(rng.Intn(2))<<31)
		case 3: // ties: x*r = m + 0.5 exactly
			v[i] = float32(math.Ldexp(float64(rng.Intn(254)-127)+0.5, k%40-20))
		case 4: // tiny: s subnormal, r = 0
			v[i] = math.Float32frombits(uint32(rng.Intn(1 << 10)))
		case 5:
			v[i] = float32(math.Copysign(0, float64(rng.Intn(2)*2-1)))
		}
	}
	switch k % 6 {
	case 1, 2, 5: // an outlier
		v[rng.Intn(d)] = float32(rng.NormFloat64() * scale * 1e6)
	case 3:
		v[rng.Intn(d)] = float32(math.Ldexp(127, k%40-20))
	}
	return v
}

// TestQuantizeInt8: every implementation returns the same bits as the
// reference written from the doc (the float64 sum of squares bit for
// bit, the codes, the integer sums), and MaxAbsBits the same maximum.
func TestQuantizeInt8(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	for _, d := range quantDims {
		n := 12
		if d >= 4096 {
			n = 6
		}
		want := make([]byte, d)
		got := make([]byte, d+16)
		for k := 0; k < n; k++ {
			row := quantRow(rng, d, k)
			r, s := quantScale(row)
			we, wc2, wc := quantRef(row, r, s, want)
			var wm uint32
			for _, x := range row {
				wm = max(wm, math.Float32bits(x)&0x7fffffff)
			}
			for _, impl := range available() {
				if m := impl.MaxAbsBits(row); m != wm {
					t.Fatalf("%s d=%d kind %d: MaxAbsBits %#x, want %#x", impl.name, d, k, m, wm)
				}
				for i := range got {
					got[i] = 0xAA
				}
				e, c2, c := impl.QuantizeInt8(row, r, s, got)
				if math.Float64bits(e) != math.Float64bits(we) || c2 != wc2 || c != wc {
					t.Fatalf("%s d=%d kind %d: (%v, %d, %d), want (%v, %d, %d)", impl.name, d, k, e, c2, c, we, wc2, wc)
				}
				if !bytes.Equal(got[:d], want) {
					t.Fatalf("%s d=%d kind %d: codes differ", impl.name, d, k)
				}
				if !bytes.Equal(got[d:], bytes.Repeat([]byte{0xAA}, 16)) {
					t.Fatalf("%s d=%d kind %d: wrote past len(row)", impl.name, d, k)
				}
			}
		}
	}
}

// TestQuantizeGuarded: the quantiser reads no byte outside the row and
// writes none outside codes[:len(row)], each against an inaccessible
// page at either end.
func TestQuantizeGuarded(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	for _, d := range quantDims[:len(quantDims)-1] {
		src := quantRow(rng, d, d)
		r, s := quantScale(src)
		want := make([]byte, d)
		we, _, _ := quantRef(src, r, s, want)
		for _, atEnd := range []bool{true, false} {
			rb, freeRow := guardedInt8(t, 4*d, atEnd)
			row := unsafe.Slice((*float32)(unsafe.Pointer(&rb[0])), d)
			copy(row, src)
			cb, freeCodes := guardedInt8(t, d, atEnd)
			codes := unsafe.Slice((*byte)(unsafe.Pointer(&cb[0])), d)
			for _, impl := range available() {
				if e, _, _ := impl.QuantizeInt8(row, r, s, codes); math.Float64bits(e) != math.Float64bits(we) || !bytes.Equal(codes, want) || impl.MaxAbsBits(row) != impl.MaxAbsBits(src) {
					t.Fatalf("%s d=%d: guarded result differs", impl.name, d)
				}
			}
			freeRow()
			freeCodes()
		}
	}
}

// TestQuantizeNoAlloc: QuantizeInt8 and MaxAbsBits do not allocate.
func TestQuantizeNoAlloc(t *testing.T) {
	row := quantRow(rand.New(rand.NewSource(33)), 517, 0)
	codes := make([]byte, len(row))
	r, s := quantScale(row)
	for _, impl := range available() {
		if a := testing.AllocsPerRun(100, func() { impl.QuantizeInt8(row, r, s, codes); impl.MaxAbsBits(row) }); a != 0 {
			t.Fatalf("%s allocates %v times", impl.name, a)
		}
	}
}

// TestQuantizeEmptyAndLimits: an empty row gives zeros; a row longer than
// MaxInt8Dim or codes shorter than the row panic before any assembly runs.
func TestQuantizeEmptyAndLimits(t *testing.T) {
	for _, impl := range available() {
		if e, c2, c := impl.QuantizeInt8(nil, 1, 1, nil); e != 0 || c2 != 0 || c != 0 || impl.MaxAbsBits(nil) != 0 {
			t.Fatalf("%s: empty row", impl.name)
		}
		for _, tc := range []struct {
			row   int
			codes int
		}{{MaxInt8Dim + 1, MaxInt8Dim + 1}, {10, 9}} {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("%s: row %d codes %d did not panic", impl.name, tc.row, tc.codes)
					}
				}()
				impl.QuantizeInt8(make([]float32, tc.row), 1, 1, make([]byte, tc.codes))
			}()
		}
	}
}
