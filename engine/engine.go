package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/recovery"
	"github.com/memvec/memvec/segment"
	"github.com/memvec/memvec/wal"
)

// DefaultSegmentBytes is the default of memvec.Options.SegmentBytes, which
// resolves it; the engine itself applies no default.
const DefaultSegmentBytes = 64 << 20

// Config holds the engine's settings, resolved and validated by the caller
// (memvec.Options.validate and withDefaults): the engine takes them as they
// are. The one check it keeps is SegmentBytes > 0, because the package is
// usable on its own and a zero there would silently give one-row segments.
type Config struct {
	Dimension    int    // 0: the stored one; else in [1, memvec.MaxDimension]
	NoSync       bool   // durability at Sync/Close only
	SegmentBytes int64  // target size of a segment file; must be positive
	FS           vfs.FS // every file operation on the store directory; nil: vfs.OS
	ReadOnly     bool   // write nothing; writes fail with errs.ErrReadOnly
	LockCodes    bool   // mlock the codes of sealed segments (pagecache.go)
}

// Engine is an open store.
type Engine struct {
	dir    string
	fs     vfs.FS
	dim    int
	noSync bool
	segCap uint64 // rows per new segment
	// readOnly: opened with Config.ReadOnly; every write returns
	// errs.ErrReadOnly and nothing is ever written.
	readOnly bool
	// lockCodes: Config.LockCodes (see warmCodes).
	lockCodes bool

	// opMu is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight (searches are cancelled first)
	// and later ones see closed.
	opMu   sync.RWMutex
	closed atomic.Bool
	// closeCtx is cancelled when Close begins, aborting compaction copies;
	// jobs counts compaction jobs holding a snapshot.
	closeCtx    context.Context
	closeCancel context.CancelFunc
	jobs        sync.WaitGroup
	// notify, when set, is called (and must not block) after deletes and
	// seals: the events that can give a compactor work.
	notify atomic.Pointer[func()]

	// writeMu serialises writers; everything below it is theirs.
	writeMu sync.Mutex
	man     *manifest.Manifest
	active  *segRef // nil when a new batch needs a new segment
	// pending are the IDs superseded by the active segment's batches
	// that the WAL does not hold yet: recovery re-applies them from the
	// batches while the segment is active, and flushPendingLocked writes
	// them to the WAL before a manifest seals it. A tombstone checkpoint
	// covers them too.
	pending []uint64
	// nextSegment is the number of the next segment file to create.
	// Numbers are reserved in memory when a file is created or a
	// compaction prepared (see appendNew); every manifest covers them.
	nextSegment uint64
	// nextID is the first ID never handed out. Only writers (under
	// writeMu) change it; it is atomic so that Stats reads it without
	// waiting for a writer's fsync.
	nextID atomic.Uint64
	wal    *wal.Log
	lock   interface{ Unlock() error }
	failed error // sticky: set by a failed write or sync
	// tombsBytes is about the size of the last tombstone checkpoint
	// written; see maybeCheckpointLocked.
	tombsBytes int64

	cur atomic.Pointer[version]

	// kf is the filter of the sealed segments' keys (keyfilter.go), nil
	// until a writer needs it; writers replace it under writeMu, readers
	// load it. kfSet is the segment set it was last brought up to date
	// with (writeMu).
	kf    atomic.Pointer[keyFilter]
	kfSet *segSet

	// pf counts the prefilter's work since Open, for Stats.
	pf prefilterStats

	// shared runs concurrent Searches as members of shared scans (shared.go).
	shared sharedScans
	// searching counts the Searches in progress: compactions slow down
	// while it is not zero (pace.go).
	searching atomic.Int64
	// paceWait, when a test sets it, replaces the compactions' pacing
	// wait (pace.go).
	paceWait func(ctx context.Context, d time.Duration) error

	// warm spares SearchIn its page-cache sample while the store was
	// just found cached (pagecache.go).
	warm warmHint
}

// Open recovers the store in dir (see package recovery) and returns it.
func Open(dir string, cfg Config) (*Engine, error) {
	if cfg.SegmentBytes <= 0 {
		return nil, fmt.Errorf("SegmentBytes %d: %w", cfg.SegmentBytes, errs.ErrInvalidArgument)
	}
	st, err := recovery.Recover(dir, recovery.Config{Dimension: cfg.Dimension, NoSync: cfg.NoSync, FS: cfg.FS, ReadOnly: cfg.ReadOnly})
	if err != nil {
		return nil, err
	}
	e := &Engine{
		dir:      dir,
		fs:       st.FS,
		dim:      st.Manifest.Dimension,
		noSync:   cfg.NoSync,
		readOnly: cfg.ReadOnly,
		segCap:   segment.Capacity(st.Manifest.Dimension, cfg.SegmentBytes),
		man:      st.Manifest,
		wal:      st.WAL,
		lock:     st.Lock,
	}
	e.lockCodes = cfg.LockCodes
	e.warm.origin = time.Now()
	e.nextID.Store(st.NextID)
	e.nextSegment = st.Manifest.NextSegment
	e.closeCtx, e.closeCancel = context.WithCancel(context.Background())
	segs := make([]segView, len(st.Segments))
	for i, s := range st.Segments {
		ref := &segRef{seg: s.Segment}
		segs[i] = segView{ref: ref, rows: s.Rows(), runs: s.Runs(), tomb: tombsOf(s.Tomb)}
		if !s.Sealed() {
			e.active = ref
			for _, id := range s.Supersedes() {
				if _, _, ok := st.Index.Find(id); ok {
					e.pending = append(e.pending, id)
				}
			}
		}
	}
	e.swap(newVersionIndexed(segs, e.man.Epoch, e.active, st.Index)) // recovery built the index
	if !e.readOnly {
		e.wal.SetGen(e.man.Generation)
	}
	if st.StaleTombs && !e.readOnly {
		e.writeMu.Lock()
		err := e.tombCheckpointLocked()
		e.writeMu.Unlock()
		if err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// Dimension returns the store's vector dimension.
func (e *Engine) Dimension() int { return e.dim }

// begin enters an operation: it fails with ErrClosed once Close has begun.
// The caller must call e.opMu.RUnlock when it is done.
func (e *Engine) begin() error {
	// Checked before the lock too: once Close waits for opMu, RLock
	// would block until Close is done.
	if e.closed.Load() {
		return errs.ErrClosed
	}
	e.opMu.RLock()
	if e.closed.Load() {
		e.opMu.RUnlock()
		return errs.ErrClosed
	}
	return nil
}

// Sync makes every acknowledged write durable (a no-op without NoSync).
func (e *Engine) Sync() error {
	done, err := e.writing(lockOnly)
	if err != nil {
		return err
	}
	defer done()
	return e.syncLocked()
}

func (e *Engine) syncLocked() error {
	if e.readOnly {
		return nil
	}
	if e.failed != nil {
		return e.failed
	}
	if e.active != nil {
		if err := e.active.seg.Sync(); err != nil {
			return e.fail(err)
		}
	}
	if err := e.wal.Sync(); err != nil {
		return e.fail(err)
	}
	return nil
}

// writable returns the error of a write to a read-only or failed engine.
// Callers hold writeMu. The error does not name the operation: package
// memvec names it once.
func (e *Engine) writable() error {
	if e.readOnly {
		return errs.ErrReadOnly
	}
	return e.failed
}

// fail records a write-path error that leaves the disk state unknown; every
// later write returns it.
func (e *Engine) fail(err error) error {
	if e.failed == nil {
		e.failed = fmt.Errorf("store is read-only after a failed write: %w", err)
	}
	return e.failed
}

// SetNotify registers fn to be called after deletes and seals (the events
// that can give a compactor work). fn must not block.
func (e *Engine) SetNotify(fn func()) { e.notify.Store(&fn) }

func (e *Engine) signal() {
	if fn := e.notify.Load(); fn != nil {
		(*fn)()
	}
}

// Close cancels the searches in flight (they return ErrClosed at their
// next check), waits for the other operations in flight, makes everything
// durable, and releases the files and the lock. Later calls return
// ErrClosed. A compaction in progress is abandoned: its copy is cancelled
// and its commit refused.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return errs.ErrClosed
	}
	e.closeCancel()
	// Once opMu is held no Prepare can start a job; then the running jobs
	// (which take no opMu) are waited for.
	e.opMu.Lock()
	defer e.opMu.Unlock()
	// Every search has returned; the shared scans' workers stop at their
	// next chunk.
	e.shared.workers.Wait()
	e.jobs.Wait()
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	err := e.syncLocked()
	if err == nil && !e.readOnly {
		err = e.checkpointLocked()
	}
	err = errors.Join(err, e.wal.Close())
	if v := e.cur.Swap(nil); v != nil {
		v.release()
	}
	return errors.Join(err, e.lock.Unlock())
}

// checkpointLocked records in the manifest how much of the active segment
// and of the WAL is durable, after a sync. Recovery treats anything found
// short of it as corruption rather than as a torn tail, so a flipped byte
// in the last batch of a cleanly closed store is reported, not dropped.
// Every ID handed out is durable now: a NoSync reservation (see
// reserveIDs) is given back, so a clean close leaves no gap.
func (e *Engine) checkpointLocked() error {
	_, err := e.apply(&edit{activeRows: true, walSynced: true, trimNextID: true})
	return err
}

// Dir returns the store's directory.
func (e *Engine) Dir() string { return e.dir }

// storeManifest makes man, built by nextManifest, the manifest. A failed
// replacement leaves the disk in an unknown state (the rename may or may
// not have happened), so it makes the engine read-only.
func (e *Engine) storeManifest(man *manifest.Manifest) error {
	if err := manifest.Store(e.fs, e.dir, man); err != nil {
		return e.fail(err)
	}
	e.man = man
	// Records written from now on say which manifest they follow, so a
	// manifest rolled back to an older generation is caught (recovery).
	e.wal.SetGen(man.Generation)
	return nil
}
