package memvectest

import "math/rand"

// The data of memvec's benchmarks (the root package's fillStore and the
// queries of BenchmarkSearch and BenchmarkSearchBatch), defined here once
// so that bench/gendata writes exactly the rows the benchmarks add.
const (
	BenchVectorSeed = 42   // the seed of BenchVectors
	BenchQuerySeed  = 7    // the seed of the benchmarks' queries (RandVec)
	BenchBatch      = 4096 // rows per call of BenchVectors' add
)

// BenchVectors generates the n x dim vectors of the benchmark stores and
// hands them to add in batches of at most BenchBatch rows, in order: a
// math/rand (v1) generator seeded with BenchVectorSeed, each component
// rng.Float32()*2-1, row-major. The rows passed to add share one buffer,
// reused by the next batch: add must copy what it keeps (db.Add does).
// The first error of add ends the generation and is returned.
func BenchVectors(n, dim int, add func(batch [][]float32) error) error {
	rng := rand.New(rand.NewSource(BenchVectorSeed))
	buf := make([]float32, BenchBatch*dim)
	vecs := make([][]float32, BenchBatch)
	for done := 0; done < n; {
		m := min(BenchBatch, n-done)
		for i := range buf[:m*dim] {
			buf[i] = rng.Float32()*2 - 1
		}
		for i := 0; i < m; i++ {
			vecs[i] = buf[i*dim : (i+1)*dim]
		}
		if err := add(vecs[:m]); err != nil {
			return err
		}
		done += m
	}
	return nil
}
