package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"path/filepath"
	"sort"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/idmap"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// This file implements compactor.Store: the engine's side of a compaction.
// Prepare and Commit hold writeMu only for bookkeeping and small files;
// the rows are copied by the compactor with no lock held.

// SegCap returns the capacity, in rows, of a full segment.
func (e *Engine) SegCap() uint64 { return e.segCap }

// Segments describes the current segments for the compaction policy.
func (e *Engine) Segments() ([]compactor.SegmentInfo, error) {
	v, done, err := e.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	out := make([]compactor.SegmentInfo, v.segs.len())
	for i, s := range v.segs.all() {
		out[i] = compactor.SegmentInfo{
			Number: s.ref.seg.Number(), Rows: s.rows, Deleted: s.tomb.count(),
			Capacity: s.ref.seg.Capacity(), Sealed: s.ref.seg.Sealed(),
		}
	}
	return out, nil
}

// Prepare seals the active segment if it is among numbers, snapshots the
// chosen segments, and reserves a block of fresh IDs and the segment
// numbers the copy will need. The reservations live in memory only: if the
// job never commits, none of its IDs was ever visible, so reusing them
// after a restart is harmless.
func (e *Engine) Prepare(numbers []uint64) (*compactor.Job, error) {
	done, err := e.writing(mustWrite)
	if err != nil {
		return nil, err
	}
	defer done()
	want := make(map[uint64]bool, len(numbers))
	for _, n := range numbers {
		want[n] = true
	}
	if e.active != nil && want[e.active.seg.Number()] {
		if err := e.sealActiveLocked(); err != nil {
			return nil, err
		}
	}
	v := e.acquire()
	job := &compactor.Job{Ctx: e.closeCtx, FS: e.fs, Dir: e.dir, Dim: e.dim, SegCap: e.segCap, Gen: e.man.Generation}
	job.Pace = e.newPacer().pace // pace.go
	for _, s := range v.segs.all() {
		if !want[s.ref.seg.Number()] || !s.ref.seg.Sealed() || s.rows == 0 {
			continue
		}
		job.Sources = append(job.Sources, compactor.Source{Seg: s.ref.seg, Rows: s.rows, Runs: s.runs, Tomb: s.tomb.bits, Verify: s.ref.verify})
		job.Live += s.rows - s.tomb.count()
	}
	if len(job.Sources) == 0 {
		v.release()
		return nil, nil
	}
	job.FirstID = e.nextID.Load()
	e.nextID.Add(job.Live)
	for n := uint64(0); n*e.segCap < job.Live; n++ {
		job.Segments = append(job.Segments, e.nextSegment)
		e.nextSegment++
	}
	e.jobs.Add(1)
	job.Release = func() {
		v.release()
		e.jobs.Done()
	}
	return job, nil
}

// sealActiveLocked seals the active segment and records it in the
// manifest; the next Add starts a new one.
func (e *Engine) sealActiveLocked() error {
	seg := e.active.seg
	if seg.Rows() == 0 {
		return nil
	}
	if _, err := seg.Seal(); err != nil {
		return e.fail(err)
	}
	if err := e.flushPendingLocked(); err != nil {
		return err
	}
	_, err := e.apply(&edit{sealActive: true})
	return err
}

// Commit installs a compaction's output. Under writeMu it carries deletes
// that arrived after the job's snapshot over to the new IDs, writes the
// tombstone checkpoint and the ID map, and replaces the manifest; that
// rename is the commit point. The WAL records before the checkpoint are
// then dropped. The retired segments' files are removed when the last
// search using them ends.
func (e *Engine) Commit(job *compactor.Job, out *compactor.Output) (uint64, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.closed.Load() {
		out.Remove()
		return 0, errs.ErrClosed
	}
	if e.failed != nil {
		out.Remove()
		return 0, e.failed
	}
	cur := e.cur.Load()
	added, err := lateTombstones(cur, job, out)
	if err != nil {
		out.Remove()
		return 0, err
	}
	ed := &edit{added: added, nextID: job.FirstID + job.Live, compacted: true, tombs: e.man.Generation + 1}
	for _, s := range job.Sources {
		ed.retired = append(ed.retired, s.Seg.Number())
	}
	// The checkpoint holds the next version's tombstones: the retired
	// segments' go, the outputs' late ones come.
	segs, _, _ := e.nextSegs(ed)
	if err := e.writeCommitFiles(ed.tombs, e.man.Epoch+1, segs, out); err != nil {
		// Nothing names the outputs yet: the compaction is abandoned and
		// the old segments keep serving (ENOSPC here is no reason to stop
		// writing). writeCommitFiles removed its own partial files.
		out.Remove()
		return 0, err
	}
	// The retired segments' files are removed when the last search using
	// them ends; everything before the checkpoint is in the tombstone
	// file now, and apply drops it from the WAL.
	if committed, err := e.apply(ed); !committed {
		return 0, err
	} else if err != nil {
		return e.man.Epoch, err
	}
	return e.man.Epoch, nil
}

// writeCommitFiles writes the ID map of epoch and the tombstone checkpoint
// of segs as generation gen, and fsyncs them and the directory. On error
// it removes both files (no manifest names them, and their names are above
// every one in use), so that a failed compaction leaves nothing behind; a
// file it cannot remove is an orphan for the next Open.
func (e *Engine) writeCommitFiles(gen, epoch uint64, segs []segView, out *compactor.Output) (err error) {
	defer func() {
		if err != nil {
			e.fs.Remove(filepath.Join(e.dir, manifest.TombsFileName(gen)))
			e.fs.Remove(filepath.Join(e.dir, manifest.IDMapFileName(epoch)))
		}
	}()
	if err := e.writeTombsLocked(gen, segs); err != nil {
		return err
	}
	if err := manifest.WriteIDMap(e.fs, e.dir, epoch, out.Runs); err != nil {
		return err
	}
	return e.fs.SyncDir(e.dir)
}

// lateTombstones builds the versions' views of the output segments, with
// the rows deleted since the job's snapshot already tombstoned at their new
// IDs.
func lateTombstones(cur *version, job *compactor.Job, out *compactor.Output) ([]segView, error) {
	views := make([]segView, len(out.Segments))
	starts := make([]uint64, len(out.Segments)) // first new ID of each
	next := job.FirstID
	for i, seg := range out.Segments {
		starts[i] = next
		next += seg.Rows()
		views[i] = newView(seg)
	}
	for _, src := range job.Sources {
		var now bitset.Set
		for _, s := range cur.segs.all() {
			if s.ref.seg == src.Seg {
				now = s.tomb.bits
			}
		}
		if now == nil {
			return nil, errors.New("compaction source vanished before its commit")
		}
		for w := range src.Tomb {
			for diff := now[w] &^ src.Tomb[w]; diff != 0; diff &= diff - 1 {
				row := uint64(w)*64 + uint64(bits.TrailingZeros64(diff))
				old, ok := segment.RowID(src.Runs, row)
				if !ok {
					continue
				}
				newID, ok := idmap.Lookup(out.Runs, old)
				if !ok {
					return nil, fmt.Errorf("late delete of ID %d has no new ID", old)
				}
				i := sort.Search(len(starts), func(i int) bool { return starts[i] > newID }) - 1
				views[i].tomb.add(newID - starts[i])
			}
		}
	}
	return views, nil
}

// IDMapsSince reads from disk the maps of the compactions after epoch,
// oldest first.
func (e *Engine) IDMapsSince(epoch uint64) ([]idmap.Map, error) {
	done, err := e.writing(lockOnly) // keeps ReleaseIDMaps from removing a file being read
	if err != nil {
		return nil, err
	}
	defer done()
	var out []idmap.Map
	for _, ep := range e.man.IDMaps {
		if ep <= epoch {
			continue
		}
		runs, err := manifest.ReadIDMap(e.fs, e.dir, ep)
		if err != nil {
			return nil, err
		}
		out = append(out, idmap.Map{Epoch: ep, Runs: runs})
	}
	return out, nil
}

// ReleaseIDMaps drops the maps of epochs up to throughEpoch: first from the
// manifest, then their files.
func (e *Engine) ReleaseIDMaps(throughEpoch uint64) error {
	done, err := e.writing(mustWrite)
	if err != nil {
		return err
	}
	defer done()
	var drop []uint64
	for _, ep := range e.man.IDMaps {
		if ep <= throughEpoch {
			drop = append(drop, ep)
		}
	}
	_, err = e.apply(&edit{releaseMaps: drop})
	return err
}
