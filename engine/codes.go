package engine

import (
	"runtime"
	"sync"

	"github.com/memvec/memvec/internal/quant"
)

// encodeMinElems is the number of elements a worker must have before a
// batch's codes are computed on several cores: with the vector kernels a
// row of 512 costs about 0.2 us, so below ~25 us of work per worker
// starting and waiting for goroutines costs more than it saves (100 rows
// of 512, the benchmark's batch, measured faster on one core).
const encodeMinElems = 1 << 17

// encodeBatch fills b.codes and b.meta with the int8 codes of b's rows
// (see package quant), before the write lock is taken, so that writers
// wait for each other's fsyncs only, not for each other's encoding. A
// store whose dimension has no codes (above quant.MaxDim) gets none.
func (e *Engine) encodeBatch(b *batch) {
	if e.dim > quant.MaxDim {
		return
	}
	n := len(b.vecs)
	b.codes = make([]byte, n*e.dim)
	b.meta = make([]byte, n*quant.MetaSize)
	encode := func(from, to int) {
		for i := from; i < to; i++ {
			quant.Encode(b.vecs[i], b.codes[i*e.dim:(i+1)*e.dim]).Put(b.meta[i*quant.MetaSize:])
		}
	}
	workers := min(runtime.GOMAXPROCS(0), n*e.dim/encodeMinElems)
	if workers <= 1 {
		encode(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			encode(min(w*per, n), min((w+1)*per, n))
		}()
	}
	wg.Wait()
}
