package memvec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/memvec/memvec/internal/errs"
)

// Sentinel errors. Every error memvec returns that has one of these causes
// wraps it with context (the file, offset, segment or argument), so test
// with errors.Is.
//
// Every error a method returns reads "memvec: <operation>: <cause>", with
// "memvec:" said once and a store's path at most once: the sentinels' own
// texts do not name memvec, and the prefix is added at the API boundary.
// The one exception is an error of Range's callback, returned as it is.
var (
	// ErrNotFound is returned by Get for an ID that is not live: never
	// assigned, deleted, or retired by a compaction; and by GetRecord for
	// a key no live record holds.
	ErrNotFound = errs.ErrNotFound
	// ErrDimension is returned for a vector or query of the wrong length,
	// and by Open when Options.Dimension disagrees with the stored one.
	ErrDimension = errs.ErrDimension
	// ErrInvalidVector is returned for a vector or query holding NaN or
	// ±Inf, one that is all zeros, or one whose norm lies outside
	// [1e-30, 1e30].
	ErrInvalidVector = errs.ErrInvalidVector
	// ErrInvalidArgument is returned for an argument outside its documented
	// range, such as a negative TopK, a negative SegmentBytes, an empty or
	// over-long key, a key twice in one Put or a payload over
	// MaxPayloadLen.
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
	// no memvec store (and, with Options.ReadOnly, for a missing or empty
	// one). It never also satisfies errors.Is(err, ErrCorrupt): a folder
	// that was never a store is not a damaged one, and must not be
	// restored over from a backup. Nothing in the directory is touched.
	ErrNotStore = errs.ErrNotStore
	// ErrReadOnly is returned by Add, Put, Delete, DeleteKeys, Compact and
	// ReleaseIDMaps of a DB opened with Options.ReadOnly.
	ErrReadOnly = errs.ErrReadOnly
	// ErrVersion is returned by Open for a store written by a newer,
	// unknown format version.
	ErrVersion = errs.ErrVersion
)

// wrap gives err the form every error memvec returns has: "memvec: op:
// cause", with "memvec:" said once. It is applied once, at the API
// boundary: the layers below and the sentinels' texts never name memvec.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

// opError is an error of one operation of the API.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "memvec: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// Is matches another operation's error with the same cause: a store made
// read-only by a failed write returns one sticky error from every write
// method, and errors.Is(errFromDelete, errFromAdd) says so although the
// two name different operations.
func (e *opError) Is(target error) bool {
	t, ok := target.(*opError)
	return ok && errors.Is(e.err, t.err)
}

// openError wraps an error of Open: "memvec: open DIR: cause", or, when
// the cause already names DIR or a file inside it (a segment, the WAL, an
// error of the file system about DIR itself), "memvec: open: cause", so
// that the path is said once.
func openError(dir string, err error) error {
	if namesDir(err, dir) {
		return wrap("open", err)
	}
	return wrap("open "+dir, err)
}

// namesDir reports whether err's message names dir: as the path of a
// file-system error, or as the directory of a path inside it (looked for
// with its separator, so that a short relative dir such as "s" is not
// found in any word that holds an s).
func namesDir(err error, dir string) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) && filepath.Clean(pe.Path) == filepath.Clean(dir) {
		return true
	}
	return strings.Contains(err.Error(), filepath.Clean(dir)+string(filepath.Separator))
}
