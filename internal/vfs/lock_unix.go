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

// lockFile opens (creating if needed) path and takes an exclusive flock on
// it without waiting. flock locks belong to the open file description, so a
// second lockFile of the same path fails even from the same process.
func lockFile(path string) (Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
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
