// Command gendata writes the vectors and queries of memvec's Go benchmarks
// (bench_test.go) as raw little-endian float32 rows, so that a NumPy
// baseline (bench/numpy_baseline.py) can scan exactly the same data.
//
// The data file holds n rows of dim float32 each, no header: the layout of
// numpy's ndarray.tofile for a C-contiguous float32 (n, dim) array on a
// little-endian machine, and of MemMapVector's vectors.vec. Row i is the
// vector that fillStore adds i-th, so it has ID i in a memvec store built
// by the benchmarks (IDs are assigned in insertion order, from 0).
//
// Vectors: math/rand (v1) seeded with 42, each component rng.Float32()*2-1,
// generated row-major in insertion order by memvectest.BenchVectors, the
// generator fillStore adds from.
//
// Queries: one math/rand (v1) generator seeded with 7; query j is the j-th
// call of randVec (memvectest.RandVec) on it (NormFloat64 per component,
// the whole vector drawn again if every component is zero). Query 0 is therefore the query of
// BenchmarkSearch, randVec(rand.New(rand.NewSource(7)), dim), and queries
// 0..31 are randVecs(rand.New(rand.NewSource(7)), 32, dim), the batch of
// BenchmarkSearchBatch.
//
// Usage:
//
//	go run ./bench/gendata -n 1000000 -dim 512 -out /tmp/vecs.f32 -queries 32 -qout /tmp/queries.f32
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// writeVectors writes the n x dim vectors of fillStore
// (memvectest.BenchVectors) to w.
func writeVectors(w io.Writer, n, dim int) error {
	var out []byte
	return memvectest.BenchVectors(n, dim, func(vecs [][]float32) error {
		out = out[:0]
		for _, v := range vecs {
			out = appendFloats(out, v)
		}
		_, err := w.Write(out)
		return err
	})
}

// writeQueries writes count queries of dimension dim to w: the j-th call
// of memvectest.RandVec on one generator seeded with
// memvectest.BenchQuerySeed.
func writeQueries(w io.Writer, count, dim int) error {
	rng := rand.New(rand.NewSource(memvectest.BenchQuerySeed))
	var out []byte
	for j := 0; j < count; j++ {
		out = appendFloats(out[:0], memvectest.RandVec(rng, dim))
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

func appendFloats(dst []byte, v []float32) []byte {
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// writeFile creates path and fills it with write, through a buffer.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gendata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1_000_000, "number of vectors (rows)")
	dim := fs.Int("dim", 512, "dimension")
	out := fs.String("out", "", "vector file to write (raw little-endian float32, n x dim)")
	queries := fs.Int("queries", 32, "number of queries")
	qout := fs.String("qout", "", "query file to write (raw little-endian float32, queries x dim); empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case *n < 0 || *dim <= 0 || *queries < 0:
		return errors.New("-n and -queries must be >= 0 and -dim > 0")
	case *out == "" && *qout == "":
		return errors.New("nothing to do: give -out and/or -qout")
	}
	if *out != "" {
		start := time.Now()
		if err := writeFile(*out, func(w io.Writer) error { return writeVectors(w, *n, *dim) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d x %d vectors (%d bytes) to %s in %v\n",
			*n, *dim, int64(*n)*int64(*dim)*4, *out, time.Since(start).Round(time.Millisecond))
	}
	if *qout != "" {
		if err := writeFile(*qout, func(w io.Writer) error { return writeQueries(w, *queries, *dim) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d x %d queries to %s\n", *queries, *dim, *qout)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gendata:", err)
		}
		os.Exit(2)
	}
}
