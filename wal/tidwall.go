package wal

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	"github.com/memvec/memvec/internal/errs"
	tidwall "github.com/tidwall/wal"
)

// This file holds what the package needs to keep tidwall/wal (v1.2.1) from
// taking the process down or holding a descriptor it can no longer give
// back.

// guard runs op, a call into tidwall, and turns a panic inside it into an
// error wrapping errs.ErrCorrupt. Open checks the files so that tidwall's
// indexes match them (checkChain, checkTail), and the package never calls
// tidwall's Read; this is the last line of defence against bytes on disk
// crashing the process.
func guard(op func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("tidwall panicked: %v: %w", v, errs.ErrCorrupt)
		}
	}()
	return op()
}

// fromTidwall maps tidwall's sentinel errors onto memvec's.
func fromTidwall(err error) error {
	switch {
	case errors.Is(err, tidwall.ErrCorrupt):
		return fmt.Errorf("%w (tidwall: %w)", errs.ErrCorrupt, err)
	case errors.Is(err, tidwall.ErrClosed):
		return fmt.Errorf("%w (tidwall: %w)", errs.ErrClosed, err)
	}
	return err
}

// closeTidwall closes tw and releases its descriptor even when its Close
// fails: tidwall's Close returns as soon as its final fsync fails (EIO,
// EROFS), before it closes the tail segment file, and never closes it
// later, so the descriptor would stay open until the process exits (and
// keep the file system busy).
func closeTidwall(tw *tidwall.Log) error {
	err := guard(tw.Close)
	if err == nil {
		return nil
	}
	f, ferr := tidwallFile(tw)
	if ferr != nil {
		return errors.Join(fromTidwall(err), ferr)
	}
	if f != nil {
		if cerr := f.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	return fromTidwall(err)
}

// tidwallFile returns tidwall's tail segment file, the unexported field
// sfile of tidwall.Log, or nil when tidwall has none open. tidwall offers no
// way to release it after a failed Close, so it is reached through reflect
// and unsafe; TestTidwallFileField fails if an upgrade renames the field or
// changes its type, and this returns an error rather than guess.
func tidwallFile(tw *tidwall.Log) (*os.File, error) {
	v := reflect.ValueOf(tw).Elem().FieldByName("sfile")
	if !v.IsValid() || v.Type() != reflect.TypeFor[*os.File]() {
		return nil, fmt.Errorf("wal: tidwall.Log has no field sfile of type *os.File; its descriptor cannot be released")
	}
	return *(**os.File)(unsafe.Pointer(v.UnsafeAddr())), nil
}
