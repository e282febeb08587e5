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

	"github.com/memvec/memvec/internal/memvectest"
)

// fillStoreRows collects the rows fillStore passes to db.Add, in order.
func fillStoreRows(t *testing.T, n, dim int) [][]float32 {
	var rows [][]float32
	if err := memvectest.BenchVectors(n, dim, func(vecs [][]float32) error {
		for _, v := range vecs { // db.Add copies: so must this
			rows = append(rows, append([]float32(nil), v...))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
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
		memvectest.EqualRows(t, "vectors", decode(t, b.Bytes(), c.dim), fillStoreRows(t, c.n, c.dim))
	}
}

func TestQueriesMatchBenchmarks(t *testing.T) {
	const dim = 512
	var b bytes.Buffer
	if err := writeQueries(&b, 32, dim); err != nil {
		t.Fatal(err)
	}
	got := decode(t, b.Bytes(), dim)
	// BenchmarkSearch's query, and BenchmarkSearchBatch's 32 queries.
	memvectest.EqualRows(t, "query 0", got[:1], memvectest.RandVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), 1, dim))
	memvectest.EqualRows(t, "queries", got, memvectest.RandVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), 32, dim))
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
	memvectest.EqualRows(t, "vector file", decode(t, vb, 6), fillStoreRows(t, 10, 6))
	qb, err := os.ReadFile(qout)
	if err != nil {
		t.Fatal(err)
	}
	memvectest.EqualRows(t, "query file", decode(t, qb, 6), memvectest.RandVecs(rand.New(rand.NewSource(memvectest.BenchQuerySeed)), 3, 6))

	if err := run([]string{"-dim", "0", "-out", out}, io.Discard); err == nil {
		t.Error("-dim 0 accepted")
	}
	if err := run([]string{"-n", "1"}, io.Discard); err == nil {
		t.Error("no output file accepted")
	}
}
