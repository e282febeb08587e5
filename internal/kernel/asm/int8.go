package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The int8 kernels
//
//	int8{ISA}x{Q}(q *int8, d int, codes *int8, stride, n int, sums *int32,
//	              out *int32, outStride, groups, pf int)
//
// score n rows of int8 codes against groups*Q int8 queries packed at q
// (query i at q[i*d:]): out[i*outStride+r] = sum_j q[i*d+j]*codes[r*stride+j]
// exactly, in int32. They have the same shape as the float32 block kernels
// (rows in the outer loop, register tiles of Q queries x 4 rows, prefetch
// pf bytes ahead) and differ in the step:
//
//   - VNNI (AVX512_VNNI + AVX512BW): VPDPBUSD multiplies unsigned by
//     signed bytes, so each query chunk is loaded with its sign bit
//     flipped (q+128, one VPXORD that can use a port VPDPBUSD does not)
//     and the reduction subtracts 128*sums[r], the sum of the row's
//     codes. 64 bytes a step; the tail is an opmask byte load.
//   - AVX2: VPMOVSXBW sign-extends 16 bytes to words and VPMADDWD
//     multiplies and adds pairs into int32 without saturating (VPMADDUBSW
//     would saturate). The tail is the last 16 bytes of the row (d >= 16,
//     which the caller guarantees) with the query words it repeats
//     masked to zero, so no load crosses the end of a slice.
//
// Every int32 addition wraps, so the sums are exact modulo 2^32 whatever
// the order; the caller keeps d <= 65536, which bounds the true result by
// 2^30 in absolute value, so the int32 result is exact.

// i8isa describes one integer instruction set.
type i8isa struct {
	name string
	vec  func() VecVirtual
	zero func(r VecVirtual)
	// setup prepares the per-function constants from d (in bytes).
	setup func(d Register)
	// sets is the number of accumulator sets a tile of nq queries
	// uses: independent dependency chains for each (query, row) pair,
	// summed before the reduction.
	sets func(nq int) int
	// loop emits the loops over the d bytes of the queries and rows at
	// w.qc, w.rc and the tail.
	loop func(w *walk)
	// body accumulates the register of row bytes at disp into acc[k][r].
	body  func(nq, rows int, q, row func(k, disp int) Mem, acc [][]VecVirtual, disp int, masked bool)
	tree  func(slots []VecVirtual) VecVirtual
	lanes int // int32 lanes of a register
	// fix, if not nil, corrects the reduced sums (lane k, element r) with
	// the row sums at s.
	fix func(e VecVirtual, s Register, rows int)
	// extract copies 128-bit lane k to an XMM register; storeLane stores
	// it.
	extract   func(r VecVirtual, k int) Register
	storeLane func(r VecVirtual, k int, m Mem)
}

// walk is what an isa's loop works with: the registers of a tile (d in
// bytes, the query and row cursors, a scratch counter), the prefix of its
// labels, and its emitters.
type walk struct {
	d, qc, rc, cnt Register
	prefix         string
	sets           int
	// body accumulates the register at disp into accumulator set set.
	body func(disp, set int, masked bool)
	// prefetch, for 4-row tiles, prefetches the line at disp of the rows
	// ahead; pfNext moves that window on by n bytes.
	prefetch func(disp int)
	pfNext   func(n int)
}

// next moves the cursors (and the prefetch window) on by n bytes.
func (w *walk) next(n int) {
	w.pfNext(n)
	ADDQ(U32(n), w.qc)
	ADDQ(U32(n), w.rc)
}

var (
	vnniK   Register   // VNNI: bits [0, d%64) set
	vnni80  VecVirtual // VNNI: every byte 0x80
	avx2Rem Register   // AVX2: d%16, set in the tail
)

// vpdpbusd emits VPDPBUSD src, u, acc (acc += u unsigned * src signed,
// by groups of four bytes), which avo v0.5.0 does not know; Go's
// assembler encodes it in its EVEX form.
func vpdpbusd(src Op, u, acc VecVirtual) {
	Instruction(&ir.Instruction{
		Opcode:   "VPDPBUSD",
		Operands: []Op{src, u, acc},
		Inputs:   []Op{src, u, acc},
		Outputs:  []Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	})
}

func vnni() *i8isa {
	return &i8isa{
		name: "VNNI",
		vec:  ZMM,
		zero: func(r VecVirtual) { VPXORD(r, r, r) },
		setup: func(dB Register) {
			rem, ones := GP64(), GP64()
			MOVQ(dB, rem)
			ANDQ(U8(63), rem)
			MOVQ(I32(-1), ones)
			BZHIQ(rem, ones, ones)
			vnniK = K()
			KMOVQ(ones, vnniK)
			vnni80 = ZMM()
			VPBROADCASTD(bytes80(), vnni80)
		},
		// VPDPBUSD has a latency of about 5 cycles and two can
		// issue a cycle, so a tile needs about ten independent
		// accumulators to keep them busy: one query x 4 rows uses four
		// sets, two queries two.
		sets: func(nq int) int {
			switch nq {
			case 1:
				return 4
			case 2:
				return 2
			}
			return 1
		},
		loop: func(w *walk) {
			// sets registers a step, each into its own set, then
			// single registers, then the tail.
			p := w.prefix
			MOVQ(w.d, w.cnt)
			SHRQ(U8(6+log2(w.sets)), w.cnt)
			JZ(LabelRef(p + "rest"))
			Label(p + "loop")
			for i := 0; i < w.sets; i++ {
				w.body(64*i, i, false)
				w.prefetch(64 * i)
			}
			w.next(64 * w.sets)
			DECQ(w.cnt)
			JNZ(LabelRef(p + "loop"))
			Label(p + "rest")
			if w.sets > 1 {
				MOVQ(w.d, w.cnt)
				SHRQ(U8(6), w.cnt)
				ANDQ(U8(w.sets-1), w.cnt)
				JZ(LabelRef(p + "tail"))
				Label(p + "loop1")
				w.body(0, 0, false)
				w.prefetch(0)
				w.next(64)
				DECQ(w.cnt)
				JNZ(LabelRef(p + "loop1"))
			}
			Label(p + "tail")
			KORTESTQ(vnniK, vnniK)
			JZ(LabelRef(p + "reduce"))
			w.body(0, w.sets-1, true)
		},
		body: func(nq, rows int, q, row func(int, int) Mem, acc [][]VecVirtual, disp int, masked bool) {
			loadQ := func(k int) VecVirtual {
				x := ZMM()
				if masked {
					// Lanes past d become 0x80 (128) but meet
					// zero code bytes.
					VMOVDQU8_Z(q(k, disp), vnniK, x)
					VPXORD(x, vnni80, x)
				} else {
					VPXORD(q(k, disp), vnni80, x)
				}
				return x
			}
			if nq == 1 && !masked {
				// A row is used once: fold its load into VPDPBUSD.
				x := loadQ(0)
				for r := 0; r < rows; r++ {
					vpdpbusd(row(r, disp), x, acc[0][r])
				}
				return
			}
			rv := make([]VecVirtual, rows)
			for r := range rv {
				rv[r] = ZMM()
				if masked {
					VMOVDQU8_Z(row(r, disp), vnniK, rv[r])
				} else {
					VMOVDQU64(row(r, disp), rv[r])
				}
			}
			for k := 0; k < nq; k++ {
				x := loadQ(k)
				for r := 0; r < rows; r++ {
					vpdpbusd(rv[r], x, acc[k][r])
				}
			}
		},
		tree:  func(s []VecVirtual) VecVirtual { return treeZMM(s, addD) },
		lanes: 16,
		fix: func(e VecVirtual, sp Register, rows int) {
			// e -= 128*sums[r] in element r of every lane.
			s := ZMM()
			if rows == 4 {
				VBROADCASTI32X4(Mem{Base: sp}, s)
			} else {
				VPBROADCASTD(Mem{Base: sp}, s)
			}
			VPSLLD(U8(7), s, s)
			VPSUBD(s, e, e)
		},
		extract:   extractWith(func(k, r, dst Op) { VEXTRACTI32X4(k, r, dst) }),
		storeLane: storeLaneWith(func(k, r, dst Op) { VEXTRACTI32X4(k, r, dst) }),
	}
}

func i8avx2() *i8isa {
	return &i8isa{
		name:  "AVX2",
		vec:   YMM,
		zero:  func(r VecVirtual) { VPXOR(r, r, r) },
		setup: func(dB Register) {},
		// The adds have a latency of one cycle: one set is enough.
		sets: func(int) int { return 1 },
		loop: func(w *walk) {
			// 64 bytes a step (one prefetch per line), then 16-byte
			// steps, then the tail.
			p := w.prefix
			MOVQ(w.d, w.cnt)
			SHRQ(U8(6), w.cnt)
			JZ(LabelRef(p + "rest"))
			Label(p + "loop")
			for disp := 0; disp < 64; disp += 16 {
				w.body(disp, 0, false)
			}
			w.prefetch(0)
			w.next(64)
			DECQ(w.cnt)
			JNZ(LabelRef(p + "loop"))
			Label(p + "rest")
			MOVQ(w.d, w.cnt)
			SHRQ(U8(4), w.cnt)
			ANDQ(U8(3), w.cnt)
			JZ(LabelRef(p + "tail"))
			Label(p + "loop16")
			w.body(0, 0, false)
			w.next(16)
			DECQ(w.cnt)
			JNZ(LabelRef(p + "loop16"))
			Label(p + "tail")
			TESTQ(U32(15), w.d)
			JZ(LabelRef(p + "reduce"))
			// Step back to the last 16 bytes of the rows: qc, rc +=
			// d%16 - 16 (the prefetch window is done with).
			avx2Rem = GP64()
			MOVQ(w.d, avx2Rem)
			ANDQ(U8(15), avx2Rem)
			LEAQ(Mem{Base: w.qc, Index: avx2Rem, Scale: 1, Disp: -16}, w.qc)
			LEAQ(Mem{Base: w.rc, Index: avx2Rem, Scale: 1, Disp: -16}, w.rc)
			w.body(0, 0, true)
		},
		body: func(nq, rows int, q, row func(int, int) Mem, acc [][]VecVirtual, disp int, masked bool) {
			var mask Mem
			if masked {
				// Words [16-rem, 16) of the window at word rem of
				// the table are ones: the bytes not yet counted.
				tab := GP64()
				LEAQ(avx2WordMaskTable(), tab)
				mask = Mem{Base: tab, Index: avx2Rem, Scale: 2}
			}
			rv := make([]VecVirtual, rows)
			for r := range rv {
				rv[r] = YMM()
				VPMOVSXBW(row(r, disp), rv[r])
			}
			for k := 0; k < nq; k++ {
				x := YMM()
				VPMOVSXBW(q(k, disp), x)
				if masked {
					VPAND(mask, x, x)
				}
				for r := 0; r < rows; r++ {
					t := YMM()
					VPMADDWD(rv[r], x, t)
					VPADDD(t, acc[k][r], acc[k][r])
				}
			}
		},
		tree:      func(s []VecVirtual) VecVirtual { return treeYMM(s, addD) },
		lanes:     8,
		extract:   extractWith(func(k, r, dst Op) { VEXTRACTI128(k, r, dst) }),
		storeLane: storeLaneWith(func(k, r, dst Op) { VEXTRACTI128(k, r, dst) }),
	}
}

var bytes80Mem *Mem

// bytes80 declares (once) the dword 0x80808080 that VNNI broadcasts.
func bytes80() Mem {
	if bytes80Mem == nil {
		m := GLOBL("int8SignBits", RODATA|NOPTR)
		DATA(0, U32(0x80808080))
		bytes80Mem = &m
	}
	return *bytes80Mem
}

var wordMaskMem *Mem

// avx2WordMaskTable declares (once) sixteen zero words followed by sixteen
// all-ones words.
func avx2WordMaskTable() Mem {
	if wordMaskMem == nil {
		m := GLOBL("int8TailWords", RODATA|NOPTR)
		for i := 0; i < 32; i++ {
			v := uint16(0)
			if i >= 16 {
				v = 0xffff
			}
			DATA(2*i, U16(v))
		}
		wordMaskMem = &m
	}
	return *wordMaskMem
}

// genI8Block emits int8{ISA}x{Q} (see the top of this file). d >= 1 (>= 16
// for AVX2), n >= 0, groups >= 1; d and stride count bytes, outStride
// int32s.
func genI8Block(s *i8isa, nq int) {
	const nr = 4 // rows per tile
	name := fmt.Sprintf("int8%sx%d", s.name, nq)
	TEXT(name, NOSPLIT, "func(q *int8, d int, codes *int8, stride, n int, sums *int32, out *int32, outStride, groups, pf int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scores n rows of int8 codes against groups*%d int8 queries packed at q", name, nq),
		"with stride d: out[i*outStride+r] = dot(query i, row r), exact in int32.",
		"Generated by internal/kernel/asm.")

	rowsArg, outArg, sumsArg := Param("codes"), Param("out"), Param("sums")
	dB := Load(Param("d"), GP64())
	var dB3 Register
	if nq > 3 {
		dB3 = GP64()
		LEAQ(Mem{Base: dB, Index: dB, Scale: 2}, dB3)
	}
	sB := Load(Param("stride"), GP64())
	sB3 := GP64()
	LEAQ(Mem{Base: sB, Index: sB, Scale: 2}, sB3)
	oB := Load(Param("outStride"), GP64())
	SHLQ(U8(2), oB)
	s.setup(dB)
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
	advance := func(r, by Register) {
		switch nq {
		case 1, 2, 4:
			LEAQ(Mem{Base: r, Index: by, Scale: uint8(nq)}, r)
		case 3:
			LEAQ(Mem{Base: r, Index: by, Scale: 2}, r)
			ADDQ(by, r)
		}
	}

	// tile scores every query group against the tile of rows rows at the
	// current codes pointer; prefix names its labels.
	tile := func(rows int, prefix string) {
		qg := Load(Param("q"), GP64())
		outg := Load(outArg, GP64())
		gc := Load(Param("groups"), GP64())
		Label(prefix + "group")
		sets := s.sets(nq)
		acc := make([][][]VecVirtual, sets) // [set][k][r]
		for i := range acc {
			acc[i] = make([][]VecVirtual, nq)
			for k := range acc[i] {
				acc[i][k] = make([]VecVirtual, rows)
				for r := range acc[i][k] {
					acc[i][k][r] = s.vec()
					s.zero(acc[i][k][r])
				}
			}
		}
		w := &walk{d: dB, qc: GP64(), rc: GP64(), cnt: GP64(), prefix: prefix, sets: sets,
			prefetch: func(int) {}, pfNext: func(int) {}}
		MOVQ(qg, w.qc)
		Load(rowsArg, w.rc)
		if rows == nr {
			pf := Load(Param("pf"), GP64())
			ADDQ(w.rc, pf)
			w.prefetch = func(disp int) {
				for r := 0; r < rows; r++ {
					PREFETCHT0(rowAddr(pf, r, disp))
				}
			}
			w.pfNext = func(n int) { ADDQ(U32(n), pf) }
		}
		w.body = func(disp, set int, masked bool) {
			s.body(nq, rows, func(k, disp int) Mem { return qAddr(w.qc, k, disp) },
				func(r, disp int) Mem { return rowAddr(w.rc, r, disp) }, acc[set], disp, masked)
		}
		s.loop(w)

		Label(prefix + "reduce")
		// Fold the sets into set 0 pairwise (integer sums: any order).
		for n := sets; n > 1; n /= 2 {
			for i := 0; i < n/2; i++ {
				for k := range acc[i] {
					for r := range acc[i][k] {
						VPADDD(acc[i+n/2][k][r], acc[i][k][r], acc[i][k][r])
					}
				}
			}
		}
		per := s.lanes / 4 // queries per tree group (slot = r*per + k)
		slots := make([]VecVirtual, 4*per)
		for k := 0; k < nq; k++ {
			for r := 0; r < rows; r++ {
				slots[r*per+k] = acc[0][k][r]
			}
		}
		e := s.tree(slots)
		if s.fix != nil {
			s.fix(e, Load(sumsArg, GP64()), rows)
		}
		for k := 0; k < nq; k++ {
			if rows == nr {
				s.storeLane(e, k, outAddr(outg, k))
			} else {
				VMOVD(s.extract(e, k), outAddr(outg, k))
			}
		}
		advance(qg, dB)
		advance(outg, oB)
		DECQ(gc)
		JNZ(LabelRef(prefix + "group"))
	}

	// nextRows moves the codes pointer on by k rows, the out (and sums)
	// pointers by k elements.
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
		if s.fix != nil {
			p := Load(sumsArg, GP64())
			ADDQ(U8(4*k), p)
			Store(p, sumsArg)
		}
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
