package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactPrec is enough bits for any sum of squares of float64 values
// between 2^-300 and 2^200 over MaxDim terms to be exact.
const exactPrec = 1100

func bigOf(v float64) *big.Float { return new(big.Float).SetPrec(exactPrec).SetFloat64(v) }

// checkEncode checks Encode's invariants for row x exactly:
//   - codes in [-127, 127], Sum their sum, bytes past len(x) untouched;
//   - x_i - s*c_i is exact in float64 (the claim Encode relies on) and at
//     most s/2 in magnitude (c_i is a nearest code);
//   - ErrNorm^2 >= ||x - s*c||^2 and CodeNorm^2 >= s^2*||c||^2 exactly,
//     and neither is more than 2^-20 above the real norm (or a float32
//     rounding of it): a bound that holds by being huge is a regression;
//   - Encode is deterministic.
func checkEncode(t *testing.T, name string, x []float32) {
	t.Helper()
	d := len(x)
	codes := make([]byte, d+8)
	for i := range codes {
		codes[i] = 0xAA
	}
	m := Encode(x, codes)
	if !bytes.Equal(codes[d:], bytes.Repeat([]byte{0xAA}, 8)) {
		t.Fatalf("%s: Encode wrote past len(row)", name)
	}
	again := make([]byte, d)
	if m2 := Encode(x, again); m2 != m || !bytes.Equal(again, codes[:d]) {
		t.Fatalf("%s: Encode is not deterministic", name)
	}
	if !(m.Scale > 0) || math.IsInf(float64(m.Scale), 0) {
		t.Fatalf("%s: scale %g", name, m.Scale)
	}
	s := float64(m.Scale)
	bs := bigOf(s)
	ssErr, ssCode := bigOf(0), bigOf(0)
	var sum int64
	for i, b := range codes[:d] {
		c := int8(b)
		if c < -127 {
			t.Fatalf("%s: code %d at %d", name, c, i)
		}
		sum += int64(c)
		e := float64(x[i]) - s*float64(c)
		// The real residual, computed in big.Float.
		re := new(big.Float).SetPrec(exactPrec).Mul(bs, bigOf(float64(c)))
		re.Sub(bigOf(float64(x[i])), re)
		if re.Cmp(bigOf(e)) != 0 {
			t.Fatalf("%s: x[%d] - s*c = %g is not exact in float64 (x=%g s=%g c=%d)", name, i, e, x[i], s, c)
		}
		// x*r is rounded to float32 (an ulp of 2^-17 near 127), r = 1/s
		// too: the code is the nearest but within about 2^-16 of a tie.
		if math.Abs(e) > s*(0.5+0x1p-16) {
			t.Fatalf("%s: residual %g at %d exceeds s/2 = %g", name, e, i, s/2)
		}
		ssErr.Add(ssErr, new(big.Float).SetPrec(exactPrec).Mul(re, re))
		ssCode.Add(ssCode, bigOf(float64(c)*float64(c)))
	}
	if int64(m.Sum) != sum {
		t.Fatalf("%s: Sum %d, codes sum to %d", name, m.Sum, sum)
	}
	ssCode.Mul(ssCode, new(big.Float).SetPrec(exactPrec).Mul(bs, bs))
	for _, c := range []struct {
		what  string
		bound float32
		ss    *big.Float
	}{{"ErrNorm", m.ErrNorm, ssErr}, {"CodeNorm", m.CodeNorm, ssCode}} {
		b := bigOf(float64(c.bound))
		b2 := new(big.Float).SetPrec(exactPrec).Mul(b, b)
		if b2.Cmp(c.ss) < 0 {
			t.Fatalf("%s: %s %g below the norm it bounds (%g)", name, c.what, c.bound, math.Sqrt(mustFloat(c.ss)))
		}
		real := math.Sqrt(mustFloat(c.ss))
		if limit := real*(1+0x1p-20) + float64(math.SmallestNonzeroFloat32); float64(c.bound) > limit && float64(c.bound) > float64(math.Nextafter32(float32(real), float32(math.Inf(1)))) {
			t.Fatalf("%s: %s %g much above the norm %g", name, c.what, c.bound, real)
		}
	}
}

func mustFloat(b *big.Float) float64 { f, _ := b.Float64(); return f }

// TestEncodeInvariants checks Encode's invariants on every family at
// every dimension, plus rows built at Encode's edges.
func TestEncodeInvariants(t *testing.T) {
	n := 20
	if testing.Short() {
		n = 4
	}
	for _, d := range dims {
		for fi, f := range families {
			r := rand.New(rand.NewPCG(uint64(d)+200, uint64(fi)))
			for _, x := range f.rows(r, d, n) {
				if _, ok := engineInv(x); ok {
					checkEncode(t, f.name, x)
				}
			}
		}
	}
	edges := map[string][]float32{
		"one":              {1},
		"negative":         {-3},
		"smallest row":     {1e-30},
		"largest row":      {1e30},
		"subnormal parts":  {1e-30, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32 * 3, 1e-38},
		"huge parts":       {1e30, -1e30 / 3, 1e22},
		"ties":             {127, 0.5, 1.5, 2.5, -0.5, -1.5},
		"max not rounding": {math.Nextafter32(127, 0), 1, -127},
		"scale rounds":     {1 / 3.0, 1e-3, -0.2},
	}
	for name, x := range edges {
		checkEncode(t, name, x)
	}
	r := rand.New(rand.NewPCG(11, 12))
	checkEncode(t, "MaxDim", gauss(r, MaxDim))
}

// TestMetaRoundTrip: DecodeMeta(Put(m)) == m bit for bit, NaN payloads,
// infinities, negative zero and subnormals included.
func TestMetaRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, math.SmallestNonzeroFloat32, math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffbfffff)}
	pick := func() float32 {
		if r.IntN(2) == 0 {
			return specials[r.IntN(len(specials))]
		}
		return math.Float32frombits(r.Uint32())
	}
	b := make([]byte, MetaSize+4)
	for i := 0; i < 10000; i++ {
		m := Meta{Scale: pick(), ErrNorm: pick(), CodeNorm: pick(), Sum: int32(r.Uint32())}
		clear(b)
		m.Put(b)
		if !bytes.Equal(b[MetaSize:], make([]byte, 4)) {
			t.Fatal("Put wrote past MetaSize")
		}
		got := DecodeMeta(b)
		if metaBits(got) != metaBits(m) {
			t.Fatalf("round trip of %+v gave %+v", m, got)
		}
	}
	// The layout is the package doc's table.
	m := Meta{Scale: 1, ErrNorm: 2, CodeNorm: 3, Sum: -4}
	m.Put(b)
	want := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1))
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(2))
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(3))
	want = binary.LittleEndian.AppendUint32(want, uint32(0xfffffffc))
	if !bytes.Equal(b[:MetaSize], want) {
		t.Fatalf("layout %x, want %x", b[:MetaSize], want)
	}
}

func metaBits(m Meta) [4]uint32 {
	return [4]uint32{math.Float32bits(m.Scale), math.Float32bits(m.ErrNorm), math.Float32bits(m.CodeNorm), uint32(m.Sum)}
}

// FuzzDecodeMeta: any MetaSize bytes from disk decode without a panic and
// re-encode to the same bytes (the first MetaSize of a longer input; a
// shorter one is zero-padded).
func FuzzDecodeMeta(f *testing.F) {
	f.Add(make([]byte, MetaSize))
	f.Add(bytes.Repeat([]byte{0xff}, MetaSize))
	f.Add([]byte{0, 0, 0xc0, 0x7f, 1, 0, 0x80, 0x7f, 0, 0, 0x80, 0xff, 0x80, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		b := make([]byte, MetaSize)
		copy(b, in)
		m := DecodeMeta(b)
		out := make([]byte, MetaSize)
		m.Put(out)
		if !bytes.Equal(out, b) {
			t.Fatalf("DecodeMeta then Put changed %x to %x", b, out)
		}
	})
}

// TestDecodeMetas: the in-place view and the decoding copy (an unaligned
// slice takes it) both give what DecodeMeta gives, meta by meta.
func TestDecodeMetas(t *testing.T) {
	const n = 9
	buf := make([]byte, n*MetaSize+1)
	for i := range buf {
		buf[i] = byte(i*37 + 11)
	}
	for _, off := range []int{0, 1} {
		b := buf[off : off+n*MetaSize]
		got := DecodeMetas(b, make([]Meta, n))
		if len(got) != n {
			t.Fatalf("offset %d: %d metas, want %d", off, len(got), n)
		}
		for i, m := range got {
			// Bits, not values: some of these words are NaNs.
			enc := make([]byte, MetaSize)
			m.Put(enc)
			if want := b[i*MetaSize : (i+1)*MetaSize]; string(enc) != string(want) {
				t.Fatalf("offset %d: meta %d encodes as %x, want %x", off, i, enc, want)
			}
		}
	}
	if DecodeMetas(nil, nil) != nil {
		t.Fatal("DecodeMetas(nil) is not nil")
	}
}
