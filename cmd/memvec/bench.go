package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/memvec/memvec"
	"github.com/memvec/memvec/internal/floor"
	"github.com/memvec/memvec/internal/kernel"
)

// newBenchCommand returns the bench command.
func newBenchCommand() *command {
	return &command{
		name:  "bench",
		args:  "[--n 1000000] [--dim 512] [--queries 100] [--clients 16] [--json]",
		short: "time Search (codes and Exhaustive), SearchBatch and SearchIn against the memory-bandwidth floor",
		long: `Bench builds a temporary store of --n random vectors of dimension --dim,
reopens it, and times --queries random queries with Search, the same
number in SearchBatch calls of --batch queries (each both through the
int8 codes, the default, and Exhaustive: every float32 row), and
SearchIn over --in random IDs. With --clients N it also times Search
called by N goroutines at once (--queries calls, at least 20 per
goroutine: queries/s, median and p99 latency) beside SearchBatch of N
queries, in alternating rounds: concurrent searches share their passes
over the store, as a batch does. Beside them it measures, in the same run, the floor: one
parallel read, with every core, of as many bytes as a Search scans (the
vectors and their norms), by the widest vector loads the CPU has with one
XOR per load and no other work (the kernel package's Stream). As memvec's
own BenchmarkSearchVsFloor (internal/floor), it times two sources, a
buffer on the heap and the store's segment files mapped as memvec maps
them, and takes the faster: heap and page-cache pages do not stream at
the same rate on every machine. It prints the medians as a table;
"vs floor" is how many times the floor a call takes.

The store needs n x (4 x dim + 4) bytes on disk (2 GB for the defaults) and
the floor buffer as much RAM; --dir picks where the store is built.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			var b benchArgs
			fs.IntVar(&b.n, "n", 1_000_000, "vectors in the store")
			fs.IntVar(&b.dim, "dim", 512, "vector dimension")
			fs.IntVar(&b.queries, "queries", 100, "queries timed per operation")
			fs.IntVar(&b.batch, "batch", 32, "queries per SearchBatch call")
			fs.IntVar(&b.in, "in", 1000, "IDs per SearchIn call")
			fs.IntVar(&b.k, "k", 10, "results per query")
			fs.IntVar(&b.clients, "clients", 0, "also time Search from this many goroutines at once beside SearchBatch of as many queries (0: not)")
			fs.StringVar(&b.dir, "dir", "", "directory in which to build the temporary store (default: the system's)")
			fs.Int64Var(&b.seed, "seed", 42, "random seed")
			jsonOut := fs.Bool("json", false, "print the figures as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 0, 0); err != nil {
					return err
				}
				if b.n <= 0 || b.dim <= 0 || b.queries <= 0 || b.batch <= 0 || b.in <= 0 || b.k <= 0 {
					return usagef("--n, --dim, --queries, --batch, --in and -k must be positive")
				}
				if b.clients < 0 {
					return usagef("--clients must not be negative")
				}
				b.json = *jsonOut
				return bench(ctx, c, b)
			}
		},
	}
}

type benchArgs struct {
	n, dim, queries, batch, in, k int
	clients                       int
	dir                           string
	seed                          int64
	json                          bool
}

type benchRow struct {
	Name        string  `json:"name"` // floor, search, search_exhaustive, search_batch, search_batch_exhaustive, search_in, search_clients, search_batch_clients
	Op          string  `json:"op"`
	Calls       int     `json:"calls"`
	MedianMs    float64 `json:"median_ms"`
	P99Ms       float64 `json:"p99_ms,omitempty"` // search_clients: the p99 of its calls' latency
	PerQueryMs  float64 `json:"per_query_ms,omitempty"`
	QueriesPerS float64 `json:"queries_per_s,omitempty"`
	VsFloor     float64 `json:"vs_floor,omitempty"`
}

// benchFloor is how the floor was taken: the median of each source and
// which was the faster (the floor row's median).
type benchFloor struct {
	Source   string  `json:"source"` // "heap" or "mapped"
	HeapMs   float64 `json:"heap_ms"`
	MappedMs float64 `json:"mapped_ms"`
}

type benchResult struct {
	N             int        `json:"n"`
	Dim           int        `json:"dim"`
	ScanBytes     int64      `json:"scan_bytes"`
	GOMAXPROCS    int        `json:"gomaxprocs"`
	Kernel        string     `json:"kernel"`
	BuildSeconds  float64    `json:"build_seconds"`
	BuildMBPerS   float64    `json:"build_mb_per_s"`
	OpenMs        float64    `json:"open_ms"`
	FirstSearchMs float64    `json:"first_search_ms"`
	Floor         benchFloor `json:"floor"`
	Rows          []benchRow `json:"rows"`
	DiskBytes     int64      `json:"disk_bytes"`
	TotalSeconds  float64    `json:"total_seconds"`
}

func ms(d time.Duration) float64 { return round(float64(d) / 1e6) }

func bench(ctx context.Context, c *cli, b benchArgs) (err error) {
	start := time.Now()
	tmp, err := os.MkdirTemp(b.dir, "memvec-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	store := filepath.Join(tmp, "store")
	res := benchResult{N: b.n, Dim: b.dim, ScanBytes: int64(b.n) * int64(4*b.dim+4),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Kernel: kernel.Impl()}

	// Build the store as bench_test.go's fillStore does.
	t := time.Now()
	if err := benchFill(ctx, c, store, b); err != nil {
		return err
	}
	build := time.Since(t)
	res.BuildSeconds = round(build.Seconds())
	res.BuildMBPerS = round(rate(float64(b.n)*float64(4*b.dim)/1e6, build))

	t = time.Now()
	db, err := memvec.Open(store, memvec.Options{DisableAutoCompaction: true})
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	res.OpenMs = ms(time.Since(t))
	res.DiskBytes = db.Stats().DiskBytes

	rng := rand.New(rand.NewSource(b.seed + 1))
	queries := make([][]float32, max(b.queries, b.batch))
	for i := range queries {
		queries[i] = randomQuery(rng, b.dim)
	}
	opts := memvec.SearchOptions{TopK: b.k}
	// The first search checksums every segment (they were written by
	// another DB) and faults the pages in.
	t = time.Now()
	if _, err := db.Search(ctx, queries[0], opts); err != nil {
		return err
	}
	res.FirstSearchMs = ms(time.Since(t))

	onHeap := floor.Heap(int(res.ScanBytes))
	mapped, unmap, err := floor.Mapped(store, b.n, b.dim, 0)
	if err != nil {
		return err
	}
	defer func() { unmap() }()
	floor.Read(onHeap) // fault the pages in
	floor.Read(mapped)
	work := int64(3*b.queries + 2*((b.queries+b.batch-1)/b.batch))
	if b.clients > 0 {
		work += 2 * int64(clientsCalls(b.queries, b.clients))
	}
	prog := c.newProgress("bench", work, "calls", b.json)
	defer prog.Done()
	// Search, Exhaustive and the floors take turns, so that all see the
	// same machine.
	exOpts := opts
	exOpts.Exhaustive = true
	var search, exhaustive, heapTimes, mappedTimes []time.Duration
	floorReps := min(max(b.queries, 5), 30)
	for i := 0; i < max(b.queries, floorReps); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i < b.queries {
			t := time.Now()
			if _, err := db.Search(ctx, queries[i], opts); err != nil {
				return err
			}
			search = append(search, time.Since(t))
			t = time.Now()
			if _, err := db.Search(ctx, queries[i], exOpts); err != nil {
				return err
			}
			exhaustive = append(exhaustive, time.Since(t))
			prog.Add(2)
		}
		if i < floorReps {
			t := time.Now()
			floor.Read(onHeap)
			heapTimes = append(heapTimes, time.Since(t))
			t = time.Now()
			floor.Read(mapped)
			mappedTimes = append(mappedTimes, time.Since(t))
		}
	}
	onHeap = nil
	unmap()
	unmap = func() {}
	var batch, batchEx []time.Duration
	for from := 0; from < b.queries; from += b.batch {
		qs := queries[from:min(from+b.batch, len(queries))]
		if len(qs) < b.batch { // every call takes a full batch
			qs = queries[len(queries)-b.batch:]
		}
		t := time.Now()
		if _, err := db.SearchBatch(ctx, qs, opts); err != nil {
			return err
		}
		batch = append(batch, time.Since(t))
		t = time.Now()
		if _, err := db.SearchBatch(ctx, qs, exOpts); err != nil {
			return err
		}
		batchEx = append(batchEx, time.Since(t))
		prog.Add(2)
	}
	var searchIn []time.Duration
	ids := make([]uint64, b.in)
	for i := 0; i < b.queries; i++ {
		for j := range ids {
			ids[j] = uint64(rng.Intn(b.n))
		}
		t := time.Now()
		if _, err := db.SearchIn(ctx, queries[i], ids, opts); err != nil {
			return err
		}
		searchIn = append(searchIn, time.Since(t))
		prog.Add(1)
	}
	var clientRows []benchRow
	if b.clients > 0 {
		if clientRows, err = benchClients(ctx, db, queries, opts, b.clients, clientsCalls(b.queries, b.clients), prog); err != nil {
			return err
		}
	}
	prog.Done()

	fh, fm := median(heapTimes), median(mappedTimes)
	fl := fh
	res.Floor = benchFloor{Source: "heap", HeapMs: ms(fh), MappedMs: ms(fm)}
	if fm < fh {
		fl, res.Floor.Source = fm, "mapped"
	}
	vs := func(d time.Duration) float64 { return round(float64(d) / float64(fl)) }
	s, se, bt, bte, si := median(search), median(exhaustive), median(batch), median(batchEx), median(searchIn)
	res.Rows = []benchRow{
		{Name: "floor", Op: fmt.Sprintf("floor: parallel read of %s (%s)", fmtBytes(res.ScanBytes), res.Floor.Source), Calls: len(heapTimes), MedianMs: ms(fl), VsFloor: 1},
		{Name: "search", Op: fmt.Sprintf("Search, top %d", b.k), Calls: len(search), MedianMs: ms(s), PerQueryMs: ms(s), QueriesPerS: round(rate(1, s)), VsFloor: vs(s)},
		{Name: "search_exhaustive", Op: fmt.Sprintf("Search, top %d, Exhaustive", b.k), Calls: len(exhaustive), MedianMs: ms(se), PerQueryMs: ms(se), QueriesPerS: round(rate(1, se)), VsFloor: vs(se)},
		{Name: "search_batch", Op: fmt.Sprintf("SearchBatch of %d, top %d", b.batch, b.k), Calls: len(batch), MedianMs: ms(bt),
			PerQueryMs: ms(bt / time.Duration(b.batch)), QueriesPerS: round(rate(float64(b.batch), bt)), VsFloor: vs(bt)},
		{Name: "search_batch_exhaustive", Op: fmt.Sprintf("SearchBatch of %d, top %d, Exhaustive", b.batch, b.k), Calls: len(batchEx), MedianMs: ms(bte),
			PerQueryMs: ms(bte / time.Duration(b.batch)), QueriesPerS: round(rate(float64(b.batch), bte)), VsFloor: vs(bte)},
		{Name: "search_in", Op: fmt.Sprintf("SearchIn %d IDs, top %d", b.in, b.k), Calls: len(searchIn), MedianMs: ms(si), PerQueryMs: ms(si), QueriesPerS: round(rate(1, si))},
	}
	res.Rows = append(res.Rows, clientRows...)
	res.TotalSeconds = round(time.Since(start).Seconds())
	if b.json {
		return writeJSON(c.stdout, res)
	}
	out := c.stdout
	fmt.Fprintf(out, "memvec bench: %d vectors x %d, %s scanned per search (vectors and norms), kernel %s, GOMAXPROCS %d\n",
		b.n, b.dim, fmtBytes(res.ScanBytes), res.Kernel, res.GOMAXPROCS)
	fmt.Fprintf(out, "build  %s in %s (NoSync batches of 4096): %.0f MB/s\n", fmtBytes(int64(b.n)*int64(4*b.dim)), fmtDuration(build), res.BuildMBPerS)
	fmt.Fprintf(out, "open   %s; first search (checksums every segment) %s\n\n", fmtDuration(time.Duration(res.OpenMs*1e6)), fmtDuration(time.Duration(res.FirstSearchMs*1e6)))
	width := 0
	for _, r := range res.Rows {
		width = max(width, len(r.Op))
	}
	// Right-aligned columns; the padded first one reads left-aligned.
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tcalls\tmedian\tp99\tper query\tqueries/s\tvs floor\t\n", width, "operation")
	for _, r := range res.Rows {
		p99, per, qps, vsf := "", "", "", "-"
		if r.P99Ms > 0 {
			p99 = fmtDuration(time.Duration(r.P99Ms * 1e6))
		}
		if r.PerQueryMs > 0 {
			per = fmtDuration(time.Duration(r.PerQueryMs * 1e6))
		}
		if r.QueriesPerS > 0 {
			qps = fmtRate(r.QueriesPerS)
		}
		if r.VsFloor > 0 {
			vsf = fmt.Sprintf("%.2fx", r.VsFloor)
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", width, r.Op, r.Calls, fmtDuration(time.Duration(r.MedianMs*1e6)), p99, per, qps, vsf)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nmedians; the floor is the faster of a read from the heap (%s) and from the store's mapping (%s)\n",
		fmtDuration(fh), fmtDuration(fm))
	fmt.Fprintf(out, "Search reads the int8 codes and rescores only rows that can reach the top k; Exhaustive reads every float32 row\n")
	fmt.Fprintf(out, "(both give the same answer); a SearchBatch call reads the data once for all its queries; SearchIn reads only its rows\n")
	if len(clientRows) == 2 {
		fmt.Fprintf(out, "concurrent Searches share passes over the store: %d goroutines get %.2fx the queries/s of SearchBatch of %d\n",
			b.clients, clientRows[0].QueriesPerS/clientRows[1].QueriesPerS, b.clients)
	}
	return nil
}

// fmtRate formats a rate with a sensible number of digits.
func fmtRate(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

// benchFill adds n random vectors in NoSync batches (components uniform
// in [-1, 1), as bench_test.go's fillStore), then closes the store.
func benchFill(ctx context.Context, c *cli, store string, b benchArgs) (err error) {
	db, err := memvec.Open(store, memvec.Options{Dimension: b.dim, NoSync: true, DisableAutoCompaction: true})
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	prog := c.newProgress("build", int64(b.n), "rows", b.json)
	defer prog.Done()
	rng := rand.New(rand.NewSource(b.seed))
	const batch = 4096
	buf := make([]float32, batch*b.dim)
	vecs := make([][]float32, batch)
	for done := 0; done < b.n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(batch, b.n-done)
		for i := range buf[:m*b.dim] {
			buf[i] = rng.Float32()*2 - 1
		}
		for i := 0; i < m; i++ {
			vecs[i] = buf[i*b.dim : (i+1)*b.dim]
		}
		if _, err := db.Add(vecs[:m]); err != nil {
			return err
		}
		done += m
		prog.Add(int64(m))
	}
	return nil
}

// randomQuery draws a Gaussian vector, again if it comes out all zeros.
func randomQuery(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for {
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		if slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
			return v
		}
	}
}
