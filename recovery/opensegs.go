package recovery

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/segment"
)

// openParallel bounds the sealed segments opened at once. Opening one is
// a few system calls and, when the page cache is cold, one random read
// of its header page and its inode: latency, not CPU, so reads in flight
// well beyond the cores pay, as the device serves them together (a 16M x
// 512 store has 534 segments; one after another they took 2.6 s cold).
const openParallel = 32

// openSegments opens every segment the manifest names and checks that
// each file is the one named: its header's salt must be the one the
// manifest recorded (a segment file copied from another store, or from
// another place in this one, is refused). A manifest of format version 1
// recorded no salts; they are filled in from the headers, and the next
// manifest written records them.
//
// Sealed segments are opened openParallel at a time (segment.Open reads
// only the header page and maps the file); the active one, whose open may
// cut a torn tail, is opened when the checks reach it, as before. The
// error is the one a sequential open would report: the checks run in
// manifest order over the results, and a sealed segment is skipped only
// after an earlier one failed, so every segment before the first failure is
// open when the checks reach it.
func openSegments(st *State, readOnly bool) error {
	m := st.Manifest
	sealed := make([]*segment.Segment, len(m.Segments))
	errsAt := make([]error, len(m.Segments))
	// firstErr is the lowest index that failed so far: a segment past it
	// need not be opened.
	var firstErr atomic.Int64
	firstErr.Store(int64(len(m.Segments)))
	var g errgroup.Group
	g.SetLimit(openParallel)
	for i, ms := range m.Segments {
		if !ms.Sealed {
			continue
		}
		g.Go(func() error {
			if firstErr.Load() < int64(i) {
				return nil
			}
			sealed[i], errsAt[i] = segment.Open(st.FS, st.Dir, ms.Number, m.Dimension, ms.Capacity, ms.SealInfo())
			for errsAt[i] != nil {
				f := firstErr.Load()
				if f < int64(i) || firstErr.CompareAndSwap(f, int64(i)) {
					break
				}
			}
			return nil
		})
	}
	g.Wait()
	// The segments the loop below does not hand to st (it stops at the
	// first error) are closed here.
	next := 0
	defer func() {
		for _, seg := range sealed[next:] {
			if seg != nil {
				seg.Close()
			}
		}
	}()
	for i, ms := range m.Segments {
		next = i + 1
		seg, err := sealed[i], errsAt[i]
		switch {
		case ms.Sealed:
		case readOnly:
			seg, err = segment.OpenActiveReadOnly(st.FS, st.Dir, ms.Number, m.Dimension, ms.Capacity, ms.Rows)
		default:
			seg, err = segment.OpenActive(st.FS, st.Dir, ms.Number, m.Dimension, ms.Capacity, ms.Rows)
		}
		if err != nil {
			return missingIsCorrupt(err)
		}
		st.Segments = append(st.Segments, Segment{Segment: seg, Tomb: bitset.New(ms.Capacity)})
		if ms.Salt == 0 {
			m.Segments[i].Salt = seg.Salt()
		} else if seg.Salt() != ms.Salt {
			return fmt.Errorf("%s: header salt %#x, the manifest names a file with salt %#x: the file is not this store's segment %d (copied from another store?): %w",
				seg.Path(), seg.Salt(), ms.Salt, ms.Number, errs.ErrCorrupt)
		}
		st.Segments[i].Entry = m.Segments[i]
	}
	return nil
}
