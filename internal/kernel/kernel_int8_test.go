package kernel

import (
	"math"
	"math/rand"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// int8s views b as int8s.
func int8s(b []byte) []int8 {
	if len(b) == 0 {
		return []int8{}
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// int8Dims are the dimensions every test covers: every tail length class
// of both instruction sets (16- and 64-byte registers), and the limit.
var int8Dims = []int{1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 511, 512, 513, 1000, 4096, MaxInt8Dim}

// int8Kind draws query and code values of one kind.
type int8Kind struct {
	name     string
	q, codes func(r *rand.Rand) int8
}

func uniform127(r *rand.Rand) int8 { return int8(r.Intn(255) - 127) }
func sign127(r *rand.Rand) int8 {
	if r.Intn(2) == 0 {
		return -127
	}
	return 127
}
func constant(v int8) func(*rand.Rand) int8 { return func(*rand.Rand) int8 { return v } }

var int8Kinds = []int8Kind{
	{"random", uniform127, uniform127},
	{"max", constant(127), constant(127)},   // the largest positive sum
	{"min", constant(127), constant(-127)},  // the largest negative sum
	{"neg", constant(-127), constant(-127)}, // q+128 = 1 on VNNI
	{"signs", sign127, sign127},
	// -128 is outside the quantizer's range but still exact.
	{"int8min", func(r *rand.Rand) int8 {
		if r.Intn(2) == 0 {
			return -128
		}
		return int8(r.Intn(256) - 128)
	}, constant(-128)},
}

// int8Data is a set of queries and rows of one kind with their exact dot
// products, computed in int64 on demand.
type int8Data struct {
	d     int
	qs    []int8 // maxQ queries of d
	rows  []int8 // maxN rows of d, dense
	ref   map[[2]int]int32
	kind  string
	maxNQ int
}

func newInt8Data(rng *rand.Rand, k int8Kind, d, maxNQ, maxN int) *int8Data {
	m := &int8Data{d: d, qs: make([]int8, maxNQ*d), rows: make([]int8, maxN*d),
		ref: map[[2]int]int32{}, kind: k.name, maxNQ: maxNQ}
	for i := range m.qs {
		m.qs[i] = k.q(rng)
	}
	for i := range m.rows {
		m.rows[i] = k.codes(rng)
	}
	return m
}

// dot returns the exact dot product of query j and row r.
func (m *int8Data) dot(t *testing.T, j, r int) int32 {
	if v, ok := m.ref[[2]int{j, r}]; ok {
		return v
	}
	var s int64
	q, row := m.qs[j*m.d:(j+1)*m.d], m.rows[r*m.d:(r+1)*m.d]
	for i := range q {
		s += int64(q[i]) * int64(row[i])
	}
	if s != int64(int32(s)) {
		t.Fatalf("reference %d overflows int32", s)
	}
	m.ref[[2]int{j, r}] = int32(s)
	return int32(s)
}

const int8Sentinel = int32(-0x5a5a5a5a)

// garbage fills the padding between rows, which no kernel may count.
var garbage = func() []int8 {
	g := make([]int8, 4096)
	for i := range g {
		g[i] = int8(i*7 + 3)
	}
	return g
}()

// checkInt8 scores the first n rows, laid out with the given stride,
// against the first nq queries (Int8DotBlock when nq == 0) with
// implementation k, every input (queries, codes) in guarded memory
// that ends (or starts, when !atEnd) at an inaccessible page, and checks every output against
// the exact dot product and every other element of out against the
// sentinel.
func checkInt8(t *testing.T, k *impl, m *int8Data, nq, n, stride int, atEnd bool) {
	t.Helper()
	d := m.d
	block := nq == 0
	if block {
		nq = 1
	}
	qs, freeQ := guardedInt8(t, nq*d, atEnd)
	defer freeQ()
	copy(qs, m.qs)
	clen := 0
	if n > 0 {
		clen = (n-1)*stride + d
	}
	codes, freeC := guardedInt8(t, clen, atEnd)
	defer freeC()
	if n > 0 {
		for i := 0; i < len(codes); i += len(garbage) {
			copy(codes[i:], garbage) // padding between rows
		}
		for r := 0; r < n; r++ {
			copy(codes[r*stride:r*stride+d], m.rows[r*d:(r+1)*d])
		}
	}
	outStride := n
	if !block {
		outStride = n + 3
	}
	const pad = 5
	olen := 0
	if n > 0 {
		olen = (nq-1)*outStride + n
	}
	obuf := make([]int32, pad+olen+pad)
	for i := range obuf {
		obuf[i] = int8Sentinel
	}
	out := obuf[pad : pad+olen]
	if block {
		k.Int8DotBlock(qs, codes, stride, out)
	} else {
		k.Int8DotBlockMulti(qs, nq, d, codes, stride, n, out, outStride)
	}
	if !block && n%2 == 1 { // and, for half the shapes, with the sums given
		k.Int8DotBlockSums(qs, nq, d, Int8Sums(qs, nq, d), codes, stride, n, out, outStride)
	}
	written := make([]bool, len(obuf))
	for j := 0; j < nq; j++ {
		for r := 0; r < n; r++ {
			i := pad + j*outStride + r
			written[i] = true
			if got, want := obuf[i], m.dot(t, j, r); got != want {
				t.Fatalf("%s %s block=%v nq=%d d=%d stride=%d n=%d atEnd=%v: out[q=%d][r=%d] = %d, want %d",
					k.name, m.kind, block, nq, d, stride, n, atEnd, j, r, got, want)
			}
		}
	}
	for i, w := range written {
		if !w && obuf[i] != int8Sentinel {
			t.Fatalf("%s %s block=%v nq=%d d=%d stride=%d n=%d: out index %d outside the result was overwritten with %d",
				k.name, m.kind, block, nq, d, stride, n, i-pad, obuf[i])
		}
	}
}

// int8Ns are the row counts: every tile remainder, and a whole block.
var int8Ns = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 256}

// TestInt8DotBlock: every implementation available (available(), whatever
// MEMVEC_KERNEL says) returns the exact dot product
// for every dimension in int8Dims, every kind of value, every n in
// int8Ns, strides d, d+1 and d+37 (one of them, cycled, above d = 1000,
// where 256 rows are tried with random and maximal values only), with the
// data flush against a guard page at either end.
func TestInt8DotBlock(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, d := range int8Dims {
		for ki, kind := range int8Kinds {
			m := newInt8Data(rng, kind, d, 1, 256)
			for _, k := range available() {
				for i, n := range int8Ns {
					for si, stride := range []int{d, d + 1, d + 37} {
						c := i + si + ki
						if d > 1000 && (si != c%3 || n == 256 && ki > 1) {
							continue
						}
						checkInt8(t, k, m, 0, n, stride, c%2 == 0)
					}
				}
			}
		}
	}
}

// TestInt8DotBlockMulti: the same for 1..33 queries, on the shapes
// multiShape picks.
func TestInt8DotBlockMulti(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, d := range int8Dims {
		for ki, kind := range int8Kinds {
			m := newInt8Data(rng, kind, d, 33, 256)
			for _, k := range available() {
				for nq := 1; nq <= 33; nq++ {
					for ni, n := range int8Ns {
						c := nq + ni
						if !multiShape(d, ki, nq, n, c) {
							continue
						}
						stride := []int{d, d + 1, d + 37}[c%3]
						checkInt8(t, k, m, nq, n, stride, c%2 == 0)
					}
				}
			}
		}
	}
	// Query sets of several 32 KiB batches (4 at d = 4096), over row
	// chunks (of 60 rows at this stride).
	m := newInt8Data(rng, int8Kinds[0], 4096, 33, 256)
	for _, k := range available() {
		checkInt8(t, k, m, 33, 67, 4096+64, true)
	}
}

// multiShape reports whether TestInt8DotBlockMulti runs nq queries against
// n rows of dimension d with values of kind ki (c cycles the choices). The
// test is dominated by the Go implementation and the reference, so it
// covers the shapes where tails and tiles differ densely and the
// expensive ones sparsely:
//
//   - d <= 1000, n <= 9: every nq up to 33 (every nq%4 with every n%4
//     and n/4) for d <= 128, and 1..9, 16, 31..33 above, each with random
//     values and one extreme kind, cycled;
//   - d <= 1000, n = 256: nq 1, 5 and 33, random values;
//   - d > 1000: nq 1, 4, 5 and 33 with n in 0, 1, 4, 5, 9, random and
//     maximal values; 256 rows for nq 1 and 5 at d = 4096 and nq 1 at
//     MaxInt8Dim, random values.
func multiShape(d, ki, nq, n, c int) bool {
	extreme := 1 + c%(len(int8Kinds)-1)
	switch {
	case d <= 1000 && n <= 9:
		if ki != 0 && ki != extreme {
			return false
		}
		return d <= 128 || nq <= 9 || nq == 16 || nq >= 31
	case d <= 1000:
		return ki == 0 && (nq == 1 || nq == 5 || nq == 33)
	case n == 256:
		return ki == 0 && (nq == 1 || nq == 5 && d == 4096)
	}
	if ki > 1 || nq != 1 && nq != 4 && nq != 5 && nq != 33 {
		return false
	}
	return n == 0 || n == 1 || n == 4 || n == 5 || n == 9
}

// TestInt8Preconditions: violated length preconditions panic before any
// assembly can read or write out of bounds.
func TestInt8Preconditions(t *testing.T) {
	forEachImpl(t, func(t *testing.T, k *impl) {
		q := make([]int8, 16)
		codes := make([]int8, 16*4)
		out := make([]int32, 8)
		big := make([]int8, MaxInt8Dim+1)
		cases := map[string]func(){
			"block short row":  func() { k.Int8DotBlock(q, codes[:16*3+15], 16, out[:4]) },
			"block stride<d":   func() { k.Int8DotBlock(q, codes, 15, out[:4]) },
			"block huge n":     func() { k.Int8DotBlock(q, codes, 16, make([]int32, 5)) },
			"block stride ovf": func() { k.Int8DotBlock(q, codes, math.MaxInt/2, out[:3]) },
			"block d too big":  func() { k.Int8DotBlock(big, big, len(big), out[:1]) },
			"multi short qs":   func() { k.Int8DotBlockMulti(q, 2, 9, codes, 16, 4, out, 4) },
			"multi short out":  func() { k.Int8DotBlockMulti(q, 2, 8, codes, 16, 4, out[:7], 4) },
			"multi outStride":  func() { k.Int8DotBlockMulti(q, 2, 8, codes, 16, 4, out, 3) },
			"multi neg n":      func() { k.Int8DotBlockMulti(q, 2, 8, codes, 16, -1, out, 4) },
			"multi ovf": func() {
				k.Int8DotBlockMulti(q, 2, 8, codes, 16, 4, out, math.MaxInt/2+1)
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
		// Empty shapes do nothing; d = 0 writes zeros.
		k.Int8DotBlock(q, nil, 16, nil)
		k.Int8DotBlockMulti(q, 0, 16, nil, 16, 5, nil, 5)
		o := []int32{int8Sentinel, int8Sentinel, int8Sentinel, int8Sentinel, int8Sentinel}
		k.Int8DotBlockMulti(nil, 2, 0, nil, 0, 1, o, 3)
		if o[0] != 0 || o[3] != 0 || o[1] != int8Sentinel || o[2] != int8Sentinel || o[4] != int8Sentinel {
			t.Fatalf("d=0 Int8DotBlockMulti wrote %v", o)
		}
	})
}

// TestInt8NoAlloc: the int8 entry points do not allocate.
func TestInt8NoAlloc(t *testing.T) {
	const d, n, nq = 100, 37, 11
	q := make([]int8, nq*d)
	codes := make([]int8, n*d)
	out := make([]int32, nq*n)
	sums := Int8Sums(q, nq, d)
	if a := testing.AllocsPerRun(100, func() {
		Int8DotBlockSums(q, nq, d, sums, codes, d, n, out, n)
		Int8DotBlock(q[:d], codes, d, out[:n])
		Int8DotBlockMulti(q, nq, d, codes, d, n, out, n)
	}); a != 0 {
		t.Fatalf("%v allocations per run", a)
	}
}

// TestInt8Selection: the avx512 implementation uses VNNI exactly when the
// CPU has it; the others name themselves.
func TestInt8Selection(t *testing.T) {
	for _, k := range available() {
		want := k.name
		if k.name == "avx512" {
			want = "avx2"
			if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW && cpu.X86.HasBMI2 {
				want = "avx512-vnni"
			}
		}
		if k.i8name != want {
			t.Errorf("%s: integer kernel %s, want %s", k.name, k.i8name, want)
		}
	}
	if Int8Impl() != cur.i8name {
		t.Fatalf("Int8Impl() = %s, selected %s", Int8Impl(), cur.i8name)
	}
	t.Logf("selected %s, integer kernel %s (MEMVEC_KERNEL=%q)", Impl(), Int8Impl(), os.Getenv("MEMVEC_KERNEL"))
}

// FuzzInt8Dot compares every available implementation with the exact
// result on fuzzer-chosen shapes and values, and Int8DotBlock with the
// first query of Int8DotBlockMulti.
func FuzzInt8Dot(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"), uint16(17), uint8(5), uint8(1), uint8(3))
	f.Add([]byte("\x80\x7f\x81\x01"), uint16(300), uint8(33), uint8(7), uint8(32))
	f.Add([]byte{0x7f}, uint16(4095), uint8(9), uint8(0), uint8(5))
	f.Add([]byte{}, uint16(1), uint8(1), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, d16 uint16, n8, extra, nq8 uint8) {
		d := int(d16%4096) + 1
		n := int(n8 % 40)
		nq := int(nq8%40) + 1
		stride := d + int(extra%80)
		val := func(i int) int8 {
			if len(data) == 0 {
				return int8(i%255 - 127)
			}
			return int8(data[i%len(data)] ^ byte(i/len(data)))
		}
		qs := make([]int8, nq*d)
		for i := range qs {
			qs[i] = val(i)
		}
		codes := make([]int8, max(0, (n-1)*stride+d))
		for r := 0; r < n; r++ {
			for i := 0; i < d; i++ {
				codes[r*stride+i] = val(r*stride + i + 7)
			}
		}
		want := make([]int32, nq*n)
		for j := 0; j < nq; j++ {
			for r := 0; r < n; r++ {
				var s int64
				for i := 0; i < d; i++ {
					s += int64(qs[j*d+i]) * int64(codes[r*stride+i])
				}
				want[j*n+r] = int32(s)
			}
		}
		for _, k := range available() {
			got := make([]int32, nq*n)
			k.Int8DotBlockMulti(qs, nq, d, codes, stride, n, got, n)
			one := make([]int32, n)
			k.Int8DotBlock(qs[:d], codes, stride, one)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s nq=%d d=%d n=%d stride=%d: out[%d] = %d, want %d", k.name, nq, d, n, stride, i, got[i], want[i])
				}
			}
			for r := range one {
				if one[r] != want[r] {
					t.Fatalf("%s d=%d n=%d stride=%d: Int8DotBlock out[%d] = %d, want %d", k.name, d, n, stride, r, one[r], want[r])
				}
			}
			// With the queries' sums given, as the engine calls it.
			k.Int8DotBlockSums(qs, nq, d, Int8Sums(qs, nq, d), codes, stride, n, got, n)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s nq=%d d=%d n=%d stride=%d: Int8DotBlockSums out[%d] = %d, want %d", k.name, nq, d, n, stride, i, got[i], want[i])
				}
			}
		}
	})
}
