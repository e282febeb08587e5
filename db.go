// Package memvec is a crash-safe vector store that Go programs embed.
//
// Vectors live in append-only, memory-mapped segment files tracked by a
// manifest; deletes go to a write-ahead tombstone log replayed on open.
// Search is exact cosine top-k over the whole store (Search) or over a given
// set of IDs (SearchIn). Every acknowledged write survives kill -9 and, unless
// Options.NoSync, power loss; a torn or flipped byte is detected, never
// served as data.
//
// A DB is safe for use by many goroutines. Searches never wait for writers
// and see a consistent snapshot of the store.
package memvec

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/engine"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/manifest"
)

// DB is an open store. Create one with Open and release it with Close.
type DB struct {
	e    *engine.Engine
	c    *compactor.Compactor
	auto bool // the compactor's background goroutine runs
	stop sync.Once
}

// Open opens the store in dir, creating it (and dir) when dir does not
// exist or is empty; creating needs opts.Dimension. Open recovers from any
// crash: it removes leftovers of interrupted operations, cuts a torn tail
// and replays the tombstone log. A directory that holds something other
// than a memvec store fails with ErrNotStore and is left untouched; a store
// another DB holds open fails with ErrLocked.
func Open(dir string, opts Options) (*DB, error) {
	db, err := open(dir, opts)
	if err != nil {
		return nil, openError(dir, err)
	}
	return db, nil
}

func open(dir string, opts Options) (*DB, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	e, err := engine.Open(dir, engine.Config{
		Dimension:    opts.Dimension,
		NoSync:       opts.NoSync,
		SegmentBytes: opts.SegmentBytes,
		FS:           opts.fs,
		ReadOnly:     opts.ReadOnly,
		LockCodes:    opts.LockCodes,
	})
	if err != nil {
		return nil, err
	}
	db := &DB{e: e, auto: !opts.DisableAutoCompaction}
	copts := compactor.Options{GarbageRatio: opts.CompactionGarbageRatio, SegCap: e.SegCap()}
	if fn := opts.OnCompact; fn != nil {
		copts.OnCompact = func(epoch uint64, runs []manifest.IDRun) { fn(idMap(epoch, runs)) }
	}
	db.c = compactor.New(e, copts)
	if db.auto {
		e.SetNotify(db.c.Notify)
		db.c.Start()
	}
	return db, nil
}

// Close stops the background compactor (abandoning a compaction in
// progress, whose files are removed), cancels the searches in flight
// (Search, SearchBatch, SearchIn, Range and Verify return ErrClosed at
// their next check, within one chunk of work), waits for the other
// operations in flight, makes every write durable, unmaps the files and
// releases the lock. Every later call returns ErrClosed without waiting.
func (db *DB) Close() error {
	db.stop.Do(func() {
		if db.auto {
			db.c.Stop()
		}
	})
	return wrap("close", db.e.Close())
}

// Sync makes every acknowledged write durable. It matters only with
// Options.NoSync; otherwise writes are durable when they return.
func (db *DB) Sync() error { return wrap("sync", db.e.Sync()) }

// Dimension returns the number of components of the store's vectors.
func (db *DB) Dimension() int { return db.e.Dimension() }

// Add stores vectors under new, consecutive IDs and returns them, in order.
// The batch is all-or-nothing: a vector of the wrong length fails it with
// ErrDimension, one holding NaN or Inf or all zeros with ErrInvalidVector,
// and nothing is added. Add(nil) adds nothing. Unless Options.NoSync the
// batch is durable when Add returns; after a crash it is wholly present or
// wholly absent. The vectors are copied; Get returns them bit for bit.
func (db *DB) Add(vectors [][]float32) ([]uint64, error) {
	ids, err := db.e.Add(vectors)
	return ids, wrap("add", err)
}

// Delete deletes the given IDs and returns how many of them were live and
// are now deleted; unknown, already deleted and repeated IDs count 0.
// Unless Options.NoSync the deletes are durable when Delete returns.
func (db *DB) Delete(ids []uint64) (int, error) {
	n, err := db.e.Delete(ids)
	return n, wrap("delete", err)
}

// Get returns a copy of the vector stored under id, or ErrNotFound.
func (db *DB) Get(id uint64) ([]float32, error) {
	v, err := db.e.Get(id)
	if err != nil {
		return nil, wrap("get", err)
	}
	return v, nil
}

// Result is one search hit: an ID and its cosine similarity to the query,
// in [-1, 1], with the key of the record (empty for a vector added by Add)
// and, when SearchOptions.WithPayload asks for it, its payload.
type Result struct {
	ID      uint64
	Score   float32
	Key     string
	Payload []byte
}

// Search returns the live vectors most cosine-similar to query, best first,
// ties broken by ascending ID. It is exact, on a consistent snapshot, in
// parallel across segments: every live vector is considered, through its
// int8 code first and in float32 when it can reach the top k, so the
// answer is exactly that of scanning every float32 row (Exhaustive). A query of the
// wrong length, with NaN or Inf, or all zeros is an error; a cancelled ctx
// returns an error wrapping ctx.Err(), and a search that Close cancels
// returns ErrClosed. Calls that overlap in time share a scan of the data
// (see README, "Concurrent searches"): a call made while a scan of the
// current snapshot runs joins it at its next chunk and wraps around, with
// its own options and ctx and exactly its own answer; a lone call starts
// at once.
func (db *DB) Search(ctx context.Context, query []float32, opts SearchOptions) ([]Result, error) {
	return search("search", opts, func(o SearchOptions) ([]engine.Hit, error) {
		return db.e.SearchShared(ctx, query, o.params())
	})
}

// search resolves opts and runs one search with them: the body of Search,
// SearchIn and SearchInKeys, which differ only in the engine call.
func search(op string, opts SearchOptions, run func(SearchOptions) ([]engine.Hit, error)) ([]Result, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, wrap(op, err)
	}
	hits, err := run(opts)
	return results(hits), wrap(op, err)
}

// SearchIn is Search restricted to the vectors with the given IDs; unknown,
// deleted and repeated IDs are ignored. Its cost follows len(ids), not the
// size of the store.
func (db *DB) SearchIn(ctx context.Context, query []float32, ids []uint64, opts SearchOptions) ([]Result, error) {
	return search("search in", opts, func(o SearchOptions) ([]engine.Hit, error) {
		return db.e.SearchInWith(ctx, query, ids, o.TopK, o.MinScore, o.WithPayload)
	})
}

// SearchBatch runs Search for several queries in one pass over the data:
// results[i] is exactly what Search(ctx, queries[i], opts) returns. Each
// block of rows is scored against every query while it is in cache, so a
// batch costs far less than the same searches one by one. An invalid
// query fails the whole batch with an error naming its index.
func (db *DB) SearchBatch(ctx context.Context, queries [][]float32, opts SearchOptions) ([][]Result, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, wrap("search batch", err)
	}
	hits, err := db.e.SearchBatchParams(ctx, queries, opts.params())
	if err != nil {
		return nil, wrap("search batch", err)
	}
	out := make([][]Result, len(hits))
	for i, h := range hits {
		out[i] = results(h)
	}
	return out, nil
}

func results(hits []engine.Hit) []Result {
	if hits == nil {
		return nil
	}
	out := make([]Result, len(hits))
	for i, h := range hits {
		out[i] = Result{ID: h.ID, Score: h.Score, Key: h.Key, Payload: h.Payload}
	}
	return out
}

// Verify reads every checksummed byte of the store (manifest, segments,
// tombstone log) and returns an error wrapping ErrCorrupt that names the
// file and offset of the first mismatch.
func (db *DB) Verify(ctx context.Context) error { return wrap("verify", db.e.Verify(ctx)) }

// Compact rewrites every segment that holds deleted rows, the active one
// included: their live vectors move, in ID order, to fresh IDs above every
// ID handed out so far, and the old files are removed once no search uses
// them. It returns the old-to-new map, which is also stored on disk (see
// IDMapsSince) and passed to Options.OnCompact before Compact returns.
// Afterwards Stats().Deleted is 0 unless deletes raced with it. With
// nothing to reclaim it returns an empty IDMap and no epoch is used. A
// cancelled ctx leaves the store as it was. Searches, Get, Add and Delete
// go on during a compaction; a Delete of a row being copied is carried
// over to its new ID.
func (db *DB) Compact(ctx context.Context) (IDMap, error) {
	res, err := db.c.Compact(ctx)
	if err != nil {
		// A compaction that Close abandoned fails with the cancellation
		// of the DB's own context; to the caller, whose ctx is fine, that
		// is ErrClosed.
		if errors.Is(err, context.Canceled) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%w)", err, errs.ErrClosed)
		}
		return IDMap{}, wrap("compact", err)
	}
	if res == nil {
		return IDMap{}, nil
	}
	return idMap(res.Epoch, res.Runs), nil
}

// Upgrade rewrites every segment file of an older format into the current
// one, without moving any ID, and returns how many it rewrote. Stores
// written before int8 codes existed (format 4) open and answer correctly
// as they are, but a search scans their rows in float32; after Upgrade it
// reads their codes first, like those of every segment written since.
// Sealed segments of format 4 get format 5's sum table, so that a read
// of them checks only the rows and code blocks it reads instead of the
// whole segment on first use.
// Upgrade runs one segment at a time, with compactions waiting; reads and
// writes go on meanwhile. It is what `memvec upgrade` runs. Crash safety:
// that of a compaction (see README, "Crash safety").
func (db *DB) Upgrade(ctx context.Context) (int, error) {
	var n int
	err := db.c.Exclusive(func() error {
		var err error
		n, err = db.e.Upgrade(ctx)
		return err
	})
	return n, wrap("upgrade", err)
}

// IDMapsSince reads from disk the ID maps of the compactions with an epoch
// greater than epoch, oldest first. Maps are kept across restarts until
// ReleaseIDMaps drops them, so an application that missed OnCompact (say,
// it crashed) can catch up: apply every map in order.
func (db *DB) IDMapsSince(epoch uint64) ([]IDMap, error) {
	maps, err := db.e.IDMapsSince(epoch)
	if err != nil {
		return nil, wrap(fmt.Sprintf("ID maps since %d", epoch), err)
	}
	out := make([]IDMap, len(maps))
	for i, m := range maps {
		out[i] = idMap(m.Epoch, m.Runs)
	}
	return out, nil
}

// ReleaseIDMaps tells the store that the application has applied the maps
// of every epoch up to throughEpoch, so they may be dropped from disk.
func (db *DB) ReleaseIDMaps(throughEpoch uint64) error {
	if err := db.e.ReleaseIDMaps(throughEpoch); err != nil {
		return wrap(fmt.Sprintf("release ID maps through %d", throughEpoch), err)
	}
	return nil
}

// idMap returns an IDMap with its own copy of runs, so that OnCompact and
// Compact never share a slice the application may change.
func idMap(epoch uint64, runs []IDRun) IDMap {
	m := IDMap{Epoch: epoch, Runs: make([]IDRun, len(runs))}
	copy(m.Runs, runs)
	return m
}

// Stats describes the store.
type Stats struct {
	// Dimension is the number of components of each vector.
	Dimension int
	// Total counts stored rows, deleted ones included; Live those not
	// deleted; Deleted the tombstoned ones (Total = Live + Deleted).
	Total, Live, Deleted uint64
	// Segments is the number of segment files.
	Segments int
	// DiskBytes is the disk space every file of the store takes: on
	// Linux the segment files' allocated blocks (they are sparse until
	// their rows fill them), elsewhere their sizes; ReclaimableBytes
	// the part a compaction would free (the rows of deleted vectors);
	// WALBytes the size of the tombstone log.
	DiskBytes, ReclaimableBytes, WALBytes int64
	// Epoch counts the compactions committed so far.
	Epoch uint64
	// NextID is the ID the next added vector will get: above every ID
	// handed out so far (after a crash of a NoSync store, by up to the
	// 65,536 IDs it had reserved; see Options.NoSync).
	NextID uint64
	// CodeBytes is the part of DiskBytes taken by the int8 codes that
	// let a search skip most float32 rows (see SearchOptions.Exhaustive):
	// one byte per dimension and 16 bytes per row, for the rows of
	// segments that have codes.
	CodeBytes int64
	// LockedCodeBytes is the part of the int8 codes (with the rows'
	// inverse norms) that Options.LockCodes has locked in RAM: 0 without
	// it, and before the first search (the codes are locked then, segment
	// by segment, in the background). With LockCodes, a figure short of
	// CodeBytes (beyond the norms it also counts) after a search means the
	// kernel refused some locks (RLIMIT_MEMLOCK): those codes stay in the
	// page cache unlocked, and the store works as without the option.
	LockedCodeBytes int64
	// The prefilter's work since Open, summed over searches: CodeRows
	// rows were bounded by their codes, RescoredRows of them rescored in
	// float32 (the rows that could still be in a top k), and FullScanRows
	// scored in float32 without codes (Exhaustive searches, segments of
	// stores written before codes existed, and fallbacks).
	// FallbackSearches counts the searches in which some rows left too
	// many candidates and were scanned in float32 instead. Rows saved:
	// CodeRows - RescoredRows.
	CodeRows, RescoredRows, FullScanRows, FallbackSearches uint64
}

// Stats returns the store's statistics at one instant; on a closed DB it
// returns the zero Stats.
func (db *DB) Stats() Stats {
	s, err := db.e.Stats()
	if err != nil {
		return Stats{}
	}
	return Stats(s)
}
