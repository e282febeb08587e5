package vfs

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/edsrzf/mmap-go"
)

// OS is the real file system: the os package, fsync/fdatasync, fallocate,
// flock and mmap. It is what the store uses unless a test passes another FS.
var OS FS = osFS{}

type osFS struct{}

// osFile is an *os.File seen as a File.
type osFile struct{ *os.File }

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm fs.FileMode) error {
	return os.MkdirAll(name, perm)
}
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error             { return os.Remove(name) }

// SyncDir opens the directory and fsyncs it.
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

func (osFS) Lock(name string) (Lock, error)  { return lockFile(name, false) }
func (osFS) RLock(name string) (Lock, error) { return lockFile(name, true) }

// Map maps f, which must be an OS file, read-only and shared, so the
// mapping sees every later WriteAt to the file.
func (osFS) Map(f File, size int) ([]byte, error) {
	of, ok := f.(osFile)
	if !ok {
		return nil, fmt.Errorf("vfs: map %s: not a file of vfs.OS", f.Name())
	}
	m, err := mmap.MapRegion(of.File, size, mmap.RDONLY, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return m, nil
}

func (osFS) Unmap(m []byte) error {
	mm := mmap.MMap(m)
	return mm.Unmap()
}

func (f osFile) Datasync() error                   { return fdatasync(f.File) }
func (f osFile) Preallocate(off, n int64) error    { return preallocate(f.File, off, n) }
func (f osFile) Stat() (fs.FileInfo, error)        { return f.File.Stat() }
func (f osFile) NextData(off int64) (int64, error) { return nextData(f.File, off) }
func (f osFile) Fadvise(off, n int64, advice Advice) error {
	return fadvise(f.File, off, n, advice)
}
