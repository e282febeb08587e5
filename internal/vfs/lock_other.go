//go:build !unix

package vfs

import (
	"errors"
	"fmt"
	"os"
)

// osLock is a lock file created exclusively.
type osLock struct{ f *os.File }

// lockFile creates path exclusively; this platform has no flock, so a stale
// lock file left by a crash must be removed by hand. A lock on a directory
// or a shared lock is not enforced here.
func lockFile(path string, shared bool) (Lock, error) {
	if fi, err := os.Stat(path); shared || err == nil && fi.IsDir() {
		return &osLock{}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("lock %s: %w", path, ErrWouldBlock)
	}
	if err != nil {
		return nil, err
	}
	return &osLock{f: f}, nil
}

// Unlock releases the lock and removes its file; a second call is a no-op.
func (l *osLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	name := l.f.Name()
	err := l.f.Close()
	l.f = nil
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}
