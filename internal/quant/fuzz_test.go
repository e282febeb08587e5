package quant

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// FuzzDotBounds searches for a (row, query) pair whose float32 dot product,
// from the selected kernel or any pure-Go order, falls outside DotBounds.
//
// Input layout: byte 0 picks the dimension (1 to 64, or one of 100, 512,
// 1000, 4096), byte 1 the row's scale (a power of two, 2^-100 to 2^99),
// byte 2 how the query is made (from its own bytes, the row, its
// negation, the row times 1e20, the row's code residual, the row plus a
// few ulps), and the rest the components: two bytes each (a signed
// mantissa byte and an exponent byte, so that magnitudes mix within a
// row), the row's first, then the query's. Inputs too short for all the
// components are continued by a generator seeded from the input.
func FuzzDotBounds(f *testing.F) {
	f.Add([]byte{3, 100, 0, 1, 10, 2, 10, 3, 10, 4, 10, 5, 10, 6, 10})
	f.Add([]byte{16, 100, 1, 127, 16, 1, 0})
	f.Add([]byte{64, 60, 4, 0x80, 3})
	f.Add([]byte{65, 140, 2, 7, 7})
	f.Add([]byte{66, 20, 5, 255, 31, 1, 1})
	f.Add([]byte{200, 100, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 {
			return
		}
		d := 1 + int(in[0])%64
		if big := []int{100, 512, 1000, 4096}; int(in[0])%68 >= 64 {
			d = big[int(in[0])%68-64]
		}
		rowExp := int(in[1])%200 - 100
		mode := in[2] % 6
		h := fnv.New64a()
		h.Write(in)
		r := rand.New(rand.NewPCG(h.Sum64(), uint64(len(in))))
		rest := in[3:]
		next := func() (byte, byte) {
			if len(rest) >= 2 {
				a, b := rest[0], rest[1]
				rest = rest[2:]
				return a, b
			}
			v := r.Uint32()
			return byte(v), byte(v >> 8)
		}
		comp := func(exp int) float32 {
			m, e := next()
			// Mantissa byte as a signed value, exponent spread over 32
			// binades; a few components exactly zero.
			return float32(math.Ldexp(float64(int8(m)), exp+int(e%32)-16))
		}
		x := make([]float32, d)
		for i := range x {
			x[i] = comp(rowExp)
		}
		var q []float32
		switch mode {
		case 0:
			q = make([]float32, d)
			for i := range q {
				q[i] = comp(0)
			}
		case 1:
			q = x
		case 2:
			q = scaled(x, -1)
		case 3:
			q = scaled(x, 1e20)
		case 4:
			q = residual(x)
		case 5:
			q = append([]float32(nil), x...)
			for k := 0; k < 3; k++ {
				i := r.IntN(d)
				q[i] = math.Nextafter32(q[i], float32(math.Inf(2*r.IntN(2)-1)))
			}
		}
		if _, ok := engineInv(x); !ok {
			return
		}
		qn, ok := normalize(q)
		if !ok {
			return
		}
		codes := make([]byte, d)
		m := Encode(x, codes)
		qq := NewQuery(qn)
		lo, hi := qq.DotBounds(m, intDot(qq.Codes, codes))
		if k := kernel.Dot(qn, x); !(lo <= k && k <= hi) {
			t.Fatalf("d=%d: kernel %s dot %g outside [%g, %g]", d, kernel.Impl(), k, lo, hi)
		}
		for _, o := range orders {
			if k := o.dot(qn, x); !(lo <= k && k <= hi) {
				t.Fatalf("d=%d: order %s dot %g outside [%g, %g]", d, o.name, k, lo, hi)
			}
		}
		// Meta bytes survive the trip through disk.
		var b [MetaSize]byte
		m.Put(b[:])
		if DecodeMeta(b[:]) != m {
			t.Fatal("meta round trip")
		}
	})
}
