package main

import (
	"context"
	mrand "math/rand/v2"
	"runtime"
	"sync"

	"github.com/memvec/memvec"
)

// coldBatch is the number of vectors per Add while building: large, so
// that the build is bound by the disk and not by per-call costs.
const coldBatch = 16384

// coldBuild creates the store through the public API (NoSync, background
// compaction off), fills it with b.n random vectors and closes it (which
// syncs), returning the first ID. Batch k's components come from a PCG
// seeded with (seed, k), uniform in [-1, 1), so the store is the same
// whatever the number of goroutines generating the batches.
func coldBuild(ctx context.Context, c *cli, b coldArgs) (first uint64, err error) {
	db, err := memvec.Open(b.store, memvec.Options{Dimension: b.dim, NoSync: true, DisableAutoCompaction: true, SegmentBytes: b.segmentBytes})
	if err != nil {
		return 0, err
	}
	defer closeStore(db, &err)
	prog := c.newProgress("build", int64(b.n), "rows", b.json)
	defer prog.Done()
	batches := (b.n + coldBatch - 1) / coldBatch
	g := genBatches(b, batches)
	defer g.stop()
	for k := 0; k < batches; k++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		vecs := g.next(k)
		ids, err := db.Add(vecs)
		g.done(k, vecs)
		if err != nil {
			return 0, err
		}
		if k == 0 {
			first = ids[0]
		}
		prog.Add(int64(len(ids)))
	}
	if err := db.Sync(); err != nil {
		return 0, err
	}
	return first, db.Close()
}

// generator fills batches on every core: worker w fills batches w, w+W,
// w+2W... into buffers it recycles, and hands them over in order.
type generator struct {
	out, free []chan [][]float32
	quit      chan struct{}
	wg        sync.WaitGroup
}

func genBatches(b coldArgs, batches int) *generator {
	w := max(1, min(runtime.GOMAXPROCS(0), batches))
	g := &generator{out: make([]chan [][]float32, w), free: make([]chan [][]float32, w), quit: make(chan struct{})}
	for i := range w {
		g.out[i] = make(chan [][]float32, 1)
		g.free[i] = make(chan [][]float32, 2)
		for range 2 {
			g.free[i] <- newBatch(coldBatch, b.dim)
		}
		g.wg.Add(1)
		go g.work(i, w, b, batches)
	}
	return g
}

func newBatch(n, dim int) [][]float32 {
	buf := make([]float32, n*dim)
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = buf[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return vecs
}

func (g *generator) work(w, workers int, b coldArgs, batches int) {
	defer g.wg.Done()
	for k := w; k < batches; k += workers {
		var vecs [][]float32
		select {
		case vecs = <-g.free[w]:
		case <-g.quit:
			return
		}
		vecs = vecs[:min(coldBatch, b.n-k*coldBatch)]
		rng := mrand.New(mrand.NewPCG(uint64(b.seed), uint64(k)))
		for _, v := range vecs {
			for j := range v {
				v[j] = rng.Float32()*2 - 1
			}
		}
		select {
		case g.out[w] <- vecs:
		case <-g.quit:
			return
		}
	}
}

// next returns batch k, which the caller hands back with done.
func (g *generator) next(k int) [][]float32 { return <-g.out[k%len(g.out)] }

func (g *generator) done(k int, vecs [][]float32) { g.free[k%len(g.out)] <- vecs[:cap(vecs)] }

func (g *generator) stop() {
	close(g.quit)
	g.wg.Wait()
}
