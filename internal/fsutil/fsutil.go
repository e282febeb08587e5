// Package fsutil holds the few file-system primitives memvec's durability
// rests on: fsync of a directory, data-only sync of a file, preallocation,
// atomic replacement of a small file, and an exclusive advisory lock.
//
// Invariant kept by its callers and spelled out here: a file's contents are
// synced before it is renamed into place, and the directory is synced after
// any create, rename or remove whose survival a later step depends on.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir so that entries created, renamed or
// removed in it survive power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, serr)
	}
	return cerr
}

// WriteFileAtomic replaces dir/name with data: it writes dir/name.tmp,
// fsyncs it, renames it over dir/name and fsyncs dir. After a crash the file
// holds either its old or its new contents, never a mix; a stale .tmp may be
// left behind for the caller's recovery to remove.
func WriteFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return SyncDir(dir)
}
