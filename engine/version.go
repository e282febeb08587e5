package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/idindex"
	"github.com/memvec/memvec/segment"
)

// segRef is a segment shared by the versions that list it, through their
// segSets.
type segRef struct {
	seg    *segment.Segment
	refs   atomic.Int64 // segSets listing it
	retire atomic.Bool  // remove the file when the last reference goes

	// A segment opened from disk is checked before its bytes are served
	// (Open reads only headers and the active tail, so that it costs the
	// tail, not the store). Segments this process wrote are trusted.
	// A sealed segment of format 5 is checked row by row and code block
	// by code block as they are read (checkRows, checkCodes), and its
	// blob area whole before its first key or payload (checkBlobs); any
	// other (older formats, the active segment) is checksummed in full
	// before its first row is served (verify). openSeal is the manifest's
	// seal at open, nil for the active segment (checked batch by batch).
	trusted  bool
	openSeal *segment.Seal
	check    sync.Once
	checkErr error
	verified atomic.Bool // verify passed: every byte matched
	blobs    sync.Once
	blobsErr error
}

// verify returns nil once the segment's bytes have matched their
// checksums, and the mismatch otherwise; the work is done once. It reads
// everything: compaction, Upgrade and export call it before they copy a
// segment, readers call checkRows, checkCodes and checkBlobs.
func (r *segRef) verify() error {
	if r.trusted {
		return nil
	}
	r.check.Do(func() {
		// The rows and blobs, not the derived key tables: damage there
		// only makes the segment rebuild them (Verify reports it).
		r.checkErr = r.seg.VerifyData(context.Background(), r.seg.SealInfo())
		r.verified.Store(r.checkErr == nil)
	})
	return r.checkErr
}

// checkRows returns nil once the vectors and norms of rows [from, to)
// may be read: each row checked against its own checksum once (a sealed
// segment of format 5), or the whole segment (verify).
func (r *segRef) checkRows(from, to uint64) error {
	// A single row already checked is the common read of SearchIn and
	// Get once warm: answered inline, without CheckRows' calls.
	if r.trusted || r.verified.Load() || (to == from+1 && r.seg.RowChecked(from)) {
		return nil
	}
	return r.checkRowsSlow(from, to)
}

// checkRowsSlow is checkRows past its fast path.
func (r *segRef) checkRowsSlow(from, to uint64) error {
	if !r.seg.CheckedReads() {
		return r.verify()
	}
	return r.seg.CheckRows(from, to)
}

// checkCodes is checkRows for the codes, metas and norms the code pass
// reads of rows [from, to): whole code blocks, each checked once.
func (r *segRef) checkCodes(from, to uint64) error {
	if r.trusted || r.verified.Load() {
		return nil
	}
	if !r.seg.CheckedReads() {
		return r.verify()
	}
	return r.seg.CheckCodes(from, to)
}

// checkBlobs returns nil once the segment's keys and payloads may be
// read: its blob area checked whole, once.
func (r *segRef) checkBlobs() error {
	if r.trusted || r.verified.Load() {
		return nil
	}
	if !r.seg.CheckedReads() {
		return r.verify()
	}
	r.blobs.Do(func() { r.blobsErr = r.seg.VerifyBlobs(context.Background()) })
	return r.blobsErr
}

func (r *segRef) unref() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.retire.Load() {
		r.seg.Remove()
		return
	}
	r.seg.Close()
}

// segView is one segment as a version shows it. Whether it is sealed is
// the segment's own record (segment.Segment.Sealed).
type segView struct {
	ref  *segRef
	rows uint64
	runs []segment.Run
	tomb tombs // immutable once published
}

// segSet is the set of segments a run of versions lists. Versions that
// differ only in rows, runs and tombstones (every Delete and every Add into
// the active segment) share one segSet, so publishing one costs O(1) in
// references, not one per segment. The set holds one reference on each of
// its segments and drops them when its last version is released, so a
// segment's file is unmapped only after the last version listing it.
type segSet struct {
	refs atomic.Int64
	segs []*segRef
}

func (s *segSet) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	for _, r := range s.segs {
		r.unref()
	}
}

// version is an immutable snapshot of the store.
type version struct {
	refs   atomic.Int64
	segs   segList
	set    *segSet
	index  idindex.Index
	active int    // position of the active segment in segs, -1 if none
	epoch  uint64 // compactions committed
	seq    uint64 // versions published before this one since Open

	planOnce sync.Once
	plan     []chunk // see chunks
}

// newVersion builds a version listing segs, with a new segSet: O(len(segs)).
func newVersion(segs []segView, epoch uint64, active *segRef) *version {
	runs := make([][]segment.Run, len(segs))
	rows := make([]uint64, len(segs))
	for i, s := range segs {
		runs[i], rows[i] = s.runs, s.rows
	}
	return newVersionIndexed(segs, epoch, active, idindex.Build(runs, rows))
}

// newVersionIndexed is newVersion with the index of segs already built.
func newVersionIndexed(segs []segView, epoch uint64, active *segRef, index idindex.Index) *version {
	set := &segSet{segs: make([]*segRef, len(segs))}
	set.refs.Store(1)
	v := &version{segs: newSegList(segs), set: set, active: -1, epoch: epoch}
	for i, s := range segs {
		s.ref.refs.Add(1)
		set.segs[i] = s.ref
		if active != nil && s.ref == active {
			v.active = i
		}
	}
	v.index = index
	v.refs.Store(1)
	return v
}

// derive returns a version of the same segments as v, with the given views
// and index: O(1).
func (v *version) derive(segs segList, index idindex.Index, epoch uint64) *version {
	v.set.refs.Add(1)
	n := &version{segs: segs, set: v.set, index: index, active: v.active, epoch: epoch}
	n.refs.Store(1)
	return n
}

func (v *version) release() {
	if v.refs.Add(-1) != 0 {
		return
	}
	v.set.release()
}

// acquire returns the current version with a reference the caller must
// release. A version whose count already reached zero has been replaced;
// loading the pointer again finds its successor.
func (e *Engine) acquire() *version {
	for {
		v := e.cur.Load()
		n := v.refs.Load()
		if n > 0 && v.refs.CompareAndSwap(n, n+1) {
			return v
		}
	}
}

// publish makes segs the current version and drops the engine's reference
// on the previous one. Callers hold writeMu and have set e.active to the
// active segment's ref (or nil) before the call. It costs O(len(segs)):
// it is for the edits that change which segments the store holds or seal
// one (apply, and Open), which write a manifest listing every segment
// anyway. Delete and appendActive use the O(1)
// paths, publishDerived and publishActive.
func (e *Engine) publish(segs []segView) {
	e.swap(newVersion(segs, e.man.Epoch, e.active))
}

// publishDerived publishes the current version's segments with the given
// views (the same segments, in the same positions) and index.
func (e *Engine) publishDerived(segs segList, index idindex.Index) {
	e.swap(e.cur.Load().derive(segs, index, e.man.Epoch))
}

// publishActive publishes the rows just appended to the active segment
// (e.active), whose IDs start at firstID, above every ID the store holds,
// with the rows of dead (the IDs the batch supersedes) deleted: O(log n)
// for the view, O(1) amortised for the index, plus the segments dead
// touches. Callers hold writeMu.
func (e *Engine) publishActive(firstID uint64, dead []uint64) {
	v := e.cur.Load()
	seg := e.active.seg
	if v.active < 0 || v.segs.at(v.active).ref != e.active || firstID < v.index.MaxID() {
		// Not reached: every change of e.active publishes a full
		// version, and an Add's IDs lie above every ID in the store
		// (a compaction's, reserved earlier, are installed by a full
		// publish). Kept as the safe fallback.
		segs := e.cloneSegs()
		for i := range segs {
			if segs[i].ref == e.active {
				segs[i].rows, segs[i].runs = seg.Rows(), seg.Runs()
			}
		}
		list, _ := tombstoned(newSegList(segs), v.index, dead)
		e.publish(list.appendTo(nil))
		return
	}
	s := *v.segs.at(v.active)
	from := s.rows
	s.rows, s.runs = seg.Rows(), seg.Runs()
	segs, _ := tombstoned(v.segs.with(v.active, s), v.index, dead)
	e.publishDerived(segs, v.index.Append(v.active, firstID, from, s.rows-from))
}

func (e *Engine) swap(v *version) {
	if cur := e.cur.Load(); cur != nil {
		v.seq = cur.seq + 1
	}
	if old := e.cur.Swap(v); old != nil {
		old.release()
	}
}

// cloneSegs copies the current version's segment list for editing:
// O(number of segments), for the writes publish is for.
func (e *Engine) cloneSegs() []segView {
	return e.cur.Load().segs.appendTo(nil)
}

func (v *version) totals() (total, deleted uint64) {
	for _, s := range v.segs.all() {
		total += s.rows
		deleted += s.tomb.count()
	}
	return
}
