package engine

import (
	"context"
	"sort"

	"github.com/memvec/memvec/internal/errs"
)

// SegmentDetail describes one segment as a snapshot shows it, for
// inspection (the compaction policy uses the leaner compactor.SegmentInfo).
type SegmentDetail struct {
	Number          uint64 // file number: the file is segment.FileName(Number)
	FirstID, LastID uint64 // smallest and largest ID held; both 0 when Rows is 0
	Runs            int    // ID runs: 1 unless a compaction merged segments
	Rows, Deleted   uint64 // visible rows, and how many of them are tombstoned
	Capacity        uint64 // rows the file can hold
	Sealed          bool   // false for the active segment, which takes new rows
	Bytes           int64  // file size
}

// SegmentDetails describes every segment of the current version, by
// ascending number.
func (e *Engine) SegmentDetails() ([]SegmentDetail, error) {
	v, done, err := e.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	out := make([]SegmentDetail, v.segs.len())
	for i, s := range v.segs.all() {
		out[i] = SegmentDetail{
			Number:   s.ref.seg.Number(),
			Rows:     s.rows,
			Deleted:  s.tomb.count(),
			Capacity: s.ref.seg.Capacity(),
			Sealed:   s.ref.seg.Sealed(),
			Bytes:    s.ref.seg.Size(),
		}
	}
	// The index holds the visible part of every run, sorted by ID: the
	// first entry of a segment has its smallest ID, the last its largest.
	for x := range v.index.All() {
		si := &out[x.Seg]
		if si.Runs == 0 {
			si.FirstID = x.FirstID
		}
		si.Runs++
		si.LastID = x.FirstID + x.Count - 1
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Number < out[b].Number })
	return out, nil
}

// Range calls fn for every live vector of one snapshot, by ascending ID,
// and stops at the first error fn returns, which it returns as is. vec
// points into the mapping: it is valid only during the call and must not
// be modified.
//
// Range holds no lock while fn runs, only its snapshot, so fn may call any
// method of the engine. Writes made meanwhile are not seen. Close does not
// wait for a Range: after Close has begun, Range returns ErrClosed instead
// of calling fn again (the snapshot keeps the files mapped until then).
// Once ctx is done, Range returns ctx.Err() instead of calling fn again
// (a ctx done before Range starts fails it even on an empty store).
func (e *Engine) Range(ctx context.Context, fn func(id uint64, vec []float32) error) error {
	return e.rangeRows(ctx, func(_ *segView, _ uint64, id uint64, vec []float32) error { return fn(id, vec) })
}

// RangeRecords is Range with each row's key and payload: for every live
// row of one snapshot, by ascending ID, fn gets a Record whose Vector
// points into the mapping (valid only during the call) and whose Key and
// Payload are copies (empty for a row added without a key).
func (e *Engine) RangeRecords(ctx context.Context, fn func(r Record) error) error {
	return e.rangeRows(ctx, func(s *segView, row, id uint64, vec []float32) error {
		r := Record{ID: id, Vector: vec}
		if seg := s.ref.seg; seg.Keyed() {
			k, err := seg.Key(row)
			if err != nil {
				return err
			}
			if len(k) > 0 {
				r.Key = string(k)
				if r.Payload, err = seg.Payload(row); err != nil {
					return err
				}
			}
		}
		return fn(r)
	})
}

// rangeRows calls fn for every live row of one snapshot, by ascending ID,
// with its segment view and row: the body of Range and RangeRecords.
func (e *Engine) rangeRows(ctx context.Context, fn func(s *segView, row, id uint64, vec []float32) error) error {
	if err := e.begin(); err != nil {
		return err
	}
	v := e.acquire()
	e.opMu.RUnlock()
	defer v.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	done := ctx.Done()
	for x := range v.index.All() {
		s := v.segs.at(x.Seg)
		if s.tomb.count() == s.rows {
			continue
		}
		if err := s.ref.verify(); err != nil {
			return err
		}
		seg := s.ref.seg
		dim := uint64(seg.Dim())
		// Streamed (segment.StreamVectors): read ahead, and what was
		// not cached is dropped behind, so an export of a store larger
		// than RAM does not evict its codes.
		_, err := seg.StreamVectors(x.FirstRow, x.FirstRow+x.Count, func(from, to uint64) error {
			vecs := seg.Vectors(from, to)
			for row := from; row < to; row++ {
				if s.tomb.has(row) {
					continue
				}
				select {
				case <-done:
					return ctx.Err()
				default:
				}
				if e.closed.Load() {
					return errs.ErrClosed
				}
				j := row - from
				if err := fn(s, row, x.FirstID+(row-x.FirstRow), vecs[j*dim:(j+1)*dim:(j+1)*dim]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
