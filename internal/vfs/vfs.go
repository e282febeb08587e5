package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is every file-system operation memvec's own code performs. Paths are
// OS paths. Errors are returned as the os package returns them (wrapped in
// *fs.PathError or *os.LinkError where it does), so errors.Is(err,
// fs.ErrNotExist) and errors.Is(err, syscall.EIO) work through any FS.
type FS interface {
	// OpenFile opens name with os.OpenFile's flags and permissions.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// ReadFile returns the whole contents of name.
	ReadFile(name string) ([]byte, error)
	// Stat describes name.
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists the directory name, sorted by file name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// MkdirAll creates the directory name and any missing parents. It does
	// not sync anything: the caller syncs the parents whose new entries
	// must survive power loss.
	MkdirAll(name string, perm fs.FileMode) error
	// Rename renames oldpath to newpath, replacing newpath atomically. The
	// caller syncs the directory for the rename to survive power loss.
	Rename(oldpath, newpath string) error
	// Remove deletes the file name. The caller syncs the directory for the
	// removal to survive power loss.
	Remove(name string) error
	// SyncDir fsyncs the directory name, so that entries created, renamed
	// or removed in it survive power loss.
	SyncDir(name string) error
	// Lock takes an exclusive lock on name without waiting: a directory,
	// or a lock file it creates if needed. It returns an error wrapping
	// ErrWouldBlock when another holder has it, in this process or another.
	Lock(name string) (Lock, error)
	// RLock takes a shared lock on name (a directory or an existing file)
	// without waiting and without creating or writing anything: many
	// shared holders, or one exclusive one.
	RLock(name string) (Lock, error)
	// Map maps the first size bytes of f read-only. f must have been opened
	// by the same FS and be at least size bytes long (mapping past the end
	// of a file turns the first touch of the missing pages into SIGBUS).
	Map(f File, size int) ([]byte, error)
	// Unmap releases a mapping returned by Map. It always releases the
	// mapping, even when it reports an error.
	Unmap(m []byte) error
}

// File is an open file of an FS.
type File interface {
	// Name returns the path the file was opened with.
	Name() string
	// ReadAt reads len(p) bytes at off (io.ReaderAt).
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes p at off (io.WriterAt); it does not move the offset
	// Write uses.
	WriteAt(p []byte, off int64) (int, error)
	// Write writes p at the file's offset and advances it (io.Writer).
	Write(p []byte) (int, error)
	// Stat describes the file.
	Stat() (fs.FileInfo, error)
	// Sync flushes the file's data and metadata to stable storage (fsync).
	Sync() error
	// Datasync flushes the file's data and the metadata needed to read it
	// back (fdatasync; a full fsync where the OS has no fdatasync).
	Datasync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Preallocate reserves disk blocks for bytes [off, off+n) of the file
	// without changing its size or contents (fallocate with KEEP_SIZE), so
	// that later writes there cannot fail for lack of space. A range with
	// no block yet reads as zeros before and after. Where the file system
	// cannot reserve blocks it does nothing: the writes then allocate, and
	// a full disk fails them instead. A request for more than the free
	// space fails with ENOSPC without taking any.
	Preallocate(off, n int64) error
	// NextData returns the first offset at or after off that may hold
	// data (lseek SEEK_DATA): the bytes in between are a hole and read as
	// zeros. With no data at or after off it returns the file's size;
	// where the file system cannot tell, off itself.
	NextData(off int64) (int64, error)
	// Fadvise tells the kernel how bytes [off, off+n) of the file will be
	// used (posix_fadvise; n = 0: to the end of the file): advice about
	// the page cache that changes no byte, no size and nothing durable.
	// Where the OS takes no such advice it does nothing. Callers treat an
	// error as advice not taken, never as a failure of their operation.
	Fadvise(off, n int64, advice Advice) error
	// Close closes the file. It always releases the descriptor, even when
	// it reports an error.
	Close() error
}

// Advice is what File.Fadvise tells the kernel about a range of a file.
type Advice int

// The advice File.Fadvise takes (POSIX_FADV_*).
const (
	// AdviseWillNeed: the range will be read soon; the kernel starts
	// reading it into the page cache without waiting for the reads.
	AdviseWillNeed Advice = iota
	// AdviseDontNeed: the range will not be read again soon; the kernel
	// drops its clean page-cache pages that no process maps (dirty ones
	// are written back first and stay until a later call).
	AdviseDontNeed
	// AdviseRandom: reads of the file will be random; no readahead.
	AdviseRandom
	// AdviseSequential: reads will be sequential; more readahead.
	AdviseSequential
)

// Lock is an exclusive lock held on a lock file; see FS.Lock.
type Lock interface {
	// Unlock releases the lock and closes its file.
	Unlock() error
}

// ErrWouldBlock is wrapped by the error FS.Lock returns when another holder
// has the lock.
var ErrWouldBlock = errors.New("lock held elsewhere")

// Or returns fsys, or OS when fsys is nil: the packages that take an FS
// accept nil for the real file system.
func Or(fsys FS) FS {
	if fsys == nil {
		return OS
	}
	return fsys
}

// WriteFile creates or truncates path, writes data, fsyncs and closes the
// file. It does not sync the directory. After an error the file may be left
// partly written.
func WriteFile(fsys FS, path string, data []byte) error {
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
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
	return f.Close()
}

// WriteFileAtomic replaces dir/name with data: it writes dir/tmp, fsyncs
// it, renames it over dir/name and fsyncs dir. After a crash the file
// holds either its old or its new contents, never a mix; a stale tmp may be
// left behind for the caller's recovery to remove. After an error returned
// by the rename or the directory sync, the new contents may or may not be
// in place.
func WriteFileAtomic(fsys FS, dir, name, tmp string, data []byte) error {
	tmp = filepath.Join(dir, tmp)
	if err := WriteFile(fsys, tmp, data); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
