package memvec

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// TestDuplicateMinScoreValues pins the formula at a few dimensions and
// checks that the bound only falls as the dimension grows.
func TestDuplicateMinScoreValues(t *testing.T) {
	u := 0x1p-24
	for _, c := range []struct {
		dim int
		n   float64
	}{{-5, 10}, {0, 10}, {1, 10}, {4, 11}, {768, 202}, {65536, 16394}, {MaxDimension, 262154}} {
		g := c.n * u / (1 - c.n*u)
		m := DuplicateMinScore(c.dim)
		if float64(m) < 1-g || float64(math.Nextafter32(m, 0)) >= 1-g {
			t.Errorf("DuplicateMinScore(%d) = %v, not the smallest float32 >= 1 - γ(%v) = %v", c.dim, m, c.n, 1-g)
		}
	}
	prev := float32(1)
	for d := 1; d <= MaxDimension; d += 1 + d/64 {
		m := DuplicateMinScore(d)
		if m > prev || m >= 1 || m < 0.98 {
			t.Fatalf("DuplicateMinScore(%d) = %v after %v", d, m, prev)
		}
		prev = m
	}
}

// TestSelfScoreBound checks, with every kernel this machine runs, that the
// score of a vector with itself, through Search and SearchIn, is at least
// DuplicateMinScore(dim) and at most 1: over sampled dimensions from 1 to
// MaxDimension and vectors built to round badly. Each kernel runs in a
// child process, since MEMVEC_KERNEL is read at init (the purego build tag
// gives the portable kernel too).
func TestSelfScoreBound(t *testing.T) {
	if name := os.Getenv("MEMVEC_SELFSCORE_CHILD"); name != "" {
		if kernel.Impl() != name {
			t.Skipf("kernel %s not available here (using %s)", name, kernel.Impl())
		}
		checkSelfScores(t)
		return
	}
	if testing.Short() {
		t.Skip("builds stores of up to 2^20 dimensions in three child processes")
	}
	for _, name := range []string{"go", "avx2", "avx512"} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestSelfScoreBound$", "-test.v")
			cmd.Env = append(os.Environ(), "MEMVEC_KERNEL="+name, "MEMVEC_SELFSCORE_CHILD="+name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kernel %s: %v\n%s", name, err, out)
			}
			if strings.Contains(string(out), "--- SKIP") {
				t.Skipf("kernel %s not available on this CPU", name)
			}
		})
	}
}

// selfScoreDims samples [1, MaxDimension]: every dimension up to 40, each
// power of two with its neighbours, and a few odd ones.
func selfScoreDims() []int {
	var dims []int
	for d := 1; d <= 40; d++ {
		dims = append(dims, d)
	}
	for p := 6; p <= 20; p++ {
		for _, d := range []int{1<<p - 1, 1 << p, 1<<p + 1} {
			if d <= MaxDimension {
				dims = append(dims, d)
			}
		}
	}
	return append(dims, 100, 300, 768, 1000, 1536, 3072, 12345, 99999, 777777)
}

// adversarialVecs returns vectors of dimension d meant to round badly,
// plus a few random ones.
func adversarialVecs(rng *rand.Rand, d int) [][]float32 {
	var vs [][]float32
	fill := func(f func(i int) float32) {
		v := make([]float32, d)
		for i := range v {
			v[i] = f(i)
		}
		vs = append(vs, v)
	}
	// One large component and, in every lane that shares its accumulator
	// (i ≡ 0 mod 4, 8 or 16), a small one whose product is just under
	// half an ulp of the running sum: each is rounded away. Kernels with
	// more lanes lose fewer, so each lane count gets its own vector.
	t := float32(math.Sqrt(0.9 * 0x1p-25))
	for _, lanes := range []int{4, 8, 16} {
		fill(func(i int) float32 {
			switch {
			case i == 0:
				return 1
			case i%lanes == 0:
				return t
			}
			return 0
		})
	}
	// The same with every component small except the first.
	fill(func(i int) float32 {
		if i == 0 {
			return 1
		}
		return t
	})
	// Extremes of the accepted norm range: one huge component with tiny
	// ones (their scaled values underflow), and a tiny vector.
	fill(func(i int) float32 {
		if i == 0 {
			return 1e29
		}
		return 1e-30
	})
	fill(func(i int) float32 { return 1e-30 / float32(math.Sqrt(float64(d))) * float32(1+i%3) })
	// All components equal, and equal magnitudes with alternating signs.
	fill(func(int) float32 { return 0.1 })
	fill(func(i int) float32 { return float32(1-2*(i%2)) * 3.3 })
	// Random ones, with and without a wide spread of magnitudes.
	fill(func(int) float32 { return float32(rng.NormFloat64()) })
	fill(func(int) float32 { return float32(rng.NormFloat64() * math.Exp(rng.Float64()*40-20)) })
	return vs
}

func checkSelfScores(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(11))
	worst := 1.0 // smallest score seen over its bound's margin, as 1 - s / γ
	for _, d := range selfScoreDims() {
		db, err := openT(t, filepath.Join(t.TempDir(), fmt.Sprint(d)), Options{Dimension: d, NoSync: true, DisableAutoCompaction: true})
		if err != nil {
			t.Fatal(err)
		}
		vs := adversarialVecs(rng, d)
		ids, err := db.Add(vs)
		if err != nil {
			t.Fatalf("dim %d: %v", d, err)
		}
		min := DuplicateMinScore(d)
		for i, v := range vs {
			in, err := db.SearchIn(ctx, v, ids[i:i+1], SearchOptions{MinScore: -1})
			if err != nil || len(in) != 1 {
				t.Fatalf("dim %d vector %d: SearchIn = %v, %v", d, i, in, err)
			}
			s := in[0].Score
			if s < min || s > 1 {
				t.Errorf("dim %d vector %d: self-score %v outside [DuplicateMinScore %v, 1]", d, i, s, min)
			}
			if r := float64(s-min) / float64(1-min); r < worst {
				worst = r
			}
			// Search must keep it at that MinScore, with the same score.
			res, err := db.Search(ctx, v, SearchOptions{TopK: len(vs), MinScore: min})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range res {
				found = found || (r.ID == ids[i] && r.Score == s)
			}
			if !found {
				t.Errorf("dim %d vector %d: Search with MinScore DuplicateMinScore = %v misses it (SearchIn score %v)", d, i, res, s)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("kernel %s: smallest margin above the bound %.3f of 1 - DuplicateMinScore", kernel.Impl(), worst)
}
