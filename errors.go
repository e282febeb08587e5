package memvec

import "github.com/memvec/memvec/internal/errs"

// Sentinel errors. Every error memvec returns that has one of these causes
// wraps it with context (the file, offset, segment or argument), so test
// with errors.Is.
var (
	// ErrNotFound is returned by Get for an ID that is not live: never
	// assigned, deleted, or retired by a compaction.
	ErrNotFound = errs.ErrNotFound
	// ErrDimension is returned for a vector or query of the wrong length,
	// and by Open when Options.Dimension disagrees with the stored one.
	ErrDimension = errs.ErrDimension
	// ErrInvalidVector is returned for a vector or query holding NaN or
	// ±Inf, one that is all zeros, or one whose norm lies outside
	// [1e-30, 1e30].
	ErrInvalidVector = errs.ErrInvalidVector
	// ErrInvalidArgument is returned for an argument outside its documented
	// range, such as a negative TopK or a negative SegmentBytes.
	ErrInvalidArgument = errs.ErrInvalidArgument
	// ErrClosed is returned by every method of a closed DB.
	ErrClosed = errs.ErrClosed
	// ErrCorrupt is returned when bytes on disk fail a checksum or a
	// structural check; the message names the file and offset.
	ErrCorrupt = errs.ErrCorrupt
	// ErrLocked is returned by Open when another DB, in this process or
	// another, has the store open.
	ErrLocked = errs.ErrLocked
	// ErrNotStore is returned by Open for a directory that holds files but
	// no memvec store; such an error also satisfies errors.Is(err,
	// ErrCorrupt). Nothing in the directory is touched.
	ErrNotStore = errs.ErrNotStore
	// ErrReadOnly is returned by Add, Delete, Compact and ReleaseIDMaps of
	// a DB opened with Options.ReadOnly.
	ErrReadOnly = errs.ErrReadOnly
	// ErrVersion is returned by Open for a store written by a newer,
	// unknown format version.
	ErrVersion = errs.ErrVersion
)
