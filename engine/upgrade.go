package engine

import (
	"context"
	"math/bits"
	"path/filepath"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// Upgrade rewrites every segment of an older format into the current one,
// so that its rows get int8 codes (and the search its prefilter), without
// moving any ID: each new file holds the same rows at the same row numbers
// under the same IDs (compactor.Rewrite), and replaces the old one in one
// manifest replacement, with a tombstone checkpoint that carries the old
// file's tombstones over to the new number. An active segment of an older
// format is sealed first. It returns how many segments it rewrote; a store
// already in the current format costs a look at its segment list.
//
// Crash safety is that of a compaction's commit: until the manifest names
// a new file it is an orphan that recovery removes, and the old file
// serves; afterwards the old file goes once no search uses it. A segment
// that a concurrent compaction retires meanwhile is left to it (the
// caller, memvec.DB.Upgrade, runs one at a time with compactions).
func (e *Engine) Upgrade(ctx context.Context) (int, error) {
	type todo struct {
		number, rows, fresh uint64
		seg                 *segment.Segment
		verify              func() error
	}
	done, err := e.writing(mustWrite)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil { // before the seal below changes anything
		done()
		return 0, err
	}
	if e.dim > quant.MaxDim {
		done()
		return 0, nil // no format has codes at this dimension
	}
	if e.active != nil && e.active.seg.Version() != segment.Version {
		if err := e.sealActiveLocked(); err != nil {
			done()
			return 0, err
		}
	}
	v := e.acquire()
	defer v.release()
	var plan []todo
	for _, s := range v.segs.all() {
		if seg := s.ref.seg; seg.Sealed() && seg.Version() != segment.Version {
			plan = append(plan, todo{number: seg.Number(), rows: s.rows, fresh: e.nextSegment, seg: seg, verify: s.ref.verify})
			e.nextSegment++
		}
	}
	gen := e.man.Generation
	e.jobs.Add(1)
	defer e.jobs.Done()
	done()

	cctx, release := e.closable(ctx)
	defer release()
	n := 0
	for _, t := range plan {
		if err := e.stopped(ctx); err != nil {
			return n, err
		}
		if err := t.verify(); err != nil {
			return n, err
		}
		out, _, err := compactor.Rewrite(cctx, e.fs, e.dir, t.seg, t.fresh, max(t.rows, 1), gen)
		if err != nil {
			if serr := e.stopped(ctx); serr != nil {
				return n, serr
			}
			return n, err
		}
		ok, err := e.commitRewrite(t.number, out)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// commitRewrite replaces segment old by out, its rewrite, keeping old's
// current tombstones. It reports false, and removes out, when old is no
// longer in the store.
func (e *Engine) commitRewrite(old uint64, out *segment.Segment) (bool, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.writable(); err != nil {
		out.Remove()
		return false, err
	}
	var src *segView
	for _, s := range e.cur.Load().segs.all() {
		if s.ref.seg.Number() == old {
			src = &s
		}
	}
	if src == nil {
		out.Remove()
		return false, nil
	}
	nv := newView(out)
	for w, word := range src.tomb.bits {
		for ; word != 0; word &= word - 1 {
			nv.tomb.add(uint64(w)*64 + uint64(bits.TrailingZeros64(word)))
		}
	}
	ed := &edit{added: []segView{nv}, retired: []uint64{old}, tombs: e.man.Generation + 1}
	segs, _, _ := e.nextSegs(ed)
	// The checkpoint names segments by number: the old file's tombstones
	// must be found under the new one's before the manifest names it.
	if err := e.writeTombsLocked(ed.tombs, segs); err != nil {
		e.fs.Remove(filepath.Join(e.dir, manifest.TombsFileName(ed.tombs)))
		out.Remove()
		return false, err
	}
	if err := e.fs.SyncDir(e.dir); err != nil {
		e.fs.Remove(filepath.Join(e.dir, manifest.TombsFileName(ed.tombs)))
		out.Remove()
		return false, err
	}
	return e.apply(ed)
}
