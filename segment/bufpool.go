package segment

import "sync"

// rowBufs recycles the buffers AppendRecords lays a batch's vectors out
// in before writing them: a NoSync stream of batches of 10,000 small
// vectors allocated 2.5 MB a batch for them, which made the collector run
// every few batches. The file's WriteAt does not keep the buffer
// (io.WriterAt), so it is free again once AppendRecords returns.
var rowBufs sync.Pool // of *[]byte

// maxPooledBuf bounds the buffers kept: a larger batch allocates its own.
const maxPooledBuf = 8 << 20

// getBuf returns a buffer of n bytes, not zeroed.
func getBuf(n int) []byte {
	if p, _ := rowBufs.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// putBuf gives b back for a later getBuf.
func putBuf(b []byte) {
	if cap(b) <= maxPooledBuf {
		rowBufs.Put(&b)
	}
}
