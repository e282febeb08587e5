package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// fillStoreRows re-implements the loop of bench_test.go's fillStore,
// collecting the rows it would pass to db.Add, in order.
func fillStoreRows(n, dim int) [][]float32 {
	var rows [][]float32
	add := func(vecs [][]float32) { // stands in for db.Add, which copies
		for _, v := range vecs {
			rows = append(rows, append([]float32(nil), v...))
		}
	}
	rng := rand.New(rand.NewSource(42))
	const batch = 4096
	buf := make([]float32, batch*dim)
	vecs := make([][]float32, batch)
	for done := 0; done < n; {
		m := min(batch, n-done)
		for i := range buf[:m*dim] {
			buf[i] = rng.Float32()*2 - 1
		}
		for i := 0; i < m; i++ {
			vecs[i] = buf[i*dim : (i+1)*dim]
		}
		add(vecs[:m])
		done += m
	}
	return rows
}

// decode reads raw little-endian float32 rows of dimension dim.
func decode(t *testing.T, b []byte, dim int) [][]float32 {
	t.Helper()
	if len(b)%(4*dim) != 0 {
		t.Fatalf("%d bytes is not a whole number of %d-dim float32 rows", len(b), dim)
	}
	rows := make([][]float32, len(b)/(4*dim))
	for i := range rows {
		rows[i] = make([]float32, dim)
		for j := range rows[i] {
			off := (i*dim + j) * 4
			rows[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		}
	}
	return rows
}

func equalRows(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("%s: row %d component %d = %v, want %v", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}

func TestVectorsMatchFillStore(t *testing.T) {
	// The second case crosses two batch boundaries with a partial last batch.
	for _, c := range []struct{ n, dim int }{{0, 4}, {1, 512}, {7, 512}, {2*4096 + 5, 3}} {
		var b bytes.Buffer
		if err := writeVectors(&b, c.n, c.dim); err != nil {
			t.Fatal(err)
		}
		if b.Len() != c.n*c.dim*4 {
			t.Fatalf("n=%d dim=%d: %d bytes, want %d", c.n, c.dim, b.Len(), c.n*c.dim*4)
		}
		equalRows(t, "vectors", decode(t, b.Bytes(), c.dim), fillStoreRows(c.n, c.dim))
	}
}

// refRandVecs re-implements oracle_test.go's randVecs.
func refRandVecs(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for {
			nonzero := false
			for j := range v {
				v[j] = float32(rng.NormFloat64())
				nonzero = nonzero || v[j] != 0
			}
			if nonzero {
				break
			}
		}
		out[i] = v
	}
	return out
}

func TestQueriesMatchBenchmarks(t *testing.T) {
	const dim = 512
	var b bytes.Buffer
	if err := writeQueries(&b, 32, dim); err != nil {
		t.Fatal(err)
	}
	got := decode(t, b.Bytes(), dim)
	// BenchmarkSearch's query, and BenchmarkSearchBatch's 32 queries.
	equalRows(t, "query 0", got[:1], refRandVecs(rand.New(rand.NewSource(7)), 1, dim))
	equalRows(t, "queries", got, refRandVecs(rand.New(rand.NewSource(7)), 32, dim))
}

func TestRunWritesFiles(t *testing.T) {
	dir := t.TempDir()
	out, qout := filepath.Join(dir, "v.f32"), filepath.Join(dir, "q.f32")
	if err := run([]string{"-n", "10", "-dim", "6", "-out", out, "-queries", "3", "-qout", qout}, io.Discard); err != nil {
		t.Fatal(err)
	}
	vb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, "vector file", decode(t, vb, 6), fillStoreRows(10, 6))
	qb, err := os.ReadFile(qout)
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, "query file", decode(t, qb, 6), refRandVecs(rand.New(rand.NewSource(7)), 3, 6))

	if err := run([]string{"-dim", "0", "-out", out}, io.Discard); err == nil {
		t.Error("-dim 0 accepted")
	}
	if err := run([]string{"-n", "1"}, io.Discard); err == nil {
		t.Error("no output file accepted")
	}
}
