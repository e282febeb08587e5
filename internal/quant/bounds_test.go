package quant

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// long runs the bound tests over about ten times as many pairs.
var long = flag.Bool("long", false, "run the long bound tests")

// dims are the dimensions the bound is tested at.
var dims = []int{1, 2, 3, 17, 100, 512, 1000, 4096}

// checker tests pairs and counts them; it stops reporting after a few
// failures so that a broken bound does not flood the log.
type checker struct {
	t      *testing.T
	pairs  int
	fails  int
	orders bool // also check the pure-Go orders (not only the kernel)
}

func (ck *checker) fail(format string, args ...any) {
	ck.t.Helper()
	ck.fails++
	if ck.fails <= 10 {
		ck.t.Errorf(format, args...)
	}
}

// block checks every pair of rows and queries (raw, not yet normalised;
// those the engine would refuse are skipped): the kernel's float32 dot
// product through DotBlock and DotBlockMulti, Dot on a sample, every
// pure-Go order, and the real dot product itself lie in the interval.
func (ck *checker) block(name string, rows, raws [][]float32) {
	ck.t.Helper()
	d := len(rows[0])
	var flat []float32
	var valid [][]float32
	for _, x := range rows {
		if _, ok := engineInv(x); ok {
			valid = append(valid, x)
			flat = append(flat, x...)
		}
	}
	var qns [][]float32
	var qflat []float32
	for _, q := range raws {
		if qn, ok := normalize(q); ok {
			qns = append(qns, qn)
			qflat = append(qflat, qn...)
		}
	}
	n, nq := len(valid), len(qns)
	if n == 0 || nq == 0 {
		return
	}
	codes := make([]byte, n*d)
	metas := make([]Meta, n)
	for j, x := range valid {
		metas[j] = Encode(x, codes[j*d:(j+1)*d])
	}
	multi := make([]float32, nq*n)
	kernel.DotBlockMulti(qflat, nq, d, flat, d, n, multi, n)
	one := make([]float32, n)
	for qi, qn := range qns {
		q := NewQuery(qn)
		kernel.DotBlock(qn, flat, d, one)
		for j, x := range valid {
			lo, hi := q.DotBounds(metas[j], intDot(q.Codes, codes[j*d:(j+1)*d]))
			ck.pairs++
			where := func() string {
				return fmt.Sprintf("%s d=%d row %d query %d: [%g, %g] (meta %+v)", name, d, j, qi, lo, hi, metas[j])
			}
			if !(lo <= hi) {
				ck.fail("%s: empty interval", where())
				continue
			}
			if k := one[j]; !(lo <= k && k <= hi) {
				ck.fail("%s: kernel %s DotBlock %g outside", where(), kernel.Impl(), k)
			}
			if k := multi[qi*n+j]; !(lo <= k && k <= hi) {
				ck.fail("%s: kernel %s DotBlockMulti %g outside", where(), kernel.Impl(), k)
			}
			if j == qi%n {
				if k := kernel.Dot(qn, x); !(lo <= k && k <= hi) {
					ck.fail("%s: kernel %s Dot %g outside", where(), kernel.Impl(), k)
				}
			}
			// The real dot product: a float64 sum is within ~d*2^-53 of
			// it, far inside the kernel-rounding part of the interval.
			var dd float64
			for i := range x {
				dd += float64(x[i]) * float64(qn[i])
			}
			if !(float64(lo) <= dd && dd <= float64(hi)) {
				ck.fail("%s: real dot %g outside", where(), dd)
			}
			if ck.orders {
				for _, o := range orders {
					if k := o.dot(qn, x); !(lo <= k && k <= hi) {
						ck.fail("%s: order %s gives %g, outside", where(), o.name, k)
					}
				}
			}
		}
	}
}

// blockSize returns how many rows (and queries) to test at dimension d:
// about budget multiply-adds per block, at least 4 and at most 300.
func blockSize(d int, budget float64) int {
	return min(300, max(4, int(math.Sqrt(budget/float64(d)))))
}

// TestDotBoundsContainKernel is the bound's main proof: every family of
// rows at every dimension, against queries built from them, through the
// selected kernel (run with MEMVEC_KERNEL=go|avx2|avx512 for all three)
// and through every pure-Go summation order.
func TestDotBoundsContainKernel(t *testing.T) {
	budget := 2e6
	switch {
	case *long:
		budget = 2e8
	case testing.Short():
		budget = 2e5
	}
	ck := &checker{t: t, orders: true}
	for _, d := range dims {
		for fi, f := range families {
			r := rand.New(rand.NewPCG(uint64(d), uint64(fi)))
			n := blockSize(d, budget)
			rows := f.rows(r, d, n)
			ck.block(f.name, rows, queriesFor(r, rows, n))
		}
	}
	t.Logf("%d (row, query) pairs, kernel %s and %d pure-Go orders", ck.pairs, kernel.Impl(), len(orders))
}
