package memvec

import (
	"fmt"

	"github.com/memvec/memvec/compactor"
	"github.com/memvec/memvec/engine"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
)

// MaxDimension is the largest dimension a store can be created with: a
// vector of 4 MiB. Open refuses more with ErrInvalidArgument and
// ErrDimension.
const MaxDimension = 1 << 20

// Options configure Open. The zero value is valid for reopening a store;
// creating one needs Dimension.
type Options struct {
	// Dimension is the number of components of every vector. It is
	// required to create a store (0, negative or above MaxDimension there
	// fails with an error satisfying both ErrInvalidArgument and
	// ErrDimension, and creates nothing). On reopen 0 means "use the stored one"; a different
	// non-zero value fails with ErrDimension.
	Dimension int

	// NoSync trades durability for speed when bulk loading: Add and Delete
	// return before their data is fsynced, and writes become durable at
	// Sync or Close. A crash (of the machine; a killed process loses
	// nothing) may lose writes acknowledged since the last Sync, but never
	// leaves a partial batch, and never hands the IDs of a lost Add out
	// again: IDs are reserved durably 65,536 at a time, so after a crash
	// (a killed process too) the ID counter may skip up to that many.
	// Default false: every Add and Delete is durable when it returns.
	NoSync bool

	// SegmentBytes is the target size of one segment file. Any value that
	// holds one row works; a smaller value gives more, smaller files.
	// Default (0): 64 MiB (engine.DefaultSegmentBytes). Negative fails
	// with ErrInvalidArgument.
	//
	// Each segment costs, while the store is open, one file descriptor and
	// one memory mapping (mind RLIMIT_NOFILE, often 1,024, and Linux's
	// vm.max_map_count, 65,530 by default), about 200 bytes of bookkeeping
	// plus its tombstone bitset (one bit per row of capacity), a header
	// read at Open, one entry in every manifest write (sealing a segment,
	// adding one, committing a compaction: each rewrites the whole list)
	// and a little work per search. Delete and Add into the active segment
	// do not depend on the number of segments (O(log n) at most); a Delete
	// copies the bitsets of the segments it touches, so its cost grows
	// with the segment size instead.
	SegmentBytes int64

	// DisableAutoCompaction turns off the background compactor, which
	// otherwise wakes after deletes and seals and rewrites sealed segments
	// whose deleted share reaches CompactionGarbageRatio (and merges small
	// sealed segments), moving their live vectors to fresh IDs. Compact
	// still works. Default false. ReadOnly implies it.
	DisableAutoCompaction bool

	// CompactionGarbageRatio is the deleted share of a sealed segment at
	// which the background compactor rewrites it, in (0, 1]. Default (0):
	// 0.2 (compactor.DefaultGarbageRatio). Negative, above 1 or NaN fails
	// with ErrInvalidArgument.
	CompactionGarbageRatio float64

	// OnCompact, when set, is called after every committed compaction with
	// its old-to-new ID map: from the background compactor's goroutine, or
	// from Compact before it returns, one call at a time in epoch order.
	// It runs with no lock held and may use the DB, even Close it, but
	// must not call Compact. The map is durable before the call (see
	// IDMapsSince), so a crash before the application has applied it loses
	// nothing; for the same reason the background compactor skips the call
	// while the DB is closing. Default nil.
	OnCompact func(IDMap)

	// ReadOnly opens the store without writing a byte, for readers and
	// for stores on read-only folders or media: Open takes a shared lock
	// (many read-only DBs may have the store at once, but no writer: like
	// bbolt's ReadOnly), creates nothing, removes no orphan, repairs no
	// torn tail on disk (it is ignored in memory) and writes no manifest;
	// Close writes nothing either. Add, Delete, Compact and ReleaseIDMaps
	// fail with ErrReadOnly; Sync does nothing; the background compactor
	// does not run. Opening a directory that holds no store fails with
	// ErrNotStore. Default false.
	ReadOnly bool

	// LockCodes keeps the int8 codes of sealed segments (and the rows'
	// inverse norms), what every search reads, in RAM: from the first
	// search on, each sealed segment's code pages are locked (mlock, as
	// they are first read: MLOCK_ONFAULT) so the kernel never evicts them
	// for float32 rows, however much of those a store larger than RAM
	// reads. It costs RAM: Stats.CodeBytes, about a quarter of the float32
	// bytes at 512 dimensions. A lock the kernel refuses (RLIMIT_MEMLOCK,
	// often 8 MiB for a user without CAP_IPC_LOCK: see ulimit -l) is not
	// an error: Open and searches work as without the option, and
	// Stats.LockedCodeBytes shows what is locked. The locks go with the
	// segment (when a compaction retires it, at Close). Linux only:
	// elsewhere nothing is locked. Default false: the codes are only
	// advised to the kernel (see README, "Page cache").
	LockCodes bool

	// fs, when set, is the file system every file operation on the store
	// directory goes through (the WAL's excepted; see package
	// internal/vfs). Only this package's tests set it, to inject faults
	// and cut the power; nil is the real one.
	fs vfs.FS
}

// validate refuses option values out of their documented range, before
// anything is created. It runs on the caller's values, before withDefaults,
// so that 0 ("the default") passes. The checks are written so that NaN
// fails too.
func (o *Options) validate() error {
	if o.Dimension < 0 || o.Dimension > MaxDimension {
		return fmt.Errorf("Dimension %d outside [0, %d]: %w (%w)", o.Dimension, MaxDimension, errs.ErrInvalidArgument, errs.ErrDimension)
	}
	if o.SegmentBytes < 0 {
		return fmt.Errorf("SegmentBytes %d: %w", o.SegmentBytes, errs.ErrInvalidArgument)
	}
	if !(o.CompactionGarbageRatio >= 0 && o.CompactionGarbageRatio <= 1) {
		return fmt.Errorf("CompactionGarbageRatio %g outside [0, 1]: %w", o.CompactionGarbageRatio, errs.ErrInvalidArgument)
	}
	return nil
}

// withDefaults returns o with every field left at its zero value set to
// the default its doc names: the one place defaults are applied. The
// layers below (engine, compactor) take the resolved values as they are.
// Dimension stays 0 when unset: on reopen it means "the stored one".
func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = engine.DefaultSegmentBytes
	}
	if o.CompactionGarbageRatio == 0 {
		o.CompactionGarbageRatio = compactor.DefaultGarbageRatio
	}
	if o.ReadOnly {
		o.DisableAutoCompaction = true
	}
	return o
}

// SearchOptions tune Search, SearchIn and SearchBatch.
type SearchOptions struct {
	// TopK is the number of results wanted. Default (0): 10. Negative is
	// ErrInvalidArgument; more than the store holds returns every match.
	TopK int
	// MinScore drops results whose cosine similarity is below it. The
	// default 0 keeps only non-negative similarities (as the reference
	// library does); -1 keeps all. Scores are float32 and never outside
	// [-1, 1], but the score of a vector with itself can round to below 1,
	// by more as the dimension grows: to find exact duplicates, use
	// DuplicateMinScore(dimension) (1 - 1.2e-5 at 768 dimensions, 0.984 at
	// MaxDimension), not 1.
	MinScore float32
	// WithPayload fills Result.Payload. Off by default, so that a search
	// reads no payload: every result carries its key either way.
	WithPayload bool
	// Exhaustive scans every float32 row and ignores the int8 codes. The
	// results are identical either way, bit for bit: by default a search
	// bounds every row's score from its code and rescores in float32 only
	// the rows that can still reach the top k (see README, "Search").
	// For verification and benchmarks. Ignored by SearchIn, which reads
	// only the rows it names.
	Exhaustive bool
}

// params is o as the engine takes it; o is resolved.
func (o SearchOptions) params() engine.SearchParams {
	return engine.SearchParams{K: o.TopK, MinScore: o.MinScore, Payload: o.WithPayload, Exhaustive: o.Exhaustive}
}

// defaultTopK is SearchOptions.TopK's default.
const defaultTopK = 10

// validate refuses a negative TopK; it runs before the query is looked at,
// so a bad TopK is reported whatever the query.
func (o *SearchOptions) validate() error {
	if o.TopK < 0 {
		return fmt.Errorf("TopK %d: %w", o.TopK, errs.ErrInvalidArgument)
	}
	return nil
}

// withDefaults returns o with TopK 0 set to its default. The engine takes
// the resolved TopK (at least 1) and does not check it again.
func (o SearchOptions) withDefaults() SearchOptions {
	if o.TopK == 0 {
		o.TopK = defaultTopK
	}
	return o
}

// resolve validates o and applies its defaults: what every search method
// calls first.
func (o SearchOptions) resolve() (SearchOptions, error) {
	if err := o.validate(); err != nil {
		return o, err
	}
	return o.withDefaults(), nil
}
