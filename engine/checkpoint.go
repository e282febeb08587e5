package engine

import (
	"path/filepath"
	"sort"

	"github.com/memvec/memvec/manifest"
)

// A tombstone checkpoint folds the tombstone log into one file
// (manifest.TombsFileName), so that the log, Open's replay and the heap
// it builds follow recent deletes, not history. A compaction writes one
// with every commit; tombCheckpointLocked writes one on its own when the
// log has grown past checkpointWALBytes (or twice the last checkpoint's
// size, whichever is larger, so the cost per delete stays bounded), so
// that a store whose segments are never compacted (auto-compaction off,
// as in the CLI) does not replay every delete it ever took.
const checkpointWALBytes = 1 << 20

// writeTombsLocked writes, fsyncs and names in the directory the
// tombstone checkpoint of segs as generation gen.
//
// A checkpoint must only name durable rows: recovery cuts the active
// segment back to its last durable batch, and a tombstone of a row it cut
// would fall on whatever row is later appended at that position (issue
// 10, item 1). So with NoSync the active segment is synced first (without
// it every Add synced its rows already).
func (e *Engine) writeTombsLocked(gen uint64, segs []segView) error {
	if e.noSync && e.active != nil {
		if err := e.active.seg.Sync(); err != nil {
			return e.fail(err)
		}
	}
	var tombs []manifest.SegmentTombs
	for _, s := range segs {
		if s.tomb.count() > 0 {
			tombs = append(tombs, manifest.SegmentTombs{Number: s.ref.seg.Number(), Bits: s.tomb.bits})
		}
	}
	sort.Slice(tombs, func(i, j int) bool { return tombs[i].Number < tombs[j].Number })
	if err := manifest.WriteTombs(e.fs, e.dir, gen, tombs); err != nil {
		return err
	}
	e.tombsBytes = 0 // about the file's size: its bitsets
	for _, t := range tombs {
		e.tombsBytes += 8 * int64(len(t.Bits))
	}
	return nil
}

// maybeCheckpointLocked writes a tombstone checkpoint when the log has
// grown enough. A failure is not the caller's: the deletes it follows are
// durable in the log, which keeps them until a later checkpoint succeeds.
func (e *Engine) maybeCheckpointLocked() {
	if e.failed != nil || e.wal.Size() < max(checkpointWALBytes, 2*e.tombsBytes) {
		return
	}
	e.tombCheckpointLocked()
}

// tombCheckpointLocked writes a tombstone checkpoint of the current
// version and commits it (apply records it in the manifest and drops the
// log records it covers). Before the manifest names it the new file is an
// orphan, and the old checkpoint plus the whole log still describe the
// store.
func (e *Engine) tombCheckpointLocked() error {
	gen := e.man.Generation + 1 // the generation of the manifest naming it
	if err := e.writeTombsLocked(gen, e.cloneSegs()); err != nil {
		return e.removeTombs(gen, err)
	}
	if err := e.fs.SyncDir(e.dir); err != nil {
		return e.removeTombs(gen, err)
	}
	_, err := e.apply(&edit{tombs: gen})
	return err
}

// removeTombs removes the tombstone checkpoint of generation gen, which
// no manifest names, after err.
func (e *Engine) removeTombs(gen uint64, err error) error {
	e.fs.Remove(filepath.Join(e.dir, manifest.TombsFileName(gen)))
	return err
}
