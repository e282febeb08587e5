// Package recovery is everything Open does before a store is usable: it
// recognises (or creates) a store directory, takes the lock, reads the
// manifest, removes files no manifest references, opens the segments
// (cutting a torn tail off the active one), and replays the tombstone WAL
// into per-segment bitsets.
//
// # Invariants
//
//   - A directory that holds anything but a memvec store is refused with
//     errs.ErrNotStore before a single byte in it is written. That error
//     never also matches errs.ErrCorrupt: an application that restores a
//     backup on ErrCorrupt must never do so over a folder that was never a
//     store.
//   - Only files whose names memvec creates are ever removed; unknown files
//     are left alone.
//   - The cost is proportional to the manifest, the WAL and the active
//     segment (the only one with a tail), never to the sealed data: sealed
//     segments are opened by reading their header page only, many at a
//     time (a cold open waits on one random read per file, not on the
//     CPU), and a failure is reported as a sequential open would report
//     it: the first damaged segment in manifest order.
//   - Every file operation on the store directory goes through
//     Config.FS; the WAL directory is package wal's (see package vfs for
//     what that leaves outside the seam).
package recovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/idindex"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
	"github.com/memvec/memvec/wal"
)

// Names of the store's fixed files (filenames.Lock, filenames.WAL). They
// are variables only because they are derived from package filenames;
// they are never assigned.
var (
	LockFile = filenames.Make(filenames.Lock, 0)
	WALDir   = filenames.Make(filenames.WAL, 0)
)

// Config is what recovery needs from the caller's options, which the caller
// has validated (memvec.Options.validate). The package is usable on its own,
// so Recover keeps one defensive check: a negative Dimension, which would
// otherwise reach a new manifest, is ErrInvalidArgument.
type Config struct {
	Dimension int    // 0: use the stored one; required to create a store
	NoSync    bool   // passed to the WAL
	FS        vfs.FS // the store directory's file system; nil: vfs.OS
	// ReadOnly recovers without writing anything: no store is created, the
	// locks are shared, orphans are found (a rollback is still refused)
	// but not removed, a torn tail is cut in memory only, and the WAL is
	// read as it is.
	ReadOnly bool
}

// Segment is one recovered segment: its open file, its manifest entry and
// its tombstones.
type Segment struct {
	*segment.Segment
	Entry manifest.Segment
	Tomb  bitset.Set
}

// State is a recovered store, ready for the engine. Segments[i] is the
// segment of Manifest.Segments[i]; Index finds every ID in them.
type State struct {
	Dir      string
	FS       vfs.FS // the file system everything above was opened through
	Lock     vfs.Lock
	Manifest *manifest.Manifest
	Segments []Segment
	Index    idindex.Index
	WAL      *wal.Log
	NextID   uint64 // the first ID never handed out
	Created  bool   // the store was created by this call
	// StaleTombs says that the tombstone checkpoint named rows of the
	// active segment that recovery cut as a torn tail (see tombsPastRows):
	// the engine must write a fresh checkpoint before any row is appended
	// at those positions.
	StaleTombs bool
}

// Close releases everything a State holds (used when a later step of Open
// fails).
func (s *State) Close() error {
	var err error
	for _, seg := range s.Segments {
		err = errors.Join(err, seg.Close())
	}
	if s.WAL != nil {
		err = errors.Join(err, s.WAL.Close())
	}
	if s.Lock != nil {
		err = errors.Join(err, s.Lock.Unlock())
	}
	return err
}

// Recover opens or creates the store in dir. Its errors do not repeat dir,
// which the caller names once ("memvec: open DIR: ..."); they name the
// files inside it that they are about.
func Recover(dir string, cfg Config) (st *State, err error) {
	if cfg.Dimension < 0 {
		return nil, fmt.Errorf("Dimension %d: %w (%w)", cfg.Dimension, errs.ErrInvalidArgument, errs.ErrDimension)
	}
	fsys := vfs.Or(cfg.FS)
	exists, err := inspect(fsys, dir)
	if err != nil {
		return nil, err
	}
	if !exists && cfg.ReadOnly {
		return nil, fmt.Errorf("no store here, and a read-only open creates none: %w", errs.ErrNotStore)
	}
	if !exists && cfg.Dimension == 0 {
		return nil, fmt.Errorf("no store here, and creating one needs Options.Dimension: %w (%w)", errs.ErrInvalidArgument, errs.ErrDimension)
	}
	if !exists {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	lock, err := lockStore(fsys, dir, cfg.ReadOnly)
	if err != nil {
		return nil, err
	}
	st = &State{Dir: dir, FS: fsys, Lock: lock}
	defer func() {
		if err != nil {
			st.Close()
			st = nil
		}
	}()
	if st.Manifest, err = loadOrCreate(dir, cfg, st); err != nil {
		return st, err
	}
	// Orphans are found before anything else is opened, so that a
	// rolled-back manifest is refused before any step can act on it, and
	// removed only once every check has passed.
	orphans, err := findOrphans(fsys, dir, st.Manifest)
	if err != nil {
		return st, err
	}
	if err = openSegments(st, cfg.ReadOnly); err != nil {
		return st, err
	}
	walOpts := wal.Options{NoSync: cfg.NoSync, Durable: st.Manifest.WALDurable, ReadOnly: cfg.ReadOnly}
	if st.WAL, err = wal.Open(filepath.Join(dir, WALDir), walOpts); err != nil {
		return st, err
	}
	if err = replay(st); err != nil {
		return st, err
	}
	if cfg.ReadOnly {
		return st, nil
	}
	return st, removeOrphans(fsys, dir, orphans)
}

// lockStore takes the store's locks: an exclusive flock on the directory
// itself for a writer, shared for a reader. A lock on the directory cannot
// be defeated by deleting a file (users delete "stale" lock files after a
// kill -9; flock locks die with their process, so there never is one).
// The LOCK file is locked too, because builds before issue 10 lock only
// that: a writer creates it, a reader locks it shared when it exists.
func lockStore(fsys vfs.FS, dir string, readOnly bool) (vfs.Lock, error) {
	lockDir, lockFile := fsys.Lock, fsys.Lock
	if readOnly {
		lockDir, lockFile = fsys.RLock, fsys.RLock
	}
	locked := func(err error) error {
		if errors.Is(err, vfs.ErrWouldBlock) {
			return errs.ErrLocked
		}
		return err
	}
	dl, err := lockDir(dir)
	if err != nil {
		return nil, locked(err)
	}
	fl, err := lockFile(filepath.Join(dir, LockFile))
	if readOnly && errors.Is(err, os.ErrNotExist) {
		return dl, nil
	}
	if err != nil {
		dl.Unlock()
		return nil, locked(err)
	}
	return locks{dl, fl}, nil
}

// locks releases several locks as one.
type locks []vfs.Lock

func (ls locks) Unlock() error {
	var err error
	for i := len(ls) - 1; i >= 0; i-- {
		err = errors.Join(err, ls[i].Unlock())
	}
	return err
}

// inspect reports whether dir holds a store, and refuses a directory that
// holds something else. A directory with only a lock file or a stale
// manifest temp file is what a crash during creation leaves: it counts as
// empty.
func inspect(fsys vfs.FS, dir string) (bool, error) {
	entries, err := fsys.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read directory: %w", err)
	}
	var others []string // everything but the manifest, the lock and the manifest's temp file
	hasManifest, hasData := false, false
	for _, e := range entries {
		name := e.Name()
		kind, _, ok := filenames.Parse(name)
		switch {
		case ok && kind == filenames.Manifest:
			hasManifest = true
		case ok && (kind == filenames.Lock || kind == filenames.ManifestTemp):
		default:
			// Any other store file (a segment, the WAL directory...) says
			// that a store is here.
			others = append(others, name)
			hasData = hasData || ok
		}
	}
	if hasManifest {
		// A MANIFEST that is not memvec's, beside nothing of a store's,
		// belongs to something else (a Perl distribution has one): it is
		// refused before anything is created. With segments or a WAL
		// beside it, it is a damaged store, and Load says so.
		b, err := fsys.ReadFile(filepath.Join(dir, manifest.FileName))
		if err != nil {
			return false, fmt.Errorf("read %s: %w", manifest.FileName, err)
		}
		if manifest.LooksLikeManifest(b) || hasData {
			return true, nil
		}
		return false, fmt.Errorf("%s is not a memvec manifest, and nothing else of a store is here: %w",
			manifest.FileName, errs.ErrNotStore)
	}
	if len(others) > 0 {
		return false, fmt.Errorf("found %q and no %s: %w", others[0], manifest.FileName, errs.ErrNotStore)
	}
	return false, nil
}

func loadOrCreate(dir string, cfg Config, st *State) (*manifest.Manifest, error) {
	m, err := manifest.Load(st.FS, dir)
	if manifest.IsNotExist(err) {
		m = &manifest.Manifest{Generation: 1, Dimension: cfg.Dimension}
		if err := manifest.Store(st.FS, dir, m); err != nil {
			return nil, err
		}
		if err := st.FS.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
		st.Created = true
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if cfg.Dimension != 0 && cfg.Dimension != m.Dimension {
		return nil, fmt.Errorf("store has dimension %d, Options.Dimension is %d: %w", m.Dimension, cfg.Dimension, errs.ErrDimension)
	}
	return m, nil
}

// replay loads the tombstone checkpoint file, then applies every WAL
// record at or past the manifest's checkpoint. IDs of segments that no
// longer exist (retired by a compaction) are skipped: their rows are gone.
func replay(st *State) error {
	if gen := st.Manifest.Tombs; gen != 0 {
		tombs, err := manifest.ReadTombs(st.FS, st.Dir, gen)
		if err != nil {
			return missingIsCorrupt(err)
		}
		for _, t := range tombs {
			for i, ms := range st.Manifest.Segments {
				if ms.Number != t.Number {
					continue
				}
				if len(t.Bits) > len(st.Segments[i].Tomb) {
					return fmt.Errorf("%s: segment %d: %d tombstone words for capacity %d: %w",
						manifest.TombsFileName(gen), t.Number, len(t.Bits), ms.Capacity, errs.ErrCorrupt)
				}
				copy(st.Segments[i].Tomb, t.Bits)
				if err := tombsPastRows(st, i, gen); err != nil {
					return err
				}
			}
		}
	}
	runs := make([][]segment.Run, len(st.Segments))
	rows := make([]uint64, len(st.Segments))
	for i, s := range st.Segments {
		runs[i], rows[i] = s.Runs(), s.Rows()
	}
	idx := idindex.Build(runs, rows)
	st.Index = idx
	st.NextID = max(st.Manifest.NextID, idx.MaxID())
	if last := st.WAL.LastSeq(); last < st.Manifest.WALDurable {
		return fmt.Errorf("%s: tombstone log ends at record %d, but record %d was recorded durable: %w",
			filepath.Join(st.Dir, WALDir), last, st.Manifest.WALDurable, errs.ErrCorrupt)
	}
	// The log must hold every record from the checkpoint on: tidwall
	// starts a log whose first file is gone at the next file's first
	// record, which would silently undo the deletes of the lost one.
	if first, ckpt := st.WAL.FirstSeq(), max(st.Manifest.WALCheckpoint, 1); st.WAL.LastSeq() >= ckpt && first > ckpt {
		return fmt.Errorf("%s: tombstone log starts at record %d, but the manifest needs every record from %d on (a log file is missing): %w",
			filepath.Join(st.Dir, WALDir), first, ckpt, errs.ErrCorrupt)
	}
	if err := st.WAL.Replay(func(r wal.Record) error {
		if r.Gen > st.Manifest.Generation {
			return fmt.Errorf("%s: tombstone record %d was written under manifest generation %d, newer than the manifest's %d: the manifest is older than the store (restored from a copy?): %w",
				filepath.Join(st.Dir, WALDir), r.Seq, r.Gen, st.Manifest.Generation, errs.ErrCorrupt)
		}
		if r.Seq < st.Manifest.WALCheckpoint {
			return nil
		}
		for _, id := range r.IDs {
			if seg, row, ok := idx.Find(id); ok {
				st.Segments[seg].Tomb.Add(row)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	// The rows a Put superseded are named by its batch, in the same
	// checksummed record as its rows (one fsync), and reach the WAL only
	// when their segment is sealed: the active segment's batches are
	// applied again here. Deleting twice changes nothing, and an ID a
	// compaction has retired since is covered by its checkpoint.
	for _, s := range st.Segments {
		if s.Sealed() {
			continue
		}
		for _, id := range s.Supersedes() {
			if seg, row, ok := idx.Find(id); ok {
				st.Segments[seg].Tomb.Add(row)
			}
		}
	}
	return nil
}

// tombsPastRows enforces that no tombstone lies at or past its segment's
// rows. In a sealed segment such a bit is corruption. In the active segment
// it is what builds before issue 10 could leave: a compaction's checkpoint
// recorded the tombstones of NoSync rows that were not yet durable, and a
// power cut then took the rows but not the checkpoint. The bits are
// dropped (the rows they named are gone) and the checkpoint marked stale,
// so that rows appended later at those positions are not born deleted.
func tombsPastRows(st *State, i int, gen uint64) error {
	seg, tomb := st.Segments[i], st.Segments[i].Tomb
	row, ok := tomb.FirstFrom(seg.Rows())
	if !ok {
		return nil
	}
	if st.Manifest.Segments[i].Sealed {
		return fmt.Errorf("%s: segment %d: row %d is tombstoned but the segment holds %d rows: %w",
			manifest.TombsFileName(gen), seg.Number(), row, seg.Rows(), errs.ErrCorrupt)
	}
	tomb.ClearFrom(seg.Rows())
	st.StaleTombs = true
	return nil
}

// missingIsCorrupt marks the absence of a file the manifest names as
// corruption: the manifest is only ever written after the files it names.
func missingIsCorrupt(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (named by the manifest): %w", err, errs.ErrCorrupt)
	}
	return err
}
