package kernel

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"
	"unsafe"
)

var implNames = []string{"go", "avx2", "avx512"}

// forEachImpl runs f as a subtest for every implementation, skipping the
// ones this CPU or build cannot run.
func forEachImpl(t *testing.T, f func(t *testing.T, k *impl)) {
	for _, name := range implNames {
		t.Run(name, func(t *testing.T) { f(t, implOrSkip(t, name)) })
	}
}

// implOrSkip returns the implementation called name, skipping tb if this
// CPU or build cannot run it.
func implOrSkip(tb testing.TB, name string) *impl {
	k, ok := byName(name)
	if !ok {
		tb.Skipf("%s not available on this CPU/build", name)
	}
	return k
}

// ref returns the float64 dot product of a and b and sum|a_i*b_i|.
func ref(a, b []float32) (dot, mag float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

// within reports whether got is within the float32 accumulation error of
// the exact dot product want, whose terms have absolute sum mag.
func within(got float32, want, mag float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*mag+1e-40
}

// filler draws vector elements of one kind.
type filler struct {
	name string
	f    func(r *rand.Rand, i int) float32
}

var fillers = []filler{
	{"normal", func(r *rand.Rand, i int) float32 { return float32(r.NormFloat64()) }},
	// |a_i*b_i| <= 1e36, so 300 terms stay below float32's 3.4e38.
	{"large", func(r *rand.Rand, i int) float32 { return float32((2*r.Float64() - 1) * 1e18) }},
	{"tiny", func(r *rand.Rand, i int) float32 { return float32((2*r.Float64() - 1) * 1e-18) }},
	// Magnitudes 1e-18..1e17 mixed, random signs.
	{"mixed", func(r *rand.Rand, i int) float32 {
		return float32((2*r.Float64() - 1) * math.Pow(10, float64(r.Intn(36)-18)))
	}},
	// Big terms of alternating sign that cancel, over small ones.
	{"cancel", func(r *rand.Rand, i int) float32 {
		if i%2 == 0 {
			return 1e6 * float32(1+i%5)
		}
		return float32(r.NormFloat64())
	}},
	{"ones", func(r *rand.Rand, i int) float32 { return 1 }},
}

// fill returns a buffer of n elements of kind f; for "cancel" the partner
// buffer gets the alternating signs.
func fill(r *rand.Rand, f filler, n int, partner bool) []float32 {
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = f.f(r, i)
		if partner && f.name == "cancel" && i%2 == 0 && (i/2)%2 == 1 {
			buf[i] = -buf[i]
		}
	}
	return buf
}

// TestDot checks Dot against float64 for every length 1..300, offsets
// 0..3 into both buffers and every kind of value.
func TestDot(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(1))
		for _, f := range fillers {
			a, b := fill(rng, f, 304, false), fill(rng, f, 304, true)
			for d := 1; d <= 300; d++ {
				for off := 0; off < 4; off++ {
					x, y := a[off:off+d], b[(off*3)%4:(off*3)%4+d+1] // y longer than x
					want, mag := ref(x, y[:d])
					if got := k.Dot(x, y); !within(got, want, mag) {
						t.Fatalf("%s d=%d off=%d: got %g, float64 %g (sum|ab| %g)", f.name, d, off, got, want, mag)
					}
				}
			}
		}
		if got := k.Dot(nil, nil); got != 0 {
			t.Fatalf("Dot(nil, nil) = %v", got)
		}
	})
}

const sentinel = float32(-7.25e11)

// checkMulti runs DotBlockMulti (or DotBlock when nq == 0) with the given
// shape on fresh data and verifies every output against float64 and every
// other element of out against the sentinel. qOff and rOff shift the
// starts of the query and row slices.
func checkMulti(t *testing.T, k *impl, rng *rand.Rand, f filler, nq, d, stride, n, qOff, rOff int) {
	t.Helper()
	block := nq == 0
	if block {
		nq = 1
	}
	qbuf := fill(rng, f, qOff+nq*d, false)
	rbuf := fill(rng, f, rOff+(n-1)*stride+d, true)
	qs, rows := qbuf[qOff:], rbuf[rOff:]
	outStride := n
	if !block {
		outStride = n + 3
	}
	const pad = 5
	obuf := make([]float32, pad+(nq-1)*outStride+n+pad)
	for i := range obuf {
		obuf[i] = sentinel
	}
	out := obuf[pad : pad+(nq-1)*outStride+n]
	if block {
		k.DotBlock(qs[:d], rows, stride, out)
	} else {
		k.DotBlockMulti(qs, nq, d, rows, stride, n, out, outStride)
	}
	written := make([]bool, len(obuf))
	for i := 0; i < nq; i++ {
		for r := 0; r < n; r++ {
			j := pad + i*outStride + r
			written[j] = true
			want, mag := ref(qs[i*d:(i+1)*d], rows[r*stride:r*stride+d])
			if got := obuf[j]; !within(got, want, mag) {
				t.Fatalf("%s block=%v nq=%d d=%d stride=%d n=%d qOff=%d rOff=%d: out[q=%d][r=%d] = %g, float64 %g (sum|ab| %g)",
					f.name, block, nq, d, stride, n, qOff, rOff, i, r, got, want, mag)
			}
		}
	}
	for j, w := range written {
		if !w && obuf[j] != sentinel {
			t.Fatalf("%s block=%v nq=%d d=%d stride=%d n=%d: out index %d outside the result was overwritten with %g",
				f.name, block, nq, d, stride, n, j-pad, obuf[j])
		}
	}
}

var (
	testNs  = []int{1, 2, 3, 7, 16, 33}
	testNqs = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 32}
)

// TestDotBlock covers every d in 1..300 with strides d, d+1, d+7, every n
// in testNs and offsets 0..3 (cycled).
func TestDotBlock(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(2))
		for d := 1; d <= 300; d++ {
			for si, stride := range []int{d, d + 1, d + 7} {
				for ni, n := range testNs {
					f := fillers[(d+ni)%len(fillers)]
					checkMulti(t, k, rng, f, 0, d, stride, n, (d+si)%4, (d+ni+si)%4)
				}
			}
		}
	})
}

// TestDotBlockMulti covers every d in 1..300 and every nq in testNqs, with
// n, stride and offsets cycled, then the full product of shapes for d up
// to 40 (every tail length of both instruction sets, several times).
func TestDotBlockMulti(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(3))
		for d := 1; d <= 300; d++ {
			for qi, nq := range testNqs {
				c := d + qi
				stride := []int{d, d + 1, d + 7}[c%3]
				n := testNs[c%len(testNs)]
				checkMulti(t, k, rng, fillers[c%len(fillers)], nq, d, stride, n, c%4, (c/4)%4)
			}
		}
		for d := 1; d <= 40; d++ {
			for _, nq := range testNqs {
				for _, n := range testNs {
					for si, stride := range []int{d, d + 1, d + 7} {
						checkMulti(t, k, rng, fillers[0], nq, d, stride, n, si, (n+si)%4)
					}
				}
			}
		}
	})
}

// TestBitIdentical: within one implementation a (query, row) pair scores
// the same bits whether it comes from Dot, DotBlock or DotBlockMulti, for
// any nq, tile position (rows shifted by one), stride or alignment. The
// engine relies on this: SearchBatch must equal Search.
func TestBitIdentical(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(5))
		const n = 37
		for d := 1; d <= 300; d += 1 + d/16 {
			qs := fill(rng, fillers[0], 32*d, false)
			rows := fill(rng, fillers[0], n*d, false)
			// The same rows at another alignment and stride.
			const off, pad = 3, 5
			stride2 := d + pad
			rows2 := make([]float32, off+n*stride2)[off:]
			for r := 0; r < n; r++ {
				copy(rows2[r*stride2:], rows[r*d:(r+1)*d])
			}
			want := make([]float32, n)
			for _, nq := range testNqs {
				out := make([]float32, nq*n)
				out2 := make([]float32, nq*n)
				k.DotBlockMulti(qs, nq, d, rows, d, n, out, n)
				// rows 1..n-1 only: every row lands in another tile slot.
				k.DotBlockMulti(qs, nq, d, rows2[stride2:], stride2, n-1, out2, n)
				for i := 0; i < nq; i++ {
					q := qs[i*d : (i+1)*d]
					k.DotBlock(q, rows, d, want)
					for r := 0; r < n; r++ {
						w := math.Float32bits(want[r])
						if got := math.Float32bits(out[i*n+r]); got != w {
							t.Fatalf("d=%d nq=%d q=%d r=%d: DotBlockMulti %g, DotBlock %g", d, nq, i, r, out[i*n+r], want[r])
						}
						if r > 0 && math.Float32bits(out2[i*n+r-1]) != w {
							t.Fatalf("d=%d nq=%d q=%d r=%d: shifted/strided %g, DotBlock %g", d, nq, i, r, out2[i*n+r-1], want[r])
						}
						if got := k.Dot(q, rows[r*d:]); math.Float32bits(got) != w {
							t.Fatalf("d=%d q=%d r=%d: Dot %g, DotBlock %g", d, i, r, got, want[r])
						}
					}
				}
			}
		}
	})
}

// TestExtremeShapes: d = 0, n = 0, nq = 0, and large d (the query set is
// then split into several batches).
func TestExtremeShapes(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(4))
		for _, d := range []int{511, 512, 513, 1536, 4099} {
			checkMulti(t, k, rng, fillers[0], 0, d, d, 9, 1, 2)
			checkMulti(t, k, rng, fillers[0], 6, d, d+3, 9, 3, 1)
			checkMulti(t, k, rng, fillers[0], 37, d, d, 45, 0, 0) // query batches, row chunks
		}
		out := []float32{sentinel, sentinel, sentinel}
		k.DotBlock(nil, nil, 0, out[:2])
		if out[0] != 0 || out[1] != 0 || out[2] != sentinel {
			t.Fatalf("d=0 DotBlock wrote %v", out)
		}
		out = []float32{sentinel, sentinel, sentinel, sentinel, sentinel}
		k.DotBlockMulti(nil, 2, 0, nil, 0, 1, out, 3)
		if out[0] != 0 || out[3] != 0 || out[1] != sentinel || out[2] != sentinel || out[4] != sentinel {
			t.Fatalf("d=0 DotBlockMulti wrote %v", out)
		}
		k.DotBlock([]float32{1}, nil, 1, nil)                  // n = 0
		k.DotBlockMulti([]float32{1}, 0, 1, nil, 1, 5, nil, 5) // nq = 0
		k.DotBlockMulti([]float32{1}, 1, 1, nil, 1, 0, nil, 0) // n = 0
	})
}

// TestPreconditions: violated length preconditions panic before any
// assembly can read or write out of bounds.
func TestPreconditions(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		q := make([]float32, 16)
		rows := make([]float32, 16*4)
		out := make([]float32, 8)
		cases := map[string]func(){
			"dot short b":     func() { k.Dot(q, q[:15]) },
			"block short row": func() { k.DotBlock(q, rows[:16*3+15], 16, out[:4]) },
			"block stride<d":  func() { k.DotBlock(q, rows, 15, out[:4]) },
			"block huge n":    func() { k.DotBlock(q, rows, 16, make([]float32, 5)) },
			"block stride ovf": func() {
				k.DotBlock(q, rows, math.MaxInt/2, out[:3])
			},
			"multi short qs":  func() { k.DotBlockMulti(q, 2, 9, rows, 16, 4, out, 4) },
			"multi short out": func() { k.DotBlockMulti(q, 2, 8, rows, 16, 4, out[:7], 4) },
			"multi outStride": func() { k.DotBlockMulti(q, 2, 8, rows, 16, 4, out, 3) },
			"multi neg n":     func() { k.DotBlockMulti(q, 2, 8, rows, 16, -1, out, 4) },
			"multi ovf": func() {
				k.DotBlockMulti(q, 2, 8, rows, 16, 4, out, math.MaxInt/2+1)
			},
		}
		for name, f := range cases {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: no panic", name)
					}
				}()
				f()
			}()
		}
	})
}

// TestNoAlloc: the package-level entry points do not allocate.
func TestNoAlloc(t *testing.T) {
	const d, n, nq = 100, 37, 11
	q := make([]float32, nq*d)
	rows := make([]float32, n*d)
	out := make([]float32, nq*n)
	if a := testing.AllocsPerRun(100, func() {
		DotBlock(q[:d], rows, d, out[:n])
		DotBlockMulti(q, nq, d, rows, d, n, out, n)
		_ = Dot(q[:d], rows)
	}); a != 0 {
		t.Fatalf("%v allocations per run", a)
	}
}

// TestSelection: Impl names the best implementation unless MEMVEC_KERNEL
// forces another; unknown names fall back to the best.
func TestSelection(t *testing.T) {
	best := available()[0]
	if want := os.Getenv("MEMVEC_KERNEL"); want != "" {
		if k, ok := byName(want); ok && Impl() != k.name {
			t.Fatalf("MEMVEC_KERNEL=%s but Impl() = %s", want, Impl())
		}
	} else if Impl() != best.name {
		t.Fatalf("Impl() = %s, best available %s", Impl(), best.name)
	}
	if choose("go") != goImpl || choose("nonsense") != best || choose("") != best {
		t.Fatal("choose does not honour names")
	}
	t.Logf("selected %s; available:", Impl())
	for _, k := range available() {
		t.Logf("  %s", k.name)
	}
}

// FuzzDotBlock compares the selected implementation with the Go one, and
// both with float64, on fuzzer-chosen shapes and values; DotBlock must
// match DotBlockMulti bit for bit. Values are
// int8 mantissas scaled by 2^[-24, 24], so no sum can overflow.
func FuzzDotBlock(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"), uint16(17), uint8(5), uint8(1), uint8(3))
	f.Add([]byte("\x80\x7f\x00\xff"), uint16(300), uint8(33), uint8(7), uint8(32))
	f.Add([]byte{}, uint16(1), uint8(1), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, d16 uint16, n8, extra, nq8 uint8) {
		d := int(d16%1024) + 1
		n := int(n8%64) + 1
		nq := int(nq8%40) + 1
		stride := d + int(extra%8)
		val := func(i int) float32 {
			if len(data) < 2 {
				return float32(i%7) - 3
			}
			m := int8(data[(2*i)%len(data)])
			e := int(data[(2*i+1)%len(data)]%49) - 24
			return float32(math.Ldexp(float64(m), e))
		}
		qs := make([]float32, nq*d)
		for i := range qs {
			qs[i] = val(i)
		}
		rows := make([]float32, (n-1)*stride+d)
		for i := range rows {
			rows[i] = val(i*3 + 1)
		}
		got := make([]float32, nq*n)
		want := make([]float32, nq*n)
		cur.DotBlockMulti(qs, nq, d, rows, stride, n, got, n)
		goImpl.DotBlockMulti(qs, nq, d, rows, stride, n, want, n)
		one := make([]float32, n)
		cur.DotBlock(qs[:d], rows, stride, one)
		for i := 0; i < nq; i++ {
			for r := 0; r < n; r++ {
				exact, mag := ref(qs[i*d:(i+1)*d], rows[r*stride:r*stride+d])
				g, w := got[i*n+r], want[i*n+r]
				if !within(g, exact, mag) || !within(w, exact, mag) || math.Abs(float64(g-w)) > 2e-5*mag+1e-40 {
					t.Fatalf("nq=%d d=%d n=%d stride=%d q=%d r=%d: %s %g, go %g, float64 %g",
						nq, d, n, stride, i, r, cur.name, g, w, exact)
				}
				if i == 0 && math.Float32bits(one[r]) != math.Float32bits(g) {
					t.Fatalf("d=%d n=%d r=%d: DotBlock %g, DotBlockMulti %g", d, n, r, one[r], g)
				}
			}
		}
	})
}

// Benchmarks. "l2" uses 256 rows (512 KiB at d=512), which stays in L2 and
// measures compute; "stream" walks 256-row blocks through a 64 MiB buffer
// and measures memory bandwidth; "unaligned" is l2 with every row 4 bytes
// off a 64-byte boundary.

const (
	benchD      = 512
	benchRows   = 256
	streamBytes = 64 << 20
)

// alignedFloats returns n float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	for i := range buf {
		buf[i] = float32(i%97)*0.01 - 0.5
	}
	for i := 0; i < 16; i++ {
		if uintptr(unsafe.Pointer(&buf[i]))%64 == 0 {
			return buf[i : i+n]
		}
	}
	return buf[:n]
}

type benchCase struct {
	name  string
	total int // floats in the row buffer
	off   int // start offset in floats
}

var benchCases = []benchCase{
	{"l2", benchRows * benchD, 0},
	{"unaligned", benchRows * benchD, 1},
	{"stream", streamBytes / 4, 0},
}

func benchImpls(b *testing.B, f func(b *testing.B, k *impl)) {
	for _, name := range implNames {
		b.Run(name, func(b *testing.B) { f(b, implOrSkip(b, name)) })
	}
}

func BenchmarkDotBlock(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		for _, c := range benchCases {
			b.Run(fmt.Sprintf("d=%d/%s", benchD, c.name), func(b *testing.B) {
				buf := alignedFloats(c.total + c.off)[c.off:]
				q := alignedFloats(benchD)
				out := make([]float32, benchRows)
				blocks := len(buf) / (benchRows * benchD)
				b.SetBytes(benchRows * benchD * 4)
				for i := 0; b.Loop(); i++ {
					rows := buf[(i%blocks)*benchRows*benchD:]
					k.DotBlock(q, rows, benchD, out)
				}
				reportGB(b, benchRows*benchD*4)
			})
		}
	})
}

func BenchmarkDotBlockMulti(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		for _, nq := range []int{4, 8, 32} {
			for _, c := range benchCases {
				if c.name == "unaligned" && nq != 32 {
					continue
				}
				benchMulti(b, k, nq, benchD, c)
			}
		}
		// Other dimensions, 256-row blocks streamed from memory as the
		// engine does (a d=1536 block, 1.5 MiB, does not fit L2).
		for _, d := range []int{128, 1536} {
			benchMulti(b, k, 32, d, benchCase{"stream", streamBytes / 4, 0})
		}
	})
}

func benchMulti(b *testing.B, k *impl, nq, d int, c benchCase) {
	b.Run(fmt.Sprintf("nq=%d/d=%d/%s", nq, d, c.name), func(b *testing.B) {
		buf := alignedFloats(c.total + c.off)[c.off:]
		qs := alignedFloats(nq * d)
		out := make([]float32, nq*benchRows)
		blocks := len(buf) / (benchRows * d)
		b.SetBytes(int64(benchRows * d * 4))
		for i := 0; b.Loop(); i++ {
			rows := buf[(i%blocks)*benchRows*d:]
			k.DotBlockMulti(qs, nq, d, rows, d, benchRows, out, benchRows)
		}
		reportGB(b, benchRows*d*4)
		flops := 2 * float64(nq) * benchRows * float64(d) * float64(b.N)
		b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func BenchmarkDot(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		x, y := alignedFloats(benchD), alignedFloats(benchD)
		b.SetBytes(2 * benchD * 4)
		var s float32
		for b.Loop() {
			s += k.Dot(x, y)
		}
		_ = s
	})
}

// reportGB reports the rows read per second in GB/s (1e9 bytes).
func reportGB(b *testing.B, bytesPerOp int) {
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// TestStream checks Stream against a byte-at-a-time reference for every
// length 0..1100 (all tails around the 256-byte blocks) at every start
// offset within a word, so no byte is skipped or read twice.
func TestStream(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		rng := rand.New(rand.NewSource(5))
		buf := make([]byte, 1100+8)
		rng.Read(buf)
		for off := 0; off < 8; off++ {
			for n := 0; n+off <= len(buf) && n <= 1100; n++ {
				b := buf[off : off+n]
				var want uint64
				for i, c := range b {
					want ^= uint64(c) << (8 * (i % 8))
				}
				if got := k.stream(b); got != want {
					t.Fatalf("off %d len %d: got %#x, want %#x", off, n, got, want)
				}
			}
		}
	})
}

// BenchmarkStream is the floor DotBlock is compared with: the same bytes,
// one XOR per load.
func BenchmarkStream(b *testing.B) {
	benchImpls(b, func(b *testing.B, k *impl) {
		for _, c := range benchCases {
			b.Run(fmt.Sprintf("d=%d/%s", benchD, c.name), func(b *testing.B) {
				buf := alignedFloats(c.total + c.off)[c.off:]
				bytes := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*4)
				block := benchRows * benchD * 4
				blocks := len(bytes) / block
				b.SetBytes(int64(block))
				for i := 0; b.Loop(); i++ {
					k.stream(bytes[(i%blocks)*block : (i%blocks+1)*block])
				}
				reportGB(b, block)
			})
		}
	})
}
