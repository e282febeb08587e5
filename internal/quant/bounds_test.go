package quant

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// long runs TestDotBoundsContainKernel over about 55M pairs instead of
// 2M (4 CPU-minutes here instead of 5 s): go test ./internal/quant -long.
var long = flag.Bool("long", false, "run the long bound tests")

// dims are the dimensions the bound is tested at.
var dims = []int{1, 2, 3, 17, 100, 512, 1000, 4096}

// checker tests pairs and counts them; it stops reporting after a few
// failures so that a broken bound does not flood the log.
type checker struct {
	t     *testing.T
	pairs int
	fails int
	ratio map[int]float64 // by dimension, the largest error of a float32 dot against the lemma's (see lemma)
}

func (ck *checker) fail(name string, d, j, qi int, lo, hi float32, what string, k float32) {
	ck.t.Helper()
	ck.fails++
	if ck.fails <= 10 {
		ck.t.Errorf("%s d=%d row %d query %d: %s %g outside [%g, %g]", name, d, j, qi, what, k, lo, hi)
	}
}

// block checks every pair of rows and queries (raw, not yet normalised;
// those the engine would refuse are skipped): the kernel's float32 dot
// product through DotBlock and DotBlockMulti, Dot on a sample, every
// pure-Go order, and the real dot product itself lie in the interval, and
// every float32 dot product is within the kernel-error lemma of the real
// one (the step bounds.go takes from Higham, checked here on data where
// the quantization terms do not mask it).
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
			if !(lo <= hi) {
				ck.fail(name, d, j, qi, lo, hi, "empty interval", 0)
				continue
			}
			if k := one[j]; !(lo <= k && k <= hi) {
				ck.fail(name, d, j, qi, lo, hi, "kernel "+kernel.Impl()+" DotBlock", k)
			}
			if k := multi[qi*n+j]; !(lo <= k && k <= hi) {
				ck.fail(name, d, j, qi, lo, hi, "kernel "+kernel.Impl()+" DotBlockMulti", k)
			}
			if j == qi%n {
				if k := kernel.Dot(qn, x); !(lo <= k && k <= hi) {
					ck.fail(name, d, j, qi, lo, hi, "kernel "+kernel.Impl()+" Dot", k)
				}
			}
			// The real dot product D (within 2^-50*sum|x_i*qn_i| of dd)
			// lies in the interval too, and every float32 evaluation is
			// within the kernel-error lemma's distance of it.
			dd, abs := exactDot(x, qn)
			if !(float64(lo) <= dd && dd <= float64(hi)) {
				ck.fail(name, d, j, qi, lo, hi, "real dot", float32(dd))
			}
			lim := gammaN(d+1)*abs + float64(d)*0x1p-149 + 0x1p-50*abs
			tight := gammaN(d)*abs + float64(d)*0x1p-150
			ck.lemma(name, d, j, qi, dd, lim, tight, one[j])
			for oi := range orders {
				k := orders[oi].dot(qn, x)
				if !(lo <= k && k <= hi) {
					ck.fail(name, d, j, qi, lo, hi, "order "+orders[oi].name, k)
				}
				ck.lemma(name, d, j, qi, dd, lim, tight, k)
			}
		}
	}
}

// lemma checks |k - dd| <= lim (the kernel-error lemma of bounds.go,
// |K - D| <= gamma_{d+1}*sum|x_i*qn_i| + d*2^-149) and tracks the largest
// |k - dd| / tight, tight = gamma_d*sum|x_i*qn_i| + d*2^-150 (1 would be
// the lemma's exact limit).
func (ck *checker) lemma(name string, d, j, qi int, dd, lim, tight float64, k float32) {
	err := math.Abs(float64(k) - dd)
	if err > lim {
		ck.t.Helper()
		ck.fails++
		ck.t.Errorf("%s d=%d row %d query %d: dot %g, real %g: error %g above the kernel lemma's %g", name, d, j, qi, k, dd, err, lim)
	}
	ck.ratio[d] = max(ck.ratio[d], err/tight)
}

// blockSize returns how many rows (and queries) to test at dimension d:
// about budget multiply-adds per block, at least 4 and at most limit.
func blockSize(d int, budget float64, limit int) int {
	return min(limit, max(4, int(math.Sqrt(budget/float64(d)))))
}

// TestDotBoundsContainKernel is the bound's main proof: every family of
// rows at every dimension, against queries built from them, through the
// selected kernel (run with MEMVEC_KERNEL=go|avx2|avx512 for all three)
// and through every pure-Go summation order.
func TestDotBoundsContainKernel(t *testing.T) {
	budget, limit := 1e6, 200 // 1.8M pairs, 5 s here
	switch {
	case *long:
		budget, limit = 1e8, 1000
	case testing.Short():
		budget, limit = 1e5, 60
	case raceEnabled:
		budget, limit = 5e5, 150 // 1M pairs, 20 s of CPU here
	}
	ck := &checker{t: t, ratio: map[int]float64{}}
	for _, d := range dims {
		for fi, f := range families {
			r := rand.New(rand.NewPCG(uint64(d), uint64(fi)))
			n := blockSize(d, budget, limit)
			rows := f.rows(r, d, n)
			ck.block(f.name, rows, queriesFor(r, rows, n))
		}
	}
	t.Logf("%d (row, query) pairs, kernel %s and %d pure-Go orders", ck.pairs, kernel.Impl(), len(orders))
	for _, d := range dims {
		t.Logf("d=%4d: largest |K-D| / (gamma_d*sum|x*q| + d*2^-150) %.4f", d, ck.ratio[d])
	}
}
