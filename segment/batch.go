package segment

import (
	"context"
	"errors"
	"fmt"

	"github.com/memvec/memvec/internal/errs"
)

// batch is one checked batch record with its blob (version 3).
type batch struct {
	rec Record
	raw []byte // the blob's bytes
	bl  blob
	end int64 // where the next batch's blob starts
}

// checkRecord decodes record i and checks that it starts at row want, that
// (version 3) its blob starts at blobAt (anywhere in the blob area when
// blobAt < 0), lies within the file and decodes, and, with sum, that its
// checksum matches the rows, norms, codes and metas (version 4) and the
// blob it covers. Damage returns an
// error wrapping ErrCorrupt; any other error is a failed read.
func (s *Segment) checkRecord(i, want uint64, blobAt int64, sum bool) (batch, error) {
	return s.checkRecordFrom(nil, i, want, blobAt, sum)
}

// checkRecordFrom is checkRecord reading the blob through r (nil: one
// pread), for the loops that read the blobs in order.
func (s *Segment) checkRecordFrom(r *blobReader, i, want uint64, blobAt int64, sum bool) (batch, error) {
	b := s.recordBytes(i)
	rec, err := decodeRecordFor(s.lay.version, b)
	if err != nil {
		return batch{}, err
	}
	if rec.Index != i || rec.FirstRow != want || uint64(rec.Rows) > s.lay.capacity-want {
		return batch{}, fmt.Errorf("record %d: index %d rows %d..+%d out of place: %w", i, rec.Index, rec.FirstRow, rec.Rows, errs.ErrCorrupt)
	}
	bt := batch{rec: rec, end: blobAt}
	covered := b[:40]
	if s.lay.keyed() {
		covered = b[:56]
		if blobAt >= 0 && rec.BlobOff != uint64(blobAt) || rec.BlobOff < uint64(s.lay.size) {
			return batch{}, fmt.Errorf("record %d: blob at %d, want %d: %w", i, rec.BlobOff, blobAt, errs.ErrCorrupt)
		}
		end := rec.BlobOff + rec.BlobLen // no overflow: DecodeRecord bounds both
		if size := s.size.Load(); end > uint64(size) {
			return batch{}, fmt.Errorf("record %d: blob ends at %d, past the end of the file (%d bytes): %w", i, end, size, errs.ErrCorrupt)
		}
		if rec.BlobLen > 0 {
			bt.raw = make([]byte, rec.BlobLen)
			if err := r.readAt(s, bt.raw, int64(rec.BlobOff)); err != nil {
				return batch{}, fmt.Errorf("record %d: read blob at %d: %w", i, rec.BlobOff, err)
			}
		}
		if bt.bl, err = decodeBlob(bt.raw, rec.Rows); err != nil {
			return batch{}, fmt.Errorf("record %d: %w", i, err)
		}
		bt.end = int64(end)
	}
	end := want + uint64(rec.Rows)
	if sum && recordSum(s.hdr.Salt, covered, s.vectorBytes(want, end), s.normBytes(want, end),
		s.codeBytes(want, end), s.metaBytes(want, end), bt.raw) != rec.Sum {
		return batch{}, fmt.Errorf("record %d: rows %d..%d fail their checksum: %w", i, want, end, errs.ErrCorrupt)
	}
	return bt, nil
}

// damaged reports whether err from checkRecord says the record is bad (as
// opposed to a failed read, which says nothing about the file).
func damaged(err error) bool { return errors.Is(err, errs.ErrCorrupt) }

// scanned is what the batch records of a segment hold besides rows.
type scanned struct {
	mem        *memIndex
	supersedes []uint64
	blobEnd    int64
}

func (sc *scanned) add(b batch) {
	sc.mem.add(b.rec, b.raw, b.bl)
	sc.supersedes = append(sc.supersedes, b.bl.supersedes...)
	sc.blobEnd = b.end
}

// scanRecords checks every record covering rows [0, rows), checksums
// included, and gathers their keys and superseded IDs. The error names the
// file and the offset of the first bad record.
func (s *Segment) scanRecords(ctx context.Context, rows uint64) (scanned, error) {
	sc := scanned{mem: &memIndex{}, blobEnd: s.lay.size}
	r := &blobReader{}
	var next uint64
	// The rows are read in order, batch by batch: asked for ahead (see
	// StreamVectors), as the vectors of a sealed segment are advised
	// random. Nothing is dropped: Verify drops what it found cold after
	// both its passes.
	rs := s.newRowStream(0, rows, true)
	defer func() { rs.at(min(next, rows)) }()
	for i := uint64(0); next < rows; i++ {
		rs.at(next)
		if err := ctx.Err(); err != nil {
			return sc, err
		}
		b, err := s.checkRecordFrom(r, i, next, sc.blobEnd, true)
		if err != nil {
			return sc, fmt.Errorf("segment %s: offset %d: %w", s.path, s.lay.recordAt(i), err)
		}
		next += uint64(b.rec.Rows)
		sc.add(b)
	}
	if next != rows {
		return sc, fmt.Errorf("segment %s: the records cover %d rows, not %d: %w", s.path, next, rows, errs.ErrCorrupt)
	}
	return sc, nil
}

// blobReader reads the blobs of consecutive batches with one pread per
// blobReadAhead bytes rather than one per batch (many small keyed batches
// would otherwise cost a system call each at open). Its zero value is
// ready; a nil one reads directly.
type blobReader struct {
	buf []byte
	off int64 // file offset of buf[0]
}

const blobReadAhead = 1 << 20

// readAt fills p from the file at off: from the buffer, or by refilling it
// from off (never past the end of the file: the caller checked that p
// ends within it), or directly for a large p.
func (r *blobReader) readAt(s *Segment, p []byte, off int64) error {
	if r == nil || len(p) > blobReadAhead/2 {
		_, err := s.f.ReadAt(p, off)
		return err
	}
	if off < r.off || off+int64(len(p)) > r.off+int64(len(r.buf)) {
		n := max(min(blobReadAhead, s.size.Load()-off), int64(len(p)))
		if int64(cap(r.buf)) < n {
			r.buf = make([]byte, n)
		}
		r.buf, r.off = r.buf[:n], off
		if _, err := s.f.ReadAt(r.buf, off); err != nil {
			r.buf = r.buf[:0]
			return err
		}
	}
	copy(p, r.buf[off-r.off:])
	return nil
}
