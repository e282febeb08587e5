package memvec

import "github.com/memvec/memvec/internal/vfs"

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
	// Default (0): 64 MiB.
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
	// still works. Default false.
	DisableAutoCompaction bool

	// CompactionGarbageRatio is the deleted share of a sealed segment at
	// which the background compactor rewrites it, in (0, 1]. Default (0):
	// 0.2.
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

	// fs, when set, is the file system every file operation on the store
	// directory goes through (the WAL's excepted; see package
	// internal/vfs). Only this package's tests set it, to inject faults
	// and cut the power; nil is the real one.
	fs vfs.FS
}
