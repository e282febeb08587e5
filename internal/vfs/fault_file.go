package vfs

import (
	"io"
	"io/fs"
	"os"
)

// faultLock is a lock taken through a Fault.
type faultLock struct {
	fs       *Fault
	base     Lock
	released bool
}

// Unlock releases the lock; after a Crash (which released it) it is a
// no-op.
func (l *faultLock) Unlock() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	delete(l.fs.locks, l)
	return l.base.Unlock()
}

// forgetLocked undoes a lock whose Lock failed after taking it: it
// releases it and stops tracking it, unless a Crash already did.
func (l *faultLock) forgetLocked() {
	if !l.fs.crashed {
		l.base.Unlock()
		delete(l.fs.locks, l)
	}
}

// faultFile is a file opened through a Fault.
type faultFile struct {
	fs     *Fault
	base   File
	node   *node
	name   string
	off    int64 // Write's offset
	closed bool
}

func (h *faultFile) Name() string { return h.name }

// forgetLocked undoes a file whose OpenFile failed after opening it: it
// closes it and stops tracking it, unless a Crash already did.
func (h *faultFile) forgetLocked() {
	if !h.fs.crashed {
		h.base.Close()
		delete(h.fs.files, h)
	}
}

// ReadAt reads from the base file.
func (h *faultFile) ReadAt(p []byte, off int64) (int, error) {
	f := h.fs
	ev, d, err := f.enter(Event{Kind: OpRead, Path: h.name, Off: off, Len: len(p)})
	if err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	if d.fails() {
		return 0, f.finishLocked(ev, d)
	}
	if h.closed {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: os.ErrClosed}
	}
	n, err := h.base.ReadAt(p, off)
	if err != nil {
		return n, err
	}
	return n, f.finishLocked(ev, d)
}

// WriteAt writes p at off, logging what it overwrites.
func (h *faultFile) WriteAt(p []byte, off int64) (int, error) {
	return h.write(p, off, false)
}

// Write writes p at the handle's offset, logging what it overwrites.
func (h *faultFile) Write(p []byte) (int, error) {
	return h.write(p, -1, true)
}

func (h *faultFile) write(p []byte, off int64, advance bool) (int, error) {
	f := h.fs
	f.mu.Lock()
	if advance {
		off = h.off
	}
	f.mu.Unlock()
	ev, d, err := f.enter(Event{Kind: OpWrite, Path: h.name, Off: off, Len: len(p)})
	if err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	if h.closed {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: os.ErrClosed}
	}
	todo := p
	if d.fails() {
		todo = p[:min(max(d.Short, 0), len(p))]
	}
	n, err := h.writeLocked(todo, off)
	if advance {
		h.off = off + int64(n)
	}
	if err != nil {
		return n, err
	}
	return n, f.finishLocked(ev, d)
}

// writeLocked writes p at off on the base file and logs the change.
func (h *faultFile) writeLocked(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	nd := h.node
	end := off + int64(len(p))
	var old []byte
	if off < nd.size {
		old = make([]byte, min(end, nd.size)-off)
		if err := readFull(h.base, old, off); err != nil {
			return 0, err
		}
	}
	n, err := h.base.WriteAt(p, off)
	if n > 0 {
		if len(old) > n {
			old = old[:n]
		}
		nd.undo = append(nd.undo, change{off: off, n: int64(n), old: old, size: nd.size})
		nd.size = max(nd.size, off+int64(n))
		if nd.mem != nil {
			nd.mem.WriteAt(p[:n], off)
		}
	}
	return n, err
}

// truncateLocked changes the base file's size and logs the change.
func (h *faultFile) truncateLocked(size int64) error {
	nd := h.node
	c := change{size: nd.size}
	switch {
	case size < nd.size:
		c.off, c.n = size, nd.size-size
		c.old = make([]byte, c.n)
		if err := readFull(h.base, c.old, size); err != nil {
			return err
		}
	case size > nd.size:
		c.off, c.n = nd.size, size-nd.size
	default:
		return h.base.Truncate(size)
	}
	if err := h.base.Truncate(size); err != nil {
		return err
	}
	nd.undo = append(nd.undo, c)
	nd.size = size
	if nd.mem != nil {
		nd.mem.Truncate(size)
	}
	return nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		// The file is shorter than Fault believed (changed behind its
		// back): what is missing reads as zeros.
		clear(p[n:])
		return nil
	}
	return err
}

// NextData asks the base file (an OpRead: it reads the file's map).
func (h *faultFile) NextData(off int64) (int64, error) {
	return readOnly(h.fs, Event{Kind: OpRead, Path: h.name, Off: off}, func() (int64, error) {
		if h.closed {
			return 0, &fs.PathError{Op: "lseek", Path: h.name, Err: os.ErrClosed}
		}
		return h.base.NextData(off)
	})
}

// Fadvise passes the advice to the base file. It changes nothing a crash
// could undo (advice about the page cache), so it logs nothing; a hook
// may fail it like any operation (OpAdvise), and callers take that as
// advice not taken.
func (h *faultFile) Fadvise(off, n int64, advice Advice) error {
	_, err := readOnly(h.fs, Event{Kind: OpAdvise, Path: h.name, Off: off, Len: int(n)}, func() (struct{}, error) {
		if h.closed {
			return struct{}{}, &fs.PathError{Op: "fadvise", Path: h.name, Err: os.ErrClosed}
		}
		return struct{}{}, h.base.Fadvise(off, n, advice)
	})
	return err
}

// Stat describes the base file.
func (h *faultFile) Stat() (fs.FileInfo, error) {
	return readOnly(h.fs, Event{Kind: OpStat, Path: h.name}, func() (fs.FileInfo, error) {
		if h.closed {
			return nil, &fs.PathError{Op: "stat", Path: h.name, Err: os.ErrClosed}
		}
		return h.base.Stat()
	})
}

// Sync makes the file's contents durable.
func (h *faultFile) Sync() error { return h.sync(OpSync) }

// Datasync makes the file's contents durable (Fault does not tell data from
// metadata: the size is part of what a data sync keeps).
func (h *faultFile) Datasync() error { return h.sync(OpDatasync) }

// change runs op under Fault.change, refused first on a closed handle
// (before the hook's decision can fail it).
func (h *faultFile) change(ev Event, op func() error) error {
	return h.fs.change(ev, func() error {
		if h.closed {
			return &fs.PathError{Op: ev.Kind.String(), Path: h.name, Err: os.ErrClosed}
		}
		return nil
	}, op)
}

func (h *faultFile) sync(kind Kind) error {
	return h.change(Event{Kind: kind, Path: h.name}, func() error { return h.syncLocked(kind) })
}

// syncLocked is the effect of sync, run by change with f.mu held.
func (h *faultFile) syncLocked(kind Kind) error {
	f := h.fs
	if f.PassSyncs {
		var err error
		if kind == OpSync {
			err = h.base.Sync()
		} else {
			err = h.base.Datasync()
		}
		if err != nil {
			return err
		}
	}
	h.node.undo = nil
	return nil
}

// Preallocate reserves the blocks of [off, off+n) through the base's
// Preallocate. It changes neither the size nor the contents, so it logs
// nothing: a crash finds the range as the writes left it, and a range no
// write reached reads as zeros (a hole or an allocated but unwritten
// extent), as it would have without the reservation.
func (h *faultFile) Preallocate(off, n int64) error {
	return h.change(Event{Kind: OpPreallocate, Path: h.name, Off: off, Len: int(n)}, func() error {
		return h.base.Preallocate(off, n)
	})
}

// Truncate changes the file's size, logging what it drops (or, growing
// it, the new zeros).
func (h *faultFile) Truncate(size int64) error {
	return h.change(Event{Kind: OpTruncate, Path: h.name, Off: size}, func() error { return h.truncateLocked(size) })
}

// Close closes the base file; after a Crash (which closed it) it is a
// no-op.
func (h *faultFile) Close() error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	delete(f.files, h)
	return h.base.Close()
}

// memFile is a file's contents in memory.
type memFile struct{ b []byte }

// WriteAt writes p at off, growing the contents as needed.
func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.Truncate(end)
	}
	return copy(m.b[off:], p), nil
}

// Truncate sets the size, zero-filling growth.
func (m *memFile) Truncate(size int64) error {
	if size <= int64(len(m.b)) {
		m.b = m.b[:size]
		return nil
	}
	m.b = append(m.b, make([]byte, size-int64(len(m.b)))...)
	return nil
}
