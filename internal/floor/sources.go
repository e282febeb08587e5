package floor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/memvec/memvec/engine"
	"github.com/memvec/memvec/segment"
)

// The floor is timed over two sources of the same number of bytes, and is
// the faster of the two in the same run: page-cache pages and a fresh heap
// allocation do not stream at the same rate on every machine, so a floor
// over heap memory alone can be slower than the search it is meant to
// bound. BenchmarkSearchVsFloor and `memvec bench` both take the floor so.

// Heap returns a buffer of size bytes on the Go heap cut into parts of
// PartBytes, written first so that its pages are real memory, not the
// shared zero page.
func Heap(size int) [][]byte {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = 2
	}
	return Split(buf, PartBytes)
}

// Mapped maps the segment files of the n x dim store in dir (built with
// segments of segBytes, 0 for engine.DefaultSegmentBytes, every segment
// full but the last), read-only as memvec maps them, and returns, cut into
// parts of PartBytes, the bytes of each segment's rows' vectors and norms:
// one contiguous region from the end of the header page, as the layout in
// segment/doc.go places the norms right after a full segment's vectors
// (for a full segment exactly the bytes a Search reads). unmap releases
// the mappings.
func Mapped(dir string, n, dim int, segBytes int64) (parts [][]byte, unmap func(), err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("memvec: floor: no segments in %s (%v)", dir, err)
	}
	sort.Strings(files)
	if segBytes == 0 {
		segBytes = engine.DefaultSegmentBytes
	}
	capacity := int(segment.Capacity(dim, segBytes))
	var maps []mmap.MMap
	unmap = func() {
		for _, m := range maps {
			m.Unmap()
		}
	}
	left := n
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			unmap()
			return nil, nil, err
		}
		m, err := mmap.Map(f, mmap.RDONLY, 0)
		f.Close()
		if err != nil {
			unmap()
			return nil, nil, err
		}
		maps = append(maps, m)
		rows := min(left, capacity)
		left -= rows
		parts = append(parts, Split(m[segment.HeaderSize:segment.HeaderSize+rows*(dim*4+4)], PartBytes)...)
	}
	if left != 0 {
		unmap()
		return nil, nil, fmt.Errorf("memvec: floor: the segments of %s hold %d rows fewer than %d", dir, left, n)
	}
	return parts, unmap, nil
}
