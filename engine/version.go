package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/idindex"
	"github.com/memvec/memvec/segment"
)

// segRef is a segment shared by the versions that list it.
type segRef struct {
	seg    *segment.Segment
	refs   atomic.Int64
	retire atomic.Bool // remove the file when the last reference goes

	// A segment opened from disk is checksummed in full before its first
	// row is served (Open reads only headers and the active tail, so that
	// it costs the tail, not the store). Segments this process wrote are
	// trusted. openSeal is the manifest's seal at open, nil for the active
	// segment (checked batch by batch).
	trusted  bool
	openSeal *segment.Seal
	check    sync.Once
	checkErr error
}

// verify returns nil once the segment's bytes have matched their
// checksums, and the mismatch otherwise; the work is done once.
func (r *segRef) verify() error {
	if r.trusted {
		return nil
	}
	r.check.Do(func() { r.checkErr = r.seg.Verify(context.Background(), r.openSeal) })
	return r.checkErr
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

// segView is one segment as a version shows it.
type segView struct {
	ref     *segRef
	seal    *segment.Seal // nil for the active segment
	rows    uint64
	runs    []segment.Run
	tomb    bitset.Set // immutable once published
	deleted uint64
}

// version is an immutable snapshot of the store.
type version struct {
	refs  atomic.Int64
	segs  []segView
	index idindex.Index
	epoch uint64 // compactions committed

	planOnce sync.Once
	plan     []chunk // see chunks
}

func newVersion(segs []segView, epoch uint64) *version {
	runs := make([][]segment.Run, len(segs))
	rows := make([]uint64, len(segs))
	for i, s := range segs {
		runs[i], rows[i] = s.runs, s.rows
		s.ref.refs.Add(1)
	}
	v := &version{segs: segs, index: idindex.Build(runs, rows), epoch: epoch}
	v.refs.Store(1)
	return v
}

func (v *version) release() {
	if v.refs.Add(-1) != 0 {
		return
	}
	for _, s := range v.segs {
		s.ref.unref()
	}
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
// on the previous one. Callers hold writeMu.
func (e *Engine) publish(segs []segView) {
	old := e.cur.Swap(newVersion(segs, e.man.Epoch))
	if old != nil {
		old.release()
	}
}

// cloneSegs copies the current version's segment list for editing.
func (e *Engine) cloneSegs() []segView {
	return append([]segView(nil), e.cur.Load().segs...)
}

func (v *version) totals() (total, deleted uint64) {
	for _, s := range v.segs {
		total += s.rows
		deleted += s.deleted
	}
	return
}
