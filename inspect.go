package memvec

import (
	"context"
)

// SegmentInfo describes one segment file of a store, as SegmentInfo
// returns it.
type SegmentInfo struct {
	// Number is the segment's file number; its file is the store's
	// directory joined with the number formatted as %06d.seg.
	Number uint64
	// FirstID and LastID are the smallest and largest ID the segment
	// holds, deleted ones included; both are 0 when Rows is 0. A segment
	// written by a compaction that merged others may hold several runs of
	// IDs (see Runs), so not every ID in between need be in it.
	FirstID, LastID uint64
	// Runs is the number of runs of consecutive IDs the segment holds.
	Runs int
	// Rows counts the rows stored in the segment, deleted ones included;
	// Deleted counts the deleted ones, so Deleted/Rows is the share a
	// compaction of this segment would reclaim.
	Rows, Deleted uint64
	// Capacity is the number of rows the file has room for.
	Capacity uint64
	// Sealed is false for the one active segment, which takes new rows,
	// and true for the others, which never change again.
	Sealed bool
	// Bytes is the size of the file.
	Bytes int64
}

// SegmentInfo describes the store's segments at one instant, by ascending
// number. The Rows and Deleted of all segments add up to Stats' Total and
// Deleted.
func (db *DB) SegmentInfo() ([]SegmentInfo, error) {
	segs, err := db.e.SegmentDetails()
	if err != nil {
		return nil, wrap("segment info", err)
	}
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		out[i] = SegmentInfo(s)
	}
	return out, nil
}

// Range calls fn for every live vector, by ascending ID, all from one
// consistent snapshot of the store: vectors added or deleted while Range
// runs are not seen. vec points into the store's memory-mapped file, so
// Range allocates nothing per vector; it is valid only until fn returns
// and must not be modified (copy it to keep it).
//
// Range stops at the first error fn returns and returns that error
// unwrapped. Once ctx is done it returns an error wrapping ctx.Err()
// instead of calling fn again. No lock is held while fn runs, so fn may call other methods of
// db; if db is closed meanwhile, Range returns ErrClosed instead of
// calling fn again. Every segment is checksummed before its first vector
// is passed to fn, as for Search, so a damaged segment fails Range with
// ErrCorrupt.
func (db *DB) Range(ctx context.Context, fn func(id uint64, vec []float32) error) error {
	// fn's own error is the application's: it comes back as it was,
	// without memvec's prefix.
	fromFn := false
	err := db.e.Range(ctx, func(id uint64, vec []float32) error {
		err := fn(id, vec)
		fromFn = err != nil
		return err
	})
	if fromFn {
		return err
	}
	return wrap("range", err)
}
