package engine

import (
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/segment"
)

// diskBytes returns the disk space seg's file takes: its allocated blocks
// (vfs.Allocated), since a segment file grows in steps inside its sparse
// fixed part; its size if it cannot be asked. One stat per segment: Stats
// is not on any hot path.
func (e *Engine) diskBytes(seg *segment.Segment) int64 {
	fi, err := e.fs.Stat(seg.Path())
	if err != nil {
		return seg.Size()
	}
	return vfs.Allocated(fi)
}
