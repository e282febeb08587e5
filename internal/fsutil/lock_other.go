//go:build !unix

package fsutil

import (
	"errors"
	"os"
)

// Lock is an exclusive lock held on an open lock file.
type Lock struct{ f *os.File }

// ErrWouldBlock is returned by TryLock when another holder has the lock.
var ErrWouldBlock = errors.New("lock held elsewhere")

// TryLock creates path exclusively; this platform has no flock, so a stale
// lock file left by a crash must be removed by hand.
func TryLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, ErrWouldBlock
	}
	if err != nil {
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock and removes its file.
func (l *Lock) Unlock() error {
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
