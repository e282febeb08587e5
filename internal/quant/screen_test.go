package quant

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// screenWant is Screen's definition, row by row.
func screenWant(q *Query, metas []byte, dots []int32, inv []float32, cut float32) []byte {
	want := make([]byte, (len(dots)+7)/8)
	for r := range dots {
		if !(q.UpperBound(DecodeMeta(metas[r*MetaSize:]), dots[r])*inv[r] < cut) {
			want[r/8] |= 1 << (r % 8)
		}
	}
	return want
}

// checkScreen runs every implementation's screen (its assembly, then Go
// for the rest) and Screen itself over the rows and compares each with
// screenWant, and checks that nothing past the rows' bytes is written.
func checkScreen(t *testing.T, q *Query, metas []byte, dots []int32, inv []float32, cut float32) {
	t.Helper()
	want := screenWant(q, metas, dots, inv, cut)
	coef := [4]float64{q.a, q.b, q.w, q.t}
	run := func(name string, f func(out []byte)) {
		out := make([]byte, len(want)+3)
		for i := range out {
			out[i] = 0xA5
		}
		f(out)
		if string(out[:len(want)]) != string(want) {
			t.Fatalf("%s: n=%d cut=%v: pass %x, want %x", name, len(dots), cut, out[:len(want)], want)
		}
		for _, b := range out[len(want):] {
			if b != 0xA5 {
				t.Fatalf("%s: n=%d: wrote past the rows' bytes: %x", name, len(dots), out)
			}
		}
	}
	for _, s := range kernel.Screeners() {
		run(s.Name(), func(out []byte) {
			done := s.ScreenUpper(metas, dots, inv, &coef, cut, out)
			if done%8 != 0 || done > len(dots) {
				t.Fatalf("%s: screened %d of %d rows", s.Name(), done, len(dots))
			}
			q.screenGo(metas, dots, inv, cut, out, done)
		})
	}
	run("Screen", func(out []byte) { q.Screen(metas, dots, inv, cut, out) })
}

// specialF32 returns a float32 that is often a value a bound computation
// could mishandle: zeros, subnormals, huge, infinite, NaN.
func specialF32(rng *rand.Rand) float32 {
	switch rng.Intn(10) {
	case 0:
		return 0
	case 1:
		return math.Float32frombits(rng.Uint32()) // anything, NaNs too
	case 2:
		return math.Float32frombits(uint32(rng.Intn(1 << 23))) // subnormal
	case 3:
		return float32(math.Inf(1 - 2*rng.Intn(2)))
	case 4:
		return math.MaxFloat32 * rng.Float32()
	}
	return rng.Float32() * float32(math.Pow(2, float64(rng.Intn(40)-20)))
}

// TestScreen compares the screens with the Go expression on rows encoded
// from random vectors and on rows of arbitrary meta words, integer dot
// products, inverse norms and cuts, every length from 0 to 70.
func TestScreen(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for trial := 0; trial < 3000; trial++ {
		d := 1 + rng.Intn(70)
		qv := make([]float32, d)
		for i := range qv {
			qv[i] = float32(rng.NormFloat64())
		}
		q := NewQuery(qv)
		n := trial % 71
		metas := make([]byte, n*MetaSize)
		dots := make([]int32, n)
		inv := make([]float32, n)
		for r := 0; r < n; r++ {
			m := Meta{Scale: specialF32(rng), ErrNorm: specialF32(rng), CodeNorm: specialF32(rng), Sum: int32(rng.Uint32())}
			if trial%2 == 0 { // a real row's code, meta and inverse norm
				row := make([]float32, d)
				for i := range row {
					row[i] = float32(rng.NormFloat64())
				}
				codes := make([]byte, d)
				m = Encode(row, codes)
				var dot int32
				for i, c := range codes {
					dot += int32(int8(c)) * int32(q.Codes[i])
				}
				dots[r] = dot
				var ss float64
				for _, x := range row {
					ss += float64(x) * float64(x)
				}
				inv[r] = float32(1 / math.Sqrt(ss))
			} else {
				dots[r] = int32(rng.Uint32()) >> rng.Intn(32)
				inv[r] = specialF32(rng)
			}
			m.Put(metas[r*MetaSize:])
		}
		cut := float32(rng.Float64()*2 - 1)
		switch rng.Intn(6) {
		case 0:
			cut = specialF32(rng)
		case 1:
			cut = float32(math.Inf(-1))
		}
		checkScreen(t, &q, metas, dots, inv, cut)
	}
}

// FuzzScreen looks for a block of rows on which an implementation's screen
// differs from the Go expression.
func FuzzScreen(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x00\x3f\x00\x00\x80\x3f\x10\x00\x00\x00"), uint8(9), uint32(0x3f000000), int64(1))
	f.Add(make([]byte, 40), uint8(16), uint32(0x7fc00000), int64(7))
	f.Fuzz(func(t *testing.T, data []byte, n8 uint8, cutBits uint32, seed int64) {
		n := int(n8 % 64)
		word := func(i int) uint32 {
			if len(data) < 4 {
				return uint32(i * 2654435761)
			}
			j := (4 * i) % (len(data) - 3)
			return binary.LittleEndian.Uint32(data[j:]) ^ uint32(i/len(data))
		}
		metas := make([]byte, n*MetaSize)
		dots := make([]int32, n)
		inv := make([]float32, n)
		for r := 0; r < n; r++ {
			for k := 0; k < 4; k++ {
				binary.LittleEndian.PutUint32(metas[r*MetaSize+4*k:], word(6*r+k))
			}
			dots[r] = int32(word(6*r + 4))
			inv[r] = math.Float32frombits(word(6*r + 5))
		}
		rng := rand.New(rand.NewSource(seed))
		qv := make([]float32, 1+rng.Intn(40))
		for i := range qv {
			qv[i] = float32(rng.NormFloat64())
		}
		q := NewQuery(qv)
		checkScreen(t, &q, metas, dots, inv, math.Float32frombits(cutBits))
	})
}

// TestScreenNoAlloc: the code pass screens every block; it must not
// allocate.
func TestScreenNoAlloc(t *testing.T) {
	q := NewQuery([]float32{1, 2, 3})
	const n = 37
	metas, dots, inv, pass := make([]byte, n*MetaSize), make([]int32, n), make([]float32, n), make([]byte, (n+7)/8)
	if a := testing.AllocsPerRun(100, func() { q.Screen(metas, dots, inv, 0.5, pass) }); a != 0 {
		t.Fatalf("%v allocations per Screen", a)
	}
}
