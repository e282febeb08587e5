package segment

import "sync"

// Buffers AppendRecords lays a batch out in before writing it: a NoSync
// stream of batches of 10,000 keyed vectors of dimension 64 allocated 3 MB
// a batch for them, which made the collector run every few batches. The
// file's WriteAt does not keep its buffer (io.WriterAt), nor does the
// key index (it copies the keys), so a buffer is free again once
// AppendRecords returns.
var (
	rowBufs  bufPool // the vectors
	blobBufs bufPool // the blob
)

// bufPool recycles byte buffers of up to maxPooledBuf bytes.
type bufPool struct{ p sync.Pool } // of *[]byte

const maxPooledBuf = 8 << 20

// get returns a buffer of n bytes, not zeroed.
func (bp *bufPool) get(n int) []byte {
	if p, _ := bp.p.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// put gives b back for a later get; b must no longer be used.
func (bp *bufPool) put(b []byte) {
	if b != nil && cap(b) <= maxPooledBuf {
		bp.p.Put(&b)
	}
}
