// Package floor measures the bandwidth floor of a scan: the time to read
// the same bytes once with every core and no arithmetic beyond one XOR per
// load (kernel.Stream). memvec's benchmarks and `memvec bench` time a
// search beside it, in the same run, and report the ratio.
//
// The floor is the faster of two sources read in the same run, the heap
// and the store's own mapped segment files (Heap, Mapped; see sources.go
// for why both).
//
// The reading mirrors the search's work plan: the bytes are cut into parts
// that one goroutine per core takes in turn, so that a core slowed by a
// neighbour on a shared machine does not hold back the other, as it does
// not hold back a search.
package floor

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/kernel"
)

// PartBytes is the size of the parts Split cuts a buffer into, about the
// bytes of one search chunk (8,192 rows of 512 float32).
const PartBytes = 16 << 20

// Split cuts buf into parts of at most size bytes.
func Split(buf []byte, size int) [][]byte {
	var parts [][]byte
	for off := 0; off < len(buf); off += size {
		parts = append(parts, buf[off:min(off+size, len(buf))])
	}
	return parts
}

// Read reads every byte of parts once with kernel.Stream, one goroutine
// per core (GOMAXPROCS) taking the next part in turn, and returns the XOR
// of all their 64-bit words, so that no read can be skipped.
func Read(parts [][]byte) uint64 {
	workers := runtime.GOMAXPROCS(0)
	sums := make([]uint64, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(parts); i = int(next.Add(1) - 1) {
				sums[w] ^= kernel.Stream(parts[i])
			}
		}(w)
	}
	wg.Wait()
	var x uint64
	for _, s := range sums {
		x ^= s
	}
	return x
}
