package quant

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// encodeDims are the dimensions the implementations are compared at:
// every tail length of the 8- and 16-lane kernels and their multiples, the
// lengths around a register, MaxDim, and a row past it (encoded in pieces).
var encodeDims = func() []int {
	var l []int
	for d := 1; d <= 70; d++ {
		l = append(l, d)
	}
	return append(l, 100, 127, 128, 511, 512, 513, 1000, 4096, MaxDim, MaxDim+17)
}()

// encodeFamilies are the quant test families plus rows aimed at the
// quantiser: subnormal components beside normal ones, rows whose every
// component is a rounding tie at a scale that is not 1, rows too small to
// have codes (s subnormal, r = 0), components one ulp either side of a
// tie, and signed zeros.
var encodeFamilies = append(append([]family(nil), families...),
	family{"subnormal-components", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = math.Float32frombits(r.Uint32N(0x800000) | r.Uint32()&0x80000000)
			}
			v[r.IntN(d)] = float32(r.NormFloat64())
			return v
		})
	}},
	family{"ties-scaled", func(r *rand.Rand, d, n int) [][]float32 {
		// s = 2^k exactly (max 127*2^k), r = 2^-k: x*r = m + 0.5.
		return fill(n, func(int) []float32 {
			k := r.IntN(60) - 30
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(math.Ldexp(float64(r.IntN(254)-127)+0.5, k))
			}
			v[r.IntN(d)] = float32(math.Ldexp(127, k))
			return v
		})
	}},
	family{"near-ties", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(r.IntN(254)-127) + 0.5
				v[i] = math.Nextafter32(v[i], float32(math.Inf(2*r.IntN(2)-1)))
			}
			v[r.IntN(d)] = -127
			return v
		})
	}},
	family{"tiny", func(r *rand.Rand, d, n int) [][]float32 {
		// max|x| < 127 * 2^-126: s is subnormal or zero, every code 0.
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				v[i] = math.Float32frombits(r.Uint32N(1<<(3+r.IntN(20))) | r.Uint32()&0x80000000)
			}
			return v
		})
	}},
	family{"signed-zeros", func(r *rand.Rand, d, n int) [][]float32 {
		return fill(n, func(int) []float32 {
			v := make([]float32, d)
			for i := range v {
				if r.IntN(2) == 0 {
					v[i] = float32(math.Copysign(0, -1))
				}
			}
			v[r.IntN(d)] = float32(r.NormFloat64())
			return v
		})
	}},
)

// sameEncode checks that every implementation encodes x to the same codes
// and Meta bits as the pure-Go one, and writes nothing past len(x).
func sameEncode(t *testing.T, name string, x []float32) {
	t.Helper()
	qs := kernel.Quantizers()
	ref := qs[len(qs)-1] // "go", always available, last
	want := make([]byte, len(x))
	wm := encode(ref, x, want)
	got := make([]byte, len(x)+16)
	for _, q := range qs[:len(qs)-1] {
		for i := range got {
			got[i] = 0xAA
		}
		m := encode(q, x, got)
		if metaBits(m) != metaBits(wm) {
			t.Fatalf("%s d=%d: %s Meta %+v, go %+v", name, len(x), q.Name(), m, wm)
		}
		if !bytes.Equal(got[:len(x)], want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			t.Fatalf("%s d=%d: %s code %d at %d (x=%g), go %d", name, len(x), q.Name(), int8(got[i]), i, x[i], int8(want[i]))
		}
		if !bytes.Equal(got[len(x):], bytes.Repeat([]byte{0xAA}, 16)) {
			t.Fatalf("%s d=%d: %s wrote past len(row)", name, len(x), q.Name())
		}
	}
}

// TestEncodeImplementations: every implementation gives the same codes
// and Meta bits for every family at every dimension of encodeDims.
func TestEncodeImplementations(t *testing.T) {
	if len(kernel.Quantizers()) == 1 {
		t.Log("only the go implementation on this CPU and build")
	}
	for _, d := range encodeDims {
		n := 6
		if d >= 4096 {
			n = 2
		}
		for fi, f := range encodeFamilies {
			r := rand.New(rand.NewPCG(uint64(d)+300, uint64(fi)))
			for j, x := range f.rows(r, d, n) {
				sameEncode(t, fmt.Sprintf("%s #%d", f.name, j), x)
			}
		}
	}
}

// TestEncodeNoAlloc: Encode does not allocate.
func TestEncodeNoAlloc(t *testing.T) {
	x := gauss(rand.New(rand.NewPCG(5, 6)), 513)
	codes := make([]byte, len(x))
	if a := testing.AllocsPerRun(100, func() { Encode(x, codes) }); a != 0 {
		t.Fatalf("Encode allocates %v times", a)
	}
}

// FuzzEncode searches for a row two implementations encode differently
// (and checks Encode's invariants on rows the engine accepts). Byte 0
// picks the dimension (1 to 64, or one of 100, 127, 128, 511, 512, 513,
// 1000, 4096), byte 1 a power-of-two scale (2^-160 to 2^95), then two
// bytes a component (a signed mantissa byte and an exponent byte, spread
// over 32 binades), continued by a generator seeded from the input.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{3, 100, 1, 10, 2, 10, 3, 10})
	f.Add([]byte{15, 160, 127, 16, 1, 0})
	f.Add([]byte{16, 0, 0x80, 3})
	f.Add([]byte{66, 128, 255, 31, 1, 1})
	f.Add([]byte{71, 20})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		d := 1 + int(in[0])%64
		if big := []int{100, 127, 128, 511, 512, 513, 1000, 4096}; int(in[0])%72 >= 64 {
			d = big[int(in[0])%72-64]
		}
		exp := int(in[1]) - 160
		h := fnv.New64a()
		h.Write(in)
		r := rand.New(rand.NewPCG(h.Sum64(), uint64(len(in))))
		rest := in[2:]
		x := make([]float32, d)
		for i := range x {
			var m, e byte
			if len(rest) >= 2 {
				m, e, rest = rest[0], rest[1], rest[2:]
			} else {
				v := r.Uint32()
				m, e = byte(v), byte(v>>8)
			}
			x[i] = float32(math.Ldexp(float64(int8(m)), exp+int(e%32)))
		}
		for _, v := range x {
			if math.IsInf(float64(v), 0) { // Encode wants finite rows
				return
			}
		}
		sameEncode(t, "fuzz", x)
		if _, ok := engineInv(x); ok {
			checkEncode(t, "fuzz", x)
		}
	})
}

// goldenEncodeSum is the FNV-64a hash of the codes and Meta bytes of the
// rows of goldenRows, as this package computed them on amd64 (AVX-512,
// AVX2 and Go agreeing). Another architecture, build tag or compiler that
// encodes any of them differently fails TestEncodeGolden.
const goldenEncodeSum = 0x852123bc21f22df

// goldenRows makes rows from random bits alone (no floating-point
// arithmetic that could differ between platforms): exponents over a wide
// range, with ties, subnormals and signed zeros among them.
func goldenRows() [][]float32 {
	r := rand.New(rand.NewPCG(2026, 13))
	var rows [][]float32
	for _, d := range []int{1, 7, 16, 33, 100, 512, 513, 1000} {
		for k := 0; k < 8; k++ {
			v := make([]float32, d)
			base := 40 + r.Uint32N(170)
			for i := range v {
				bits := r.Uint32()
				exp := base + bits%24
				switch k {
				case 5: // ties at scale 1
					v[i] = float32(int(bits%254)-127) + 0.5
					continue
				case 6: // subnormals
					exp = 0
				}
				v[i] = math.Float32frombits(bits&0x807fffff | exp<<23)
			}
			if k == 5 {
				v[0] = 127
			}
			rows = append(rows, v)
		}
	}
	return rows
}

// TestEncodeGolden pins Encode's output bytes (see goldenEncodeSum).
func TestEncodeGolden(t *testing.T) {
	h := fnv.New64a()
	for _, x := range goldenRows() {
		codes := make([]byte, len(x)+MetaSize)
		Encode(x, codes).Put(codes[len(x):])
		h.Write(codes)
	}
	if got := h.Sum64(); got != goldenEncodeSum {
		t.Fatalf("Encode's bytes hash to %#x, want %#x", got, uint64(goldenEncodeSum))
	}
}
