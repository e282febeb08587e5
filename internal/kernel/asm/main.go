// Command asm generates memvec's amd64 dot-product kernels with avo.
//
// It lives in its own module so that avo never becomes a dependency of
// memvec. Run it through go generate in the parent package:
//
//	go generate ./internal/kernel
//
// Two instruction sets are emitted, AVX2+FMA (8 float32 lanes, YMM) and
// AVX-512F/VL (16 lanes, ZMM), as
//
//	block{ISA}x{Q}(q, d, rows, stride, n, out, outStride, groups, pf)
//
// which scores groups*Q queries against n rows, register-tiled Q queries x
// 4 rows (a one-row tile for the n%4 rows left over), rows in the outer
// loop so that each is loaded from memory once, with software prefetch pf
// bytes ahead. AVX2 has Q = 1, 2; AVX-512 Q = 1..4. Each (query, row) pair
// has one accumulator and the same reduction in every kernel, so scores
// are bit-identical across Q, tile position and call shape.
//
// Every length is handled without reading past the last element: the
// vector loops cover whole registers and the tail is a masked load
// (VMASKMOVPS for AVX2, an opmask for AVX-512), which never faults on
// the lanes it leaves out.
//
// int8.go emits the integer kernels int8{VNNI,AVX2}x{Q} of the int8
// prefilter in the same shape (see there).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa describes one vector instruction set.
type isa struct {
	name  string
	lanes int               // float32 lanes per register
	vec   func() VecVirtual // allocate a vector register
	// tail mask: set up once per function from dB (d in bytes); the tail
	// step runs only when d is not a multiple of lanes.
	setupMask func(dB Register)
	skipTail  func(dB Register, label string) // jump to label if no tail
	loadTail  func(m Mem, dst VecVirtual)     // masked, zeroing load
	zero      func(r VecVirtual)
	// tree reduces accumulator slots (nil = zero) to one register whose
	// 128-bit lane k, element j holds the sum of slot j*(lanes/4)+k.
	tree func(slots []VecVirtual) VecVirtual
	// extract copies 128-bit lane k of r to an XMM register (lane 0 is
	// r itself).
	extract func(r VecVirtual, k int) Register
	// storeLane stores 128-bit lane k of r to m.
	storeLane func(r VecVirtual, k int, m Mem)
}

// The tail mask of the function being generated.
var (
	avx2Mask VecVirtual // AVX2: lanes [0, d%8) all ones
	avx512K  Register   // AVX-512: bits [0, d%16) set
)

func avx2() *isa {
	return &isa{
		name:  "AVX2",
		lanes: 8,
		vec:   YMM,
		setupMask: func(dB Register) {
			// mask = maskTable[8-rem : 16-rem], rem = d%8, as a byte offset:
			// 32 - (dB & 28).
			off := GP64()
			MOVQ(dB, off)
			ANDQ(U8(28), off)
			NEGQ(off)
			tab := GP64()
			LEAQ(avx2MaskTable(), tab)
			avx2Mask = YMM()
			VMOVDQU(Mem{Base: tab, Index: off, Scale: 1, Disp: 32}, avx2Mask)
		},
		skipTail: func(dB Register, label string) {
			TESTQ(U32(28), dB)
			JZ(LabelRef(label))
		},
		loadTail:  func(m Mem, dst VecVirtual) { VMASKMOVPS(m, avx2Mask, dst) },
		zero:      func(r VecVirtual) { VXORPS(r, r, r) },
		tree:      func(s []VecVirtual) VecVirtual { return treeYMM(s, addPS) },
		extract:   extractWith(VEXTRACTF128),
		storeLane: storeLaneWith(VEXTRACTF128),
	}
}

func avx512() *isa {
	return &isa{
		name:  "AVX512",
		lanes: 16,
		vec:   ZMM,
		setupMask: func(dB Register) {
			// K = (1 << rem) - 1, rem = d%16, looked up as a 16-bit word
			// at byte offset 2*rem = (dB & 60) >> 1.
			rem := GP64()
			MOVQ(dB, rem)
			ANDQ(U8(60), rem)
			SHRQ(U8(1), rem)
			tab := GP64()
			LEAQ(avx512MaskTable(), tab)
			avx512K = K()
			KMOVW(Mem{Base: tab, Index: rem, Scale: 1}, avx512K)
		},
		skipTail: func(dB Register, label string) {
			KORTESTW(avx512K, avx512K)
			JZ(LabelRef(label))
		},
		loadTail:  func(m Mem, dst VecVirtual) { VMOVUPS_Z(m, avx512K, dst) },
		zero:      func(r VecVirtual) { VPXORD(r, r, r) },
		tree:      func(s []VecVirtual) VecVirtual { return treeZMM(s, addPS) },
		extract:   extractWith(func(k, r, dst Op) { VEXTRACTF32X4(k, r, dst) }),
		storeLane: storeLaneWith(func(k, r, dst Op) { VEXTRACTF32X4(k, r, dst) }),
	}
}

// extractWith returns an isa's extract, which copies 128-bit lane k of a
// register with ext (lane 0 is the register itself).
func extractWith(ext func(k, r, dst Op)) func(r VecVirtual, k int) Register {
	return func(r VecVirtual, k int) Register {
		if k == 0 {
			return r.AsX()
		}
		x := XMM()
		ext(U8(k), r, x)
		return x
	}
}

// storeLaneWith returns an isa's storeLane, which stores 128-bit lane k of
// a register with ext (lane 0 with a plain XMM store).
func storeLaneWith(ext func(k, r, dst Op)) func(r VecVirtual, k int, m Mem) {
	return func(r VecVirtual, k int, m Mem) {
		if k == 0 {
			VMOVUPS(r.AsX(), m)
			return
		}
		ext(U8(k), r, m)
	}
}

// pairs combines slots two by two with comb; a pair of nil slots stays nil
// and a single nil is replaced by a zero register.
func pairs(slots []VecVirtual, zero func() VecVirtual, comb func(a, b VecVirtual) VecVirtual) []VecVirtual {
	out := make([]VecVirtual, len(slots)/2)
	for i := range out {
		a, b := slots[2*i], slots[2*i+1]
		if a == nil && b == nil {
			continue
		}
		if a == nil {
			a = zero()
		}
		if b == nil {
			b = zero()
		}
		out[i] = comb(a, b)
	}
	return out
}

// shufAdd returns shuf(a, b, lo) + shuf(a, b, hi), added by add (VADDPS
// for float32 lanes, VPADDD for int32).
func shufAdd(a, b VecVirtual, alloc func() VecVirtual, add func(x, y, dst Op), shuf func(imm uint8, a, b, dst VecVirtual), lo, hi uint8) VecVirtual {
	x, y := alloc(), alloc()
	shuf(lo, a, b, x)
	shuf(hi, a, b, y)
	add(y, x, x)
	return x
}

// addPS and addD are the lane additions of the float32 and int32 trees.
func addPS(x, y, dst Op) { VADDPS(x, y, dst) }
func addD(x, y, dst Op)  { VPADDD(x, y, dst) }

func lazyZero(alloc func() VecVirtual, zero func(VecVirtual)) func() VecVirtual {
	var z VecVirtual
	return func() VecVirtual {
		if z == nil {
			z = alloc()
			zero(z)
		}
		return z
	}
}

func vshufps(imm uint8, a, b, dst VecVirtual) { VSHUFPS(U8(imm), b, a, dst) }

// treeStep is one level of a reduction tree: shuf, with the immediates lo
// and hi, picks from two slots the halves that are then added.
type treeStep struct {
	shuf   func(imm uint8, a, b, dst VecVirtual)
	lo, hi uint8
}

// tree reduces 2^len(steps) slots of registers from alloc to one, a step
// a level, each halving the slots (pairs) with add; zero clears a
// register.
func tree(slots []VecVirtual, alloc func() VecVirtual, zero func(VecVirtual), add func(x, y, dst Op), steps ...treeStep) VecVirtual {
	if len(slots) != 1<<len(steps) {
		panic(fmt.Sprintf("tree of %d steps wants %d slots, not %d", len(steps), 1<<len(steps), len(slots)))
	}
	z := lazyZero(alloc, zero)
	for _, st := range steps {
		slots = pairs(slots, z, func(a, b VecVirtual) VecVirtual { return shufAdd(a, b, alloc, add, st.shuf, st.lo, st.hi) })
	}
	return slots[0]
}

// treeZMM reduces 16 ZMM slots to one ZMM whose 128-bit lane k holds the
// sums (by add) of slots k, 4+k, 8+k, 12+k in elements 0..3.
func treeZMM(slots []VecVirtual, add func(x, y, dst Op)) VecVirtual {
	shuff := func(imm uint8, a, b, dst VecVirtual) { VSHUFF32X4(U8(imm), b, a, dst) }
	return tree(slots, ZMM, func(r VecVirtual) { VPXORD(r, r, r) }, add,
		// 16 -> 8: 256-bit halves; lanes 0-1 hold slot 2i, lanes 2-3 slot 2i+1.
		treeStep{shuff, 0x44, 0xEE},
		// 8 -> 4: 128-bit lane k holds slot 4i+k.
		treeStep{shuff, 0x88, 0xDD},
		// 4 -> 2: in each lane k, elements 0-1 slot k(+8), 2-3 slot 4+k(+8).
		treeStep{vshufps, 0x44, 0xEE},
		// 2 -> 1: lane k = slots k, 4+k, 8+k, 12+k.
		treeStep{vshufps, 0x88, 0xDD})
}

// treeYMM reduces 8 YMM slots to one YMM whose 128-bit lane k holds the
// sums (by add) of slots k, 2+k, 4+k, 6+k in elements 0..3.
func treeYMM(slots []VecVirtual, add func(x, y, dst Op)) VecVirtual {
	perm := func(imm uint8, a, b, dst VecVirtual) { VPERM2F128(U8(imm), b, a, dst) }
	return tree(slots, YMM, func(r VecVirtual) { VXORPS(r, r, r) }, add,
		// 8 -> 4: 128-bit lane 0 holds slot 2i, lane 1 slot 2i+1.
		treeStep{perm, 0x20, 0x31},
		// 4 -> 2: lane k: elements 0-1 slot k(+4), 2-3 slot 2+k(+4).
		treeStep{vshufps, 0x44, 0xEE},
		// 2 -> 1: lane k = slots k, 2+k, 4+k, 6+k.
		treeStep{vshufps, 0x88, 0xDD})
}

// genBlock emits
//
//	block{ISA}x{Q}(q *float32, d int, rows *float32, stride, n int,
//	               out *float32, outStride, groups, pf int)
//
// which scores n rows against groups*Q queries packed at q (query i at
// q[i*d:]): out[i*outStride+r] = dot(query i, row r). d >= 1, n >= 0,
// groups >= 1; strides are in elements.
//
// Rows are the outer loop, taken four at a time (a tile), and every group
// of Q queries visits a tile before the next one is loaded, so each row is
// read from memory once per call and from L1 afterwards. pf is a byte
// distance: while it scores a tile the kernel prefetches the rows pf bytes
// further on, one line per row per step (prefetches never fault).
func genBlock(s *isa, nq int) {
	const nr = 4 // rows per tile
	name := fmt.Sprintf("block%sx%d", s.name, nq)
	TEXT(name, NOSPLIT, "func(q *float32, d int, rows *float32, stride, n int, out *float32, outStride, groups, pf int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scores n rows against groups*%d queries packed at q with stride d:", name, nq),
		"out[i*outStride+r] = dot(query i, row r). Generated by internal/kernel/asm.")

	// The rows pointer, the out pointer and the row counter live in their
	// argument slots (rows, out, n), which belong to this call: the hot
	// loop needs the registers.
	rowsArg, outArg := Param("rows"), Param("out")
	dB := Load(Param("d"), GP64())
	SHLQ(U8(2), dB)
	var dB3 Register
	if nq > 3 {
		dB3 = GP64()
		LEAQ(Mem{Base: dB, Index: dB, Scale: 2}, dB3)
	}
	sB := Load(Param("stride"), GP64())
	SHLQ(U8(2), sB)
	sB3 := GP64()
	LEAQ(Mem{Base: sB, Index: sB, Scale: 2}, sB3)
	oB := Load(Param("outStride"), GP64())
	SHLQ(U8(2), oB)
	s.setupMask(dB)
	left := AllocLocal(8) // rows left in the 1-row phase
	nArg := Param("n")
	{
		n := Load(nArg, GP64())
		t := GP64()
		MOVQ(n, t)
		ANDQ(U8(nr-1), t)
		MOVQ(t, left)
		SHRQ(U8(2), n)
		Store(n, nArg) // now the number of whole tiles
	}

	qAddr := func(base Register, k, disp int) Mem {
		switch k {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1, 2:
			return Mem{Base: base, Index: dB, Scale: uint8(k), Disp: disp}
		default:
			return Mem{Base: base, Index: dB3, Scale: 1, Disp: disp}
		}
	}
	rowAddr := func(base Register, r, disp int) Mem {
		switch r {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1, 2:
			return Mem{Base: base, Index: sB, Scale: uint8(r), Disp: disp}
		default:
			return Mem{Base: base, Index: sB3, Scale: 1, Disp: disp}
		}
	}
	outAddr := func(outg Register, k int) Mem {
		switch k {
		case 0:
			return Mem{Base: outg}
		case 1, 2:
			return Mem{Base: outg, Index: oB, Scale: uint8(k)}
		default:
			t := GP64()
			LEAQ(Mem{Base: outg, Index: oB, Scale: 2}, t)
			return Mem{Base: t, Index: oB, Scale: 1}
		}
	}
	// advance adds nq*by to r.
	advance := func(r, by Register) {
		switch nq {
		case 1, 2, 4:
			LEAQ(Mem{Base: r, Index: by, Scale: uint8(nq)}, r)
		case 3:
			LEAQ(Mem{Base: r, Index: by, Scale: 2}, r)
			ADDQ(by, r)
		}
	}

	// tile emits one pass of every query group over the tile of rows rows
	// at the current rows pointer; prefix names its labels.
	//
	// Every (query, row) pair has exactly one vector accumulator, fed
	// chunk by chunk in order and then reduced by the same tree whatever
	// the tile shape, so a pair's score is bit-identical whichever kernel,
	// tile position or batch computes it.
	tile := func(rows int, prefix string) {
		step := s.lanes * 4
		qg := Load(Param("q"), GP64())
		outg := Load(outArg, GP64())
		gc := Load(Param("groups"), GP64())
		Label(prefix + "group")
		acc := make([][]VecVirtual, nq) // [k][r]
		for k := range acc {
			acc[k] = make([]VecVirtual, rows)
			for r := range acc[k] {
				acc[k][r] = s.vec()
				s.zero(acc[k][r])
			}
		}
		qc, cnt := GP64(), GP64()
		MOVQ(qg, qc)
		rc := Load(rowsArg, GP64())
		var pf Register
		if rows == nr {
			pf = Load(Param("pf"), GP64())
			ADDQ(rc, pf)
		}

		// body accumulates the register-width chunk at qc, rc; masked
		// selects the tail loads.
		body := func(masked bool) {
			if nq == 1 && !masked {
				// A row is used once: fold its load into the FMA.
				x := s.vec()
				VMOVUPS(qAddr(qc, 0, 0), x)
				for r := 0; r < rows; r++ {
					VFMADD231PS(rowAddr(rc, r, 0), x, acc[0][r])
				}
				return
			}
			rv := make([]VecVirtual, rows)
			for r := range rv {
				rv[r] = s.vec()
				if masked {
					s.loadTail(rowAddr(rc, r, 0), rv[r])
				} else {
					VMOVUPS(rowAddr(rc, r, 0), rv[r])
				}
			}
			for k := 0; k < nq; k++ {
				x := s.vec()
				if masked {
					s.loadTail(qAddr(qc, k, 0), x)
				} else {
					VMOVUPS(qAddr(qc, k, 0), x)
				}
				for r := 0; r < rows; r++ {
					VFMADD231PS(rv[r], x, acc[k][r])
				}
			}
		}

		MOVQ(dB, cnt)
		SHRQ(U8(log2(step)), cnt)
		JZ(LabelRef(prefix + "tail"))
		Label(prefix + "loop")
		body(false)
		if pf != nil {
			// One prefetch per row and 64-byte line: AVX2 covers a
			// line in two steps, so it prefetches every step
			// (the second one hits the line in flight).
			for r := 0; r < rows; r++ {
				PREFETCHT0(rowAddr(pf, r, 0))
			}
			ADDQ(U32(step), pf)
		}
		ADDQ(U32(step), qc)
		ADDQ(U32(step), rc)
		DECQ(cnt)
		JNZ(LabelRef(prefix + "loop"))

		Label(prefix + "tail")
		s.skipTail(dB, prefix+"reduce")
		body(true)

		Label(prefix + "reduce")
		per := s.lanes / 4 // queries per tree group (slot = r*per + k)
		slots := make([]VecVirtual, 4*per)
		for k := 0; k < nq; k++ {
			for r := 0; r < rows; r++ {
				slots[r*per+k] = acc[k][r]
			}
		}
		e := s.tree(slots)
		for k := 0; k < nq; k++ {
			if rows == nr {
				s.storeLane(e, k, outAddr(outg, k))
			} else {
				VMOVSS(s.extract(e, k), outAddr(outg, k))
			}
		}
		advance(qg, dB)
		advance(outg, oB)
		DECQ(gc)
		JNZ(LabelRef(prefix + "group"))
	}

	// nextRows moves the rows pointer on by k rows, the out pointer by k
	// elements.
	nextRows := func(k int) {
		t := Load(rowsArg, GP64())
		if k == 1 {
			ADDQ(sB, t)
		} else {
			LEAQ(Mem{Base: t, Index: sB, Scale: uint8(k)}, t)
		}
		Store(t, rowsArg)
		o := Load(outArg, GP64())
		ADDQ(U8(4*k), o)
		Store(o, outArg)
	}

	nMem := addr(nArg)
	CMPQ(nMem, U8(0))
	JE(LabelRef("rest"))
	Label("tiles")
	tile(nr, "t")
	nextRows(nr)
	DECQ(nMem)
	JNZ(LabelRef("tiles"))

	Label("rest")
	CMPQ(left, U8(0))
	JE(LabelRef("done"))
	Label("rowloop")
	tile(1, "r")
	nextRows(1)
	DECQ(left)
	JNZ(LabelRef("rowloop"))

	Label("done")
	VZEROUPPER()
	RET()
}

var maskTableMem *Mem

// avx2MaskTable declares (once) the sliding window of lane masks used by
// the AVX2 tails: eight all-ones words followed by eight zero words.
func avx2MaskTable() Mem {
	if maskTableMem == nil {
		m := GLOBL("avx2TailMask", RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			v := uint32(0)
			if i < 8 {
				v = 0xffffffff
			}
			DATA(4*i, U32(v))
		}
		maskTableMem = &m
	}
	return *maskTableMem
}

var kTableMem *Mem

// avx512MaskTable declares (once) the opmasks (1<<rem)-1 for rem in 0..15.
func avx512MaskTable() Mem {
	if kTableMem == nil {
		m := GLOBL("avx512TailMask", RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(2*i, U16(uint16(1)<<i-1))
		}
		kTableMem = &m
	}
	return *kTableMem
}

// addr returns the memory operand of an argument slot.
func addr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func log2(x int) int {
	n := 0
	for x > 1 {
		if x&1 != 0 {
			panic("not a power of two")
		}
		x >>= 1
		n++
	}
	return n
}

// genXor emits xor{ISA}(p *byte, n int) uint64, which reads n 256-byte
// blocks at p with the widest loads of the ISA into four independent
// accumulators and returns the XOR of all their 64-bit words. It does the
// least work per byte a vector loop can do, so it is the bandwidth floor
// the block kernels are measured against (kernel.Stream).
// streamPrefetch is how far ahead genXor's loop prefetches, the distance
// the single-query block kernel uses for 512-d rows (two 4-row tiles).
const streamPrefetch = 16 << 10

func genXor(a *isa) {
	TEXT("xor"+a.name, NOSPLIT, "func(p *byte, n int) uint64")
	Doc(fmt.Sprintf("xor%s returns the XOR of the 64-bit words of n 256-byte blocks at p.", a.name),
		"Generated by internal/kernel/asm.")
	p := Load(Param("p"), GP64())
	n := Load(Param("n"), GP64())
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = a.vec()
		a.zero(acc[i])
	}
	regBytes := a.lanes * 4
	TESTQ(n, n)
	JZ(LabelRef("reduce"))
	Label("loop")
	for l := 0; l < 256; l += 64 {
		PREFETCHT0(Mem{Base: p, Disp: streamPrefetch + l})
	}
	for i := 0; i < 256/regBytes; i++ {
		m := Mem{Base: p, Disp: i * regBytes}
		if a.lanes == 16 {
			VPXORQ(m, acc[i%4], acc[i%4])
		} else {
			VPXOR(m, acc[i%4], acc[i%4])
		}
	}
	ADDQ(U32(256), p)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("reduce")
	var y VecVirtual
	if a.lanes == 16 {
		VPXORQ(acc[1], acc[0], acc[0])
		VPXORQ(acc[3], acc[2], acc[2])
		VPXORQ(acc[2], acc[0], acc[0])
		y = YMM()
		VEXTRACTI64X4(U8(1), acc[0], y)
		VPXOR(y, acc[0].AsY(), y)
	} else {
		VPXOR(acc[1], acc[0], acc[0])
		VPXOR(acc[3], acc[2], acc[2])
		VPXOR(acc[2], acc[0], acc[0])
		y = acc[0]
	}
	x := XMM()
	VEXTRACTI128(U8(1), y, x)
	VPXOR(x, y.AsX(), x)
	lo, hi := GP64(), GP64()
	VMOVQ(x, lo)
	VPEXTRQ(U8(1), x, hi)
	XORQ(hi, lo)
	Store(lo, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func main() {
	ConstraintExpr("amd64,!purego")
	// AVX2 has 16 YMM registers: up to 2 queries x 4 rows (8
	// accumulators, 4 row registers, a query and the tail mask).
	a2 := avx2()
	genBlock(a2, 1)
	genBlock(a2, 2)
	// AVX-512 has 32 ZMM registers: up to 4 queries x 4 rows.
	a5 := avx512()
	for q := 1; q <= 4; q++ {
		genBlock(a5, q)
	}
	genXor(a2)
	genXor(a5)
	// The int8 kernels (int8.go), tiled like the float32 ones.
	i2 := i8avx2()
	genI8Block(i2, 1)
	genI8Block(i2, 2)
	v := vnni()
	for q := 1; q <= 4; q++ {
		genI8Block(v, q)
	}
	// The row quantiser of quant.Encode (quant.go).
	genMaxAbs(false)
	genMaxAbs(true)
	genQuant(false)
	genQuant(true)
	// The bound test of the code pass (screen.go).
	genScreen()
	Generate()
}
