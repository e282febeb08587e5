package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/memvec/memvec"
)

// newColdBenchCommand returns the coldbench command: bench's companion
// for stores larger than RAM, where what matters is what each operation
// reads from disk rather than how fast it scans memory.
func newColdBenchCommand() *command {
	return &command{
		name:  "coldbench",
		args:  "STORE [--n 16000000] [--dim 512] [--keep] [--drop=false] [--json]",
		short: "time Open, Get, SearchIn and Search on a store larger than RAM, page cache dropped",
		long: `Coldbench times a large store read from disk. It builds STORE, a store of
--n random vectors of dimension --dim (16M x 512 by default: 33 GB on
disk, more than this machine's RAM), through the public API: Add in
large NoSync batches filled by every core from a seeded generator,
background compaction off, one Sync and Close at the end. A STORE that
already holds a store of exactly --n vectors of --dim is reused instead
(so keep one with --keep and rerun); a store of another shape is refused.
Without --keep, STORE is removed at the end.

Then it runs its phases, dropping the page cache before each one (sync,
then "3" to /proc/sys/vm/drop_caches: only as root; otherwise, or with
--drop=false, it says the figures are warm):
  cold Open (median of --opens, each after a drop) and the heap in use
  after it; --gets Gets of distinct random IDs after one drop (median,
  p90); SearchIn of --in random IDs (median of --in-runs, each after a
  drop); after a fresh cold Open, the first Search, then --searches
  Searches of random queries without a drop (the codes stay in the page
  cache), with the allocation of each; last, the first --exhaustive of
  those queries again with Exhaustive, whose results must be identical
  (0 skips it: at 16M each takes ~20 s).
It prints the machine (cores, RAM, Go), the store's size on disk
(allocated blocks) and the command line, then one line per phase.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			var b coldArgs
			fs.IntVar(&b.n, "n", 16_000_000, "vectors in the store")
			fs.IntVar(&b.dim, "dim", 512, "vector dimension")
			fs.Int64Var(&b.segmentBytes, "segment-bytes", 0, "Options.SegmentBytes when building (0: the default, 64 MiB)")
			fs.BoolVar(&b.keep, "keep", false, "keep STORE after the run (default: remove it)")
			fs.BoolVar(&b.drop, "drop", true, "drop the page cache before each phase (needs root)")
			fs.IntVar(&b.opens, "opens", 3, "cold Opens timed")
			fs.IntVar(&b.gets, "gets", 100, "cold Gets of distinct random IDs")
			fs.IntVar(&b.in, "in", 1000, "IDs per SearchIn call")
			fs.IntVar(&b.inRuns, "in-runs", 3, "SearchIn calls, each after a drop")
			fs.IntVar(&b.searches, "searches", 5, "Searches timed after the first")
			fs.IntVar(&b.exhaustive, "exhaustive", 2, "queries checked against Exhaustive (0: skip)")
			fs.IntVar(&b.k, "k", 10, "results per query")
			fs.Int64Var(&b.seed, "seed", 42, "random seed")
			jsonOut := fs.Bool("json", false, "print the figures as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				if b.n <= 0 || b.dim <= 0 || b.opens <= 0 || b.gets <= 0 || b.in <= 0 || b.inRuns <= 0 || b.searches <= 0 || b.k <= 0 {
					return usagef("--n, --dim, --opens, --gets, --in, --in-runs, --searches and -k must be positive")
				}
				if b.exhaustive < 0 || b.exhaustive > b.searches || b.segmentBytes < 0 {
					return usagef("--exhaustive must be in [0, --searches] and --segment-bytes not negative")
				}
				b.store, b.json = args[0], *jsonOut
				return coldBench(ctx, c, b)
			}
		},
	}
}

type coldArgs struct {
	store                                                    string
	n, dim, opens, gets, in, inRuns, searches, exhaustive, k int
	segmentBytes, seed                                       int64
	keep, drop, json                                         bool
}

// coldPhase is one line of the table.
type coldPhase struct {
	Name     string  `json:"name"` // build, open, heap, get, search_in, first_search, search, exhaustive, alloc
	Op       string  `json:"op"`
	Calls    int     `json:"calls"`
	MedianMs float64 `json:"median_ms,omitempty"`
	P90Ms    float64 `json:"p90_ms,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"` // heap: in use; alloc: bytes per Search
	Mallocs  uint64  `json:"mallocs,omitempty"`
	Note     string  `json:"note,omitempty"`
}

type coldResult struct {
	Command    string      `json:"command"`
	N          int         `json:"n"`
	Dim        int         `json:"dim"`
	Cores      int         `json:"cores"`
	RAMBytes   int64       `json:"ram_bytes"`
	GoVersion  string      `json:"go_version"`
	Segments   int         `json:"segments"`
	DiskBytes  int64       `json:"disk_bytes"` // allocated blocks of every file under STORE
	FileBytes  int64       `json:"file_bytes"` // their apparent sizes
	Dropped    bool        `json:"dropped"`    // the page cache was dropped before each phase
	Reused     bool        `json:"reused"`     // STORE held the store already
	Identical  bool        `json:"identical"`  // Search equalled Exhaustive (true when skipped)
	Phases     []coldPhase `json:"phases"`
	TotalSecs  float64     `json:"total_seconds"`
	WarmReason string      `json:"warm_reason,omitempty"`
}

func coldBench(ctx context.Context, c *cli, b coldArgs) (err error) {
	start := time.Now()
	res := coldResult{Command: strings.Join(os.Args, " "), N: b.n, Dim: b.dim, Cores: runtime.NumCPU(),
		RAMBytes: memTotal(), GoVersion: runtime.Version(), Identical: true}
	first, reused, err := coldStoreReady(b.store, b)
	if err != nil {
		return err
	}
	if !b.keep {
		defer func() {
			if rerr := os.RemoveAll(b.store); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	res.Reused = reused
	if !reused {
		t := time.Now()
		if first, err = coldBuild(ctx, c, b); err != nil {
			return err
		}
		d := time.Since(t)
		res.Phases = append(res.Phases, coldPhase{Name: "build", Calls: 1, MedianMs: ms(d),
			Op:   fmt.Sprintf("build %d x %d (NoSync batches of %d, %d generators)", b.n, b.dim, coldBatch, runtime.GOMAXPROCS(0)),
			Note: fmt.Sprintf("%.0f MB/s", rate(float64(b.n)*float64(4*b.dim)/1e6, d))})
	}
	if res.FileBytes, res.DiskBytes, err = diskUsage(b.store); err != nil {
		return err
	}
	res.Dropped, res.WarmReason = canDrop(b.drop)
	drop := func() error {
		if !res.Dropped {
			return nil
		}
		return dropCaches()
	}
	r := &coldRun{ctx: ctx, b: b, first: first, drop: drop, res: &res}
	if err := r.run(); err != nil {
		return err
	}
	res.TotalSecs = round(time.Since(start).Seconds())
	if b.json {
		err = writeJSON(c.stdout, res)
	} else {
		printCold(c, &res)
	}
	if err == nil && !res.Identical {
		err = errors.New("Search and Exhaustive returned different results (see the table)")
	}
	return err
}

// coldStoreReady says whether dir holds the store to reuse (and its first
// ID); a missing or empty dir is to be built. A store of another shape
// is refused: the command never removes what it did not build for this
// run's figures.
func coldStoreReady(dir string, b coldArgs) (first uint64, reused bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	db, err := memvec.Open(dir, memvec.Options{ReadOnly: true})
	if err != nil {
		return 0, false, err
	}
	defer closeStore(db, &err)
	st := db.Stats()
	if st.Dimension != b.dim || st.Total != uint64(b.n) || st.Live != uint64(b.n) || st.NextID < uint64(b.n) {
		return 0, false, fmt.Errorf("%s holds a store of %d vectors (%d live) x %d, not %d x %d: pick another directory or remove it",
			dir, st.Total, st.Live, st.Dimension, b.n, b.dim)
	}
	// The bench's stores hold one run of IDs, ending below NextID after a
	// clean close.
	first = st.NextID - uint64(b.n)
	for _, id := range []uint64{first, st.NextID - 1} {
		if _, err := db.Get(id); err != nil {
			return 0, false, fmt.Errorf("%s was not built by coldbench (IDs not in [%d, %d)): %w", dir, first, st.NextID, err)
		}
	}
	return first, true, nil
}

// printCold prints the machine, the command and the table.
func printCold(c *cli, res *coldResult) {
	out := c.stdout
	fmt.Fprintf(out, "memvec coldbench: %d vectors x %d, %d segments, %s on disk (allocated; files %s)\n",
		res.N, res.Dim, res.Segments, fmtBytes(res.DiskBytes), fmtBytes(res.FileBytes))
	fmt.Fprintf(out, "machine: %d cores, %s RAM, %s\n", res.Cores, fmtBytes(res.RAMBytes), res.GoVersion)
	fmt.Fprintf(out, "command: %s\n", res.Command)
	if res.Dropped {
		fmt.Fprintf(out, "page cache dropped before each phase\n\n")
	} else {
		fmt.Fprintf(out, "page cache NOT dropped (%s): the figures are warm\n\n", res.WarmReason)
	}
	width := 0
	for _, p := range res.Phases {
		width = max(width, len(p.Op))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tcalls\tmedian\tp90\t\n", width, "phase")
	for _, p := range res.Phases {
		med, p90 := "", ""
		switch {
		case p.Name == "heap":
			med = fmtBytes(p.Bytes)
		case p.Name == "alloc":
			med = fmt.Sprintf("%s, %d mallocs", fmtBytes(p.Bytes), p.Mallocs)
		default:
			med = fmtDuration(time.Duration(p.MedianMs * 1e6))
		}
		if p.P90Ms > 0 {
			p90 = fmtDuration(time.Duration(p.P90Ms * 1e6))
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%s\t  %s\n", width, p.Op, p.Calls, med, p90, p.Note)
	}
	tw.Flush()
	fmt.Fprintf(out, "\ntotal %s\n", fmtDuration(time.Duration(res.TotalSecs*1e9)))
}
