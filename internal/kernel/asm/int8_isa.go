package main

import (
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The two integer instruction sets of the int8 kernels (see int8.go).

// The per-function constants of the kernel being generated.
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
			// The rows are the unsigned operand, their sign bits
			// flipped (c+128, one VPXORD per row register), and the
			// queries the signed one, so the correction 128*sum(q) is
			// one constant per query (see fix) and the rows' own sums
			// are never read.
			rv := make([]VecVirtual, rows)
			for r := range rv {
				rv[r] = ZMM()
				if masked {
					// Lanes past d become 0x80 (128) but meet
					// zero query bytes.
					VMOVDQU8_Z(row(r, disp), vnniK, rv[r])
					VPXORD(rv[r], vnni80, rv[r])
				} else {
					VPXORD(row(r, disp), vnni80, rv[r])
				}
			}
			for k := 0; k < nq; k++ {
				var x Op = q(k, disp)
				if masked || rows > 1 {
					// A query register meets every row of the tile.
					v := ZMM()
					if masked {
						VMOVDQU8_Z(q(k, disp), vnniK, v)
					} else {
						VMOVDQU64(q(k, disp), v)
					}
					x = v
				}
				for r := 0; r < rows; r++ {
					vpdpbusd(x, rv[r], acc[k][r])
				}
			}
		},
		tree:  func(s []VecVirtual) VecVirtual { return treeZMM(s, addD) },
		lanes: 16,
		fix: func(e VecVirtual, fp Register, rows int) {
			// e -= 128*sum(query k) in every element of lane k: the
			// group's 16 int32s at fp.
			VPSUBD(Mem{Base: fp}, e, e)
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
