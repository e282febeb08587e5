//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// osLock is an flock held on an open lock file.
type osLock struct{ f *os.File }

// lockFile takes an flock on path without waiting: exclusive, or shared
// for a reader. path may be a directory (opened read-only), or a lock file,
// which an exclusive lock creates when missing; a shared lock never creates
// anything, so it works on read-only media. flock locks belong to the open
// file description, so a second lockFile of the same path conflicts even
// from the same process, and they die with the process: a kill -9 leaves
// no stale lock.
func lockFile(path string, shared bool) (Lock, error) {
	var f *os.File
	var err error
	if fi, serr := os.Stat(path); shared || serr == nil && fi.IsDir() {
		f, err = os.Open(path)
	} else {
		f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	}
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("flock %s: %w", path, ErrWouldBlock)
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return &osLock{f: f}, nil
}

// Unlock releases the lock and closes its file; a second call is a no-op.
func (l *osLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
