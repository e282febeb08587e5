package engine

import (
	"fmt"
	"math"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/idindex"
	"github.com/memvec/memvec/internal/kernel"
	"github.com/memvec/memvec/segment"
)

// Norms outside [minNorm, maxNorm] are refused: their inverse would not be
// a normal float32, and float32 dot products with them underflow or
// overflow, so their scores could not be exact.
const (
	minNorm = 1e-30
	maxNorm = 1e30
)

// checkVector validates v and returns its inverse L2 norm.
func (e *Engine) checkVector(v []float32) (float32, error) {
	if len(v) != e.dim {
		return 0, fmt.Errorf("vector of length %d, store dimension %d: %w", len(v), e.dim, errs.ErrDimension)
	}
	if inv, ok := fastInvNorm(v); ok {
		return inv, nil
	}
	// The reference: the NaN/Inf error names the first bad component, and
	// the inverse norm comes from this sequential sum.
	var ss float64
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, fmt.Errorf("component %d is %v: %w", j, x, errs.ErrInvalidVector)
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0, fmt.Errorf("all-zero vector: %w", errs.ErrInvalidVector)
	}
	norm := math.Sqrt(ss)
	if norm < minNorm || norm > maxNorm {
		return 0, fmt.Errorf("norm %g outside the supported range [%g, %g]: %w", norm, minNorm, maxNorm, errs.ErrInvalidVector)
	}
	return float32(1 / norm), nil
}

// fastInvNorm returns checkVector's inverse norm for v, bit for bit, when
// it can prove it without checkVector's sequential float64 sum, whose
// chain of dependent additions costs more than the rest of an Add's
// arithmetic; ok is false when v is invalid or the proof fails, and then
// checkVector runs its reference loop.
//
// One integer max finds a NaN or infinity (their bits of |x| are the
// largest). The sum of squares is then taken with eight accumulators:
// the squares of float32s are exact in float64, so this sum and the
// sequential one are both within a factor 1 +/- gamma_{n-1} (u = 2^-53)
// of the real sum, and the sequential sum lies in [lo, hi], ss scaled by
// 1 -/+ 4(n+2)u, which also covers the roundings of lo and hi. Sqrt, the
// reciprocal and the float32 conversion are monotone, so if both ends
// give the same float32 and an in-range norm, so does the sequential sum.
// The ends differ only when 1/norm is within about n*2^-51 of a float32
// rounding boundary: a few rows in a million.
func fastInvNorm(v []float32) (float32, bool) {
	if len(v) == 0 || kernel.MaxAbsBits(v) >= 0x7f800000 {
		return 0, false
	}
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := v[i : i+8 : i+8]
		s0 += float64(w[0]) * float64(w[0])
		s1 += float64(w[1]) * float64(w[1])
		s2 += float64(w[2]) * float64(w[2])
		s3 += float64(w[3]) * float64(w[3])
		s4 += float64(w[4]) * float64(w[4])
		s5 += float64(w[5]) * float64(w[5])
		s6 += float64(w[6]) * float64(w[6])
		s7 += float64(w[7]) * float64(w[7])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i]) * float64(v[i])
	}
	ss := ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
	if ss == 0 {
		return 0, false
	}
	delta := float64(len(v)+2) * 0x1p-51
	lo, hi := math.Sqrt(ss*(1-delta)), math.Sqrt(ss*(1+delta))
	if lo < minNorm || hi > maxNorm {
		return 0, false
	}
	inv := float32(1 / lo)
	if inv != float32(1/hi) {
		return 0, false
	}
	return inv, true
}

// Add stores vecs under consecutive new IDs and returns them. See the
// package doc for how a batch stays atomic.
func (e *Engine) Add(vecs [][]float32) ([]uint64, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	if len(vecs) == 0 {
		return nil, nil
	}
	b := batch{vecs: vecs, inv: make([]float32, len(vecs))}
	for i, v := range vecs {
		var err error
		if b.inv[i], err = e.checkVector(v); err != nil {
			return nil, fmt.Errorf("vector %d: %w", i, err)
		}
	}
	e.encodeBatch(&b)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.writable(); err != nil {
		return nil, err
	}
	return e.appendLocked(&b)
}

// appendLocked stores b under consecutive new IDs and returns them.
// Callers hold writeMu and have checked that the engine takes writes.
func (e *Engine) appendLocked(b *batch) ([]uint64, error) {
	n := uint64(len(b.vecs))
	first := e.nextID.Load()
	if e.noSync && first+n > e.man.NextID {
		if err := e.reserveIDs(first + n + noSyncIDReserve); err != nil {
			return nil, err
		}
	}
	var err error
	// A segment of an older format is sealed at the first write after it
	// is opened, so that new rows get the current format (codes, keys).
	if e.active != nil && e.active.seg.Free() >= n && e.active.seg.Version() == segment.Version {
		err = e.appendActive(first, b)
	} else {
		err = e.appendNew(first, b)
	}
	if err != nil {
		return nil, err
	}
	e.nextID.Add(n)
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = first + uint64(i)
	}
	return ids, nil
}

// noSyncIDReserve is how many IDs a NoSync engine reserves at a time.
const noSyncIDReserve = 1 << 16

// reserveIDs makes the manifest's NextID mark, durably, before any ID
// below mark is handed out by a NoSync Add. A NoSync batch appended to the
// active segment is acknowledged before it is fsynced, so power loss can
// take it; without the mark, recovery would derive the next ID from the
// rows that survived and hand the lost batch's IDs out again, to
// different vectors. With it, the IDs in [surviving rows, mark) are
// skipped after a crash (a gap of at most noSyncIDReserve plus one batch),
// and a clean Close writes the exact counter back (checkpointLocked). One
// manifest write per reservation: about one per 65,536 IDs.
func (e *Engine) reserveIDs(mark uint64) error {
	_, err := e.apply(&edit{nextID: mark})
	return err
}

// appendActive writes the batch into the active segment's free space.
// Its superseded rows are deleted in the version that shows its rows, and
// wait in e.pending for the WAL (see flushPendingLocked).
func (e *Engine) appendActive(first uint64, b *batch) error {
	seg := e.active.seg
	if err := seg.AppendBatch(b.segmentBatch(first), !e.noSync); err != nil {
		if seg.Err() == nil {
			// Refused before any write (no space for the rows'
			// blocks): the store stays as it was, and writable.
			return err
		}
		return e.fail(err)
	}
	e.publishActive(first, b.supersedes)
	e.pending = append(e.pending, b.supersedes...)
	if len(b.supersedes) > 0 {
		// Rows deleted, as by Delete: a sealed segment may now be
		// worth compacting.
		e.signal()
	}
	return nil
}

// appendNew writes the batch into fresh segments and makes them part of the
// store with one manifest replacement, which also seals the old active
// segment (or drops it if it is empty). Until that replacement the new
// files are orphans that recovery removes, so a crash loses the whole
// batch or none of it.
//
// A batch that supersedes rows names them in its last part, and the
// segment holding that part stays active even when full: recovery
// re-applies the supersedes of the active segment's batches, and a
// segment is sealed only once the WAL holds them (flushPendingLocked).
func (e *Engine) appendNew(first uint64, b *batch) error {
	var created []*segment.Segment
	cleanup := func(err error) error {
		for _, s := range created {
			s.Remove()
		}
		return err
	}
	for off := 0; off < len(b.vecs); {
		n := min(len(b.vecs)-off, int(e.segCap))
		// The number is reserved even if this attempt fails (as Prepare
		// reserves its numbers): a file that a failed cleanup could not
		// remove must not make every later attempt fail on O_EXCL.
		// Recovery removes such a file.
		num := e.nextSegment
		e.nextSegment++
		seg, err := segment.Create(e.fs, e.dir, num, e.dim, e.segCap, e.man.Generation)
		if err != nil {
			return cleanup(err)
		}
		created = append(created, seg)
		part := b.rows(off, off+n)
		if off+n == len(b.vecs) {
			part.supersedes = b.supersedes
		}
		// Durable before the manifest names it, even with NoSync: a
		// manifest must never point at rows that may not be on disk.
		if err := seg.AppendBatch(part.segmentBatch(first+uint64(off)), true); err != nil {
			return cleanup(err)
		}
		off += n
	}
	ed := &edit{nextID: first + uint64(len(b.vecs)), deleted: b.supersedes}
	// Every new segment that is full is sealed; the last one stays active
	// if it has room or holds supersedes.
	for i, seg := range created {
		last := i == len(created)-1
		if !last || seg.Free() == 0 && len(b.supersedes) == 0 {
			if _, err := seg.Seal(); err != nil {
				return cleanup(err)
			}
		}
		ed.added = append(ed.added, newView(seg))
	}
	// The old active segment: sealed, or dropped when it holds no rows.
	if e.active != nil {
		if e.active.seg.Rows() == 0 {
			ed.retired = []uint64{e.active.seg.Number()}
		} else {
			if _, err := e.active.seg.Seal(); err != nil {
				return e.fail(cleanup(err))
			}
			if err := e.flushPendingLocked(); err != nil {
				return cleanup(err)
			}
			ed.sealActive = true
		}
	}
	if _, err := e.apply(ed); err != nil {
		return err
	}
	e.pending = append(e.pending, b.supersedes...)
	e.signal()
	return nil
}

// flushPendingLocked writes the rows superseded by the active segment's
// batches to the WAL, synced, before a manifest seals that segment: from
// then on recovery no longer reads its batches. The segment is synced
// first (Seal does), so the WAL never holds the deletion of a row whose
// replacement may not be durable (with NoSync, a power cut could otherwise
// leave a key with neither).
func (e *Engine) flushPendingLocked() error {
	if len(e.pending) == 0 {
		return nil
	}
	if _, err := e.wal.Append(e.pending); err != nil {
		return e.fail(err)
	}
	if err := e.wal.Sync(); err != nil {
		return e.fail(err)
	}
	e.pending = nil
	return nil
}

// Delete tombstones the given IDs and returns how many were live. The IDs
// newly deleted go to the WAL in one record before the new version is
// published.
func (e *Engine) Delete(ids []uint64) (int, error) {
	return e.deleteRows(len(ids), nil, func(*version) ([]uint64, error) { return ids, nil })
}

// deleteRows is Delete and DeleteKeys: once the operation is entered,
// check validates the n arguments (nil: nothing to check); then, under
// writeMu, resolve names the rows to delete in the current version.
func (e *Engine) deleteRows(n int, check func() error, resolve func(v *version) ([]uint64, error)) (int, error) {
	if err := e.begin(); err != nil {
		return 0, err
	}
	defer e.opMu.RUnlock()
	if check != nil {
		if err := check(); err != nil {
			return 0, err
		}
	}
	if n == 0 {
		return 0, nil
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.writable(); err != nil {
		return 0, err
	}
	ids, err := resolve(e.cur.Load())
	if err != nil {
		return 0, err
	}
	return e.deleteLocked(ids)
}

// deleteLocked is Delete under writeMu.
func (e *Engine) deleteLocked(ids []uint64) (int, error) {
	v := e.cur.Load()
	segs, dead := tombstoned(v.segs, v.index, ids)
	if len(dead) == 0 {
		return 0, nil
	}
	if _, err := e.wal.Append(dead); err != nil {
		return 0, e.fail(err)
	}
	e.publishDerived(segs, v.index)
	e.maybeCheckpointLocked()
	e.signal()
	return len(dead), nil
}

// tombstoned returns segs with the live rows among ids deleted, and those
// IDs. Only the views of the segments touched are copied (with their
// tombstones): the cost follows len(ids), not the number of segments.
func tombstoned(segs segList, index idindex.Index, ids []uint64) (segList, []uint64) {
	var cloned map[int]bool
	var dead []uint64
	for _, id := range ids {
		si, row, ok := index.Find(id)
		if !ok || segs.at(si).tomb.has(row) {
			continue
		}
		if !cloned[si] {
			s := *segs.at(si)
			s.tomb = s.tomb.clone()
			segs = segs.with(si, s)
			if cloned == nil {
				cloned = make(map[int]bool)
			}
			cloned[si] = true
		}
		// The view is this call's own copy until it is published.
		segs.at(si).tomb.add(row)
		dead = append(dead, id)
	}
	return segs, dead
}
