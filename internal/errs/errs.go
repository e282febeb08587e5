// Package errs holds the sentinel errors shared by every layer of memvec.
//
// The root package re-exports each of them under the same name, so an error
// produced deep in segment, wal or manifest and wrapped on its way up still
// satisfies errors.Is(err, memvec.ErrCorrupt). Lower packages wrap these with
// context (file, offset, segment number) and never return them bare when they
// know more.
//
// Their texts do not name memvec: the root package adds "memvec: <op>: "
// once, at the API boundary, so a wrapped sentinel never says it twice.
package errs

import "errors"

var (
	// ErrNotFound means an ID is not live: never assigned, deleted or retired.
	ErrNotFound = errors.New("not found")
	// ErrDimension means a vector or query has the wrong number of components,
	// or Options.Dimension disagrees with the stored dimension.
	ErrDimension = errors.New("wrong dimension")
	// ErrInvalidVector means a vector holds NaN or ±Inf or is all zeros.
	ErrInvalidVector = errors.New("invalid vector")
	// ErrInvalidArgument means an argument is out of its documented range.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store closed")
	// ErrCorrupt means bytes on disk failed a checksum or a structural check.
	ErrCorrupt = errors.New("corrupt")
	// ErrLocked means another DB, in this process or another, holds the store.
	ErrLocked = errors.New("store locked by another process or DB")
	// ErrNotStore means the directory holds files but no memvec manifest.
	ErrNotStore = errors.New("not a memvec store")
	// ErrReadOnly means a write to a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrVersion means the store was written by a newer, unknown format version.
	ErrVersion = errors.New("unsupported format version")
)
