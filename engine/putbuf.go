package engine

import (
	"math/bits"
	"sync"
)

// putBufs recycles the slices a Put lays its batch out in: a NoSync
// stream of batches of 10,000 records allocated about 1 MB a batch for
// them, which the collector paid for. Nothing keeps them once the batch
// is appended (the segment copies vectors, keys and payloads), and
// release drops their references to the caller's memory.
var putBufs sync.Pool // of *putBuf

// maxPooledPut bounds the batches whose slices are kept, in records.
const maxPooledPut = 1 << 16

type putBuf struct {
	b   batch
	dup []int32 // firstDup's table
}

// getPutBuf returns a batch of n rows for a Put, keyed, without
// supersedes, its slices not zeroed.
func getPutBuf(n int) *putBuf {
	p, _ := putBufs.Get().(*putBuf)
	if p == nil || cap(p.b.vecs) < n {
		p = &putBuf{b: batch{
			vecs:     make([][]float32, n),
			inv:      make([]float32, n),
			keys:     make([][]byte, n),
			payloads: make([][]byte, n),
			hashes:   make([]uint64, n),
		}}
	}
	b := &p.b
	b.vecs, b.inv, b.keys, b.payloads, b.hashes = b.vecs[:n], b.inv[:n], b.keys[:n], b.payloads[:n], b.hashes[:n]
	b.supersedes = nil
	return p
}

// release gives p back once its batch is appended or refused.
func (p *putBuf) release() {
	b := &p.b
	clear(b.vecs)
	clear(b.keys)
	clear(b.payloads)
	b.supersedes = nil
	if cap(b.vecs) <= maxPooledPut {
		putBufs.Put(p)
	}
}

// dupTable returns a zeroed table for firstDup of n keys, in buf's
// memory when it is large enough.
func dupTable(buf []int32, n int) []int32 {
	size := 1 << bits.Len(uint(2*n))
	if cap(buf) < size {
		return make([]int32, size)
	}
	buf = buf[:size]
	clear(buf)
	return buf
}
