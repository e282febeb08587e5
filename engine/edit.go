package engine

import (
	"bytes"
	"path/filepath"
	"slices"

	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// edit is one change of the store's state: the segments a write adds,
// seals or retires, and the counters and side files it moves. Every write
// that replaces the manifest describes its change as an edit, and apply
// alone turns the current manifest and version into the next ones, so a
// new kind of change is a new field here and one line in each of
// nextManifest and nextSegs (Pebble's VersionEdit and
// BulkVersionEdit.Apply are the model).
//
// The files an edit names (new segments, a tombstone checkpoint, an ID
// map) are written and fsynced by the caller before apply: the manifest
// replacement in apply is the commit point, and until then they are
// orphans that recovery removes.
type edit struct {
	// added are new segments in ID order, each with the tombstones it
	// starts with (a compaction's late deletes). Each is recorded as it
	// is: sealed with its seal, or active, and then it becomes the
	// store's active segment.
	added []segView
	// sealActive: the active segment has just been sealed
	// (segment.Seal); the store has no active segment after the edit
	// unless one is added.
	sealActive bool
	// retired segments, by number, leave the store; their files are
	// removed when the last version listing them is released.
	retired []uint64
	// activeRows records the active segment's rows as durable: a clean
	// close, after a sync.
	activeRows bool
	// nextID is an ID bound the manifest's NextID must cover, as it
	// always covers every ID handed out. With trimNextID, NextID is the
	// first ID never handed out, giving a NoSync reservation back (a
	// clean close).
	nextID     uint64
	trimNextID bool
	// walSynced: the WAL has been synced through its last record. Without
	// NoSync every record is, and every manifest records it.
	walSynced bool
	// tombs is the generation of a tombstone checkpoint the caller has
	// written (0: none). It replaces the old one, and the WAL records it
	// covers are dropped after the commit, as is the old file.
	tombs uint64
	// compacted: a compaction commits with this edit as the next epoch,
	// whose ID map file the caller has written.
	compacted bool
	// releaseMaps are epochs whose ID maps are dropped, their files after
	// the commit.
	releaseMaps []uint64
	// deleted are IDs whose rows the next version shows deleted: the rows
	// a Put into new segments supersedes (recorded in its batch, not in
	// the manifest).
	deleted []uint64
}

// changesSegments reports whether ed changes which segments the store
// holds or which of them is active, the changes that take a new version.
func (ed *edit) changesSegments() bool {
	return len(ed.added) > 0 || ed.sealActive || len(ed.retired) > 0
}

// apply commits ed, under writeMu: it replaces the manifest with the next
// one (the commit point), marks the added segments named, publishes the
// next version, and then drops what the edit made obsolete. It returns
// whether the edit committed: an edit that changes nothing writes nothing,
// and a failed manifest replacement leaves the engine failed (see
// storeManifest). An error after the commit (dropping WAL records) is
// returned with committed true.
func (e *Engine) apply(ed *edit) (committed bool, err error) {
	next := e.nextManifest(ed)
	if !ed.changesSegments() && sameManifest(e.man, next) {
		return false, nil
	}
	old := e.man
	if err := e.storeManifest(next); err != nil {
		// The new manifest may have been renamed into place, naming
		// the new segments, so they are closed but kept on disk: the
		// next Open sorts it out.
		for _, s := range ed.added {
			s.ref.seg.Close()
		}
		return false, err
	}
	for _, s := range ed.added {
		// Evidence that tells recovery this file was named by a
		// committed manifest (see package recovery). A failure loses
		// only the evidence, so it is ignored.
		s.ref.seg.MarkNamed(next.Generation)
	}
	if ed.changesSegments() {
		segs, active, retired := e.nextSegs(ed)
		for _, r := range retired {
			r.retire.Store(true)
		}
		e.active = active
		e.publish(segs)
	}
	if ed.tombs != 0 {
		// The checkpoint holds every tombstone of the version, the rows
		// the active segment's batches supersede included.
		e.pending = nil
		if err := e.wal.TruncateFront(next.WALCheckpoint); err != nil {
			return true, e.fail(err)
		}
		if old.Tombs != 0 {
			e.fs.Remove(filepath.Join(e.dir, manifest.TombsFileName(old.Tombs)))
		}
	}
	for _, ep := range ed.releaseMaps {
		e.fs.Remove(filepath.Join(e.dir, manifest.IDMapFileName(ep)))
	}
	return true, nil
}

// nextManifest returns the manifest ed makes of the current one.
func (e *Engine) nextManifest(ed *edit) *manifest.Manifest {
	m := e.man.Clone()
	m.Generation = e.man.Generation + 1
	segs := m.Segments[:0] // filtered in place
	for _, s := range m.Segments {
		if slices.Contains(ed.retired, s.Number) {
			continue
		}
		if e.active != nil && s.Number == e.active.seg.Number() {
			switch {
			case ed.sealActive:
				s = entryOf(e.active.seg)
			case ed.activeRows:
				s.Rows = e.active.seg.Rows()
			}
		}
		segs = append(segs, s)
	}
	for _, s := range ed.added {
		segs = append(segs, entryOf(s.ref.seg))
	}
	m.Segments = segs
	// Every manifest records the ID counter: rows appended to the active
	// segment take IDs without a manifest write, and a manifest that
	// seals that segment must cover them (recovery checks that every run
	// lies below NextID).
	if ed.trimNextID {
		m.NextID = 0
	}
	m.NextID = max(m.NextID, ed.nextID, e.nextID.Load())
	m.NextSegment = max(m.NextSegment, e.nextSegment)
	if ed.walSynced || !e.noSync {
		m.WALDurable = e.wal.LastSeq()
	}
	if ed.tombs != 0 {
		m.Tombs = ed.tombs
		m.WALCheckpoint = e.wal.LastSeq() + 1
	}
	if ed.compacted {
		m.Epoch++
		m.IDMaps = append(m.IDMaps, m.Epoch)
	}
	m.IDMaps = slices.DeleteFunc(m.IDMaps, func(ep uint64) bool { return slices.Contains(ed.releaseMaps, ep) })
	return m
}

// nextSegs returns the segments of the version ed makes of the current
// one, its active segment, and the segments it retires.
func (e *Engine) nextSegs(ed *edit) (segs []segView, active *segRef, retired []*segRef) {
	active = e.active
	if ed.sealActive {
		active = nil
	}
	for _, s := range e.cur.Load().segs.all() {
		if slices.Contains(ed.retired, s.ref.seg.Number()) {
			retired = append(retired, s.ref)
			if s.ref == active {
				active = nil
			}
			continue
		}
		segs = append(segs, s)
	}
	for _, s := range ed.added {
		segs = append(segs, s)
		if !s.ref.seg.Sealed() {
			active = s.ref
		}
	}
	if len(ed.deleted) > 0 {
		deleteRows(segs, e.cur.Load(), ed.deleted)
	}
	return segs, active, retired
}

// deleteRows deletes in segs (the next version's views) the rows that ids
// name in cur, the current version, whose positions may differ: segments
// are matched by number. A view touched gets its own tombstones.
func deleteRows(segs []segView, cur *version, ids []uint64) {
	pos := make(map[uint64]int, len(segs))
	for i, s := range segs {
		pos[s.ref.seg.Number()] = i
	}
	cloned := make(map[int]bool)
	for _, id := range ids {
		si, row, ok := cur.index.Find(id)
		if !ok {
			continue
		}
		i, ok := pos[cur.segs.at(si).ref.seg.Number()]
		if !ok || segs[i].tomb.has(row) {
			continue
		}
		if !cloned[i] {
			segs[i].tomb = segs[i].tomb.clone()
			cloned[i] = true
		}
		segs[i].tomb.add(row)
	}
}

// entryOf is the manifest's entry for seg: its seal's record when sealed,
// and for the active segment the rows it holds now (durable: a new
// segment's rows are synced before a manifest names it).
func entryOf(seg *segment.Segment) manifest.Segment {
	s := manifest.Segment{Number: seg.Number(), Capacity: seg.Capacity(), Rows: seg.Rows(), Salt: seg.Salt()}
	if seal := seg.SealInfo(); seal != nil {
		s.Sealed, s.Rows, s.Checksum, s.Runs = true, seal.Rows, seal.Checksum, seal.Runs
	}
	return s
}

// sameManifest reports whether next records what cur does, but for its
// generation.
func sameManifest(cur, next *manifest.Manifest) bool {
	n := *next
	n.Generation = cur.Generation
	return bytes.Equal(manifest.Encode(cur), manifest.Encode(&n))
}

// newView is the view of a segment this process has just written: trusted,
// with no tombstones.
func newView(seg *segment.Segment) segView {
	return segView{
		ref:  &segRef{seg: seg, trusted: true},
		rows: seg.Rows(),
		runs: seg.Runs(),
		tomb: newTombs(seg.Capacity()),
	}
}
