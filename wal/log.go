package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
	tidwall "github.com/tidwall/wal"
)

// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
// tidwall keeps the whole last segment in memory, so it is kept small.
const DefaultSegmentSize = 4 << 20

// maxScratch caps the encoding buffer a Log keeps between appends.
const maxScratch = 64 << 10

// Options configures Open.
type Options struct {
	// NoSync makes records durable at Sync or Close instead of on Append.
	NoSync bool
	// SegmentSize is tidwall's target segment file size in bytes; 0 means
	// DefaultSegmentSize. A segment is closed once it reaches this size.
	SegmentSize int
	// Durable is a Seq known to have been made durable (the caller recorded
	// it at a clean close). A damaged record at or below it is corruption,
	// never a torn tail: Open reports it and leaves the file as it is.
	Durable uint64
}

// Log is the tombstone write-ahead log. One goroutine at a time may call
// its writing methods (Append, Sync, TruncateFront, Close); Size, FirstSeq
// and LastSeq may be called from any goroutine at any time.
type Log struct {
	dir  string
	opts Options
	size atomic.Int64 // bytes of all segment files; read without mu

	mu       sync.Mutex
	tw       *tidwall.Log
	closed   bool
	err      error    // first write-path failure; the Log refuses work after it
	first    uint64   // tidwall's FirstIndex: the first Seq, last+1 when empty
	last     uint64   // tidwall's LastIndex: the last Seq ever appended
	synced   uint64   // highest Seq known durable
	segs     []uint64 // first Seq of every segment file, ascending
	tailSize int64    // size of the last segment file (== tidwall's tail buffer)
	scratch  []byte
}

// Open opens the log in dir, creating dir and an empty log if needed, and
// repairs a torn tail left by a crash (see the package documentation).
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal %s: segment size %d: %w", dir, opts.SegmentSize, errs.ErrInvalidArgument)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	l := &Log{dir: dir, opts: opts}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("wal %s: create: %w", dir, err)
	}
	if err := prepare(dir, l.tidwallOptions(), opts.Durable); err != nil {
		return nil, err
	}
	topts := l.tidwallOptions() // tidwall.Open writes defaults into its argument
	tw, err := tidwall.Open(dir, &topts)
	if err != nil {
		return nil, fmt.Errorf("wal %s: open: %w", dir, fromTidwall(err))
	}
	l.tw = tw
	if err := l.load(); err != nil {
		tw.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) tidwallOptions() tidwall.Options {
	return tidwall.Options{
		NoSync:           l.opts.NoSync,
		SegmentSize:      l.opts.SegmentSize,
		LogFormat:        tidwall.Binary,
		SegmentCacheSize: 1, // Replay reads forward; one older segment in RAM is enough
		NoCopy:           true,
		AllowEmpty:       true,
		DirPerms:         0o755,
		FilePerms:        0o644,
	}
}

// load reads tidwall's bounds, makes every existing record durable (a
// process crash can leave appended records in the page cache only; tidwall
// may just have created the first segment) and records that as the Synced
// watermark.
func (l *Log) load() error {
	var err error
	if l.first, err = l.tw.FirstIndex(); err != nil {
		return fmt.Errorf("wal %s: %w", l.dir, fromTidwall(err))
	}
	if l.last, err = l.tw.LastIndex(); err != nil {
		return fmt.Errorf("wal %s: %w", l.dir, fromTidwall(err))
	}
	if err := l.tw.Sync(); err != nil {
		return fmt.Errorf("wal %s: sync: %w", l.dir, fromTidwall(err))
	}
	if err := vfs.OS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("wal %s: %w", l.dir, err)
	}
	l.synced = l.last
	return l.rescan()
}

// rescan reloads the segment list and sizes from the directory; it runs
// after Open and after a truncation rewrote files.
func (l *Log) rescan() error {
	st, err := scanDir(l.dir)
	if err != nil {
		return err
	}
	l.segs = l.segs[:0]
	var total int64
	for _, s := range st.segs {
		l.segs = append(l.segs, s.first)
		total += s.size
	}
	l.tailSize = 0
	if n := len(st.segs); n > 0 {
		l.tailSize = st.segs[n-1].size
	}
	l.size.Store(total)
	return nil
}

// makeDir creates dir if it is missing and then fsyncs every directory it
// created and the parent of the topmost one, so the new path survives power
// loss.
func makeDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var created []string
	for p := abs; ; p = filepath.Dir(p) {
		_, err := os.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(p) == p {
			return err
		}
		created = append(created, p)
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	for _, p := range created {
		if err := vfs.OS.SyncDir(p); err != nil {
			return err
		}
	}
	return vfs.OS.SyncDir(filepath.Dir(created[len(created)-1]))
}

// Append writes one record holding ids and returns its Seq. Unless
// Options.NoSync is set the record is durable when Append returns. ids must
// not be empty. After Append fails the record may or may not be in the log;
// the Log refuses further work and must be closed and reopened.
func (l *Log) Append(ids []uint64) (uint64, error) {
	if len(ids) == 0 || uint64(len(ids)) > maxIDs {
		return 0, fmt.Errorf("wal %s: append of %d IDs: %w", l.dir, len(ids), errs.ErrInvalidArgument)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	seq := l.last + 1
	l.scratch = AppendRecord(l.scratch[:0], Record{Seq: seq, Synced: l.synced, IDs: ids})
	n := entrySize(len(l.scratch))
	// tidwall cycles before a write when the tail already exceeds the
	// target (possible after Open or a truncation) and after a write that
	// fills it; either way the new file's directory entry needs an fsync.
	cycleFirst := l.tailSize > int64(l.opts.SegmentSize)
	err := l.tw.Write(seq, l.scratch)
	if cap(l.scratch) > maxScratch {
		l.scratch = nil
	}
	if err != nil {
		return 0, l.fail(fmt.Errorf("wal %s: append seq %d: %w", l.dir, seq, fromTidwall(err)))
	}
	l.last = seq
	l.size.Add(n)
	if cycleFirst {
		if err := l.noteCycle(seq); err != nil {
			return 0, err
		}
	}
	l.tailSize += n
	if err := l.noteCycle(seq + 1); err != nil {
		return 0, err
	}
	if !l.opts.NoSync {
		l.synced = seq
	}
	return seq, nil
}

// noteCycle checks whether tidwall has just created the segment file that
// starts at first. tidwall never fsyncs its directory, so noteCycle does,
// before Append reports the record durable. tidwall fsyncs a segment before
// it creates the next one, so every Seq below first is then durable.
func (l *Log) noteCycle(first uint64) error {
	name := filepath.Join(l.dir, segmentName(first))
	if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return l.fail(fmt.Errorf("wal %s: %w", name, err))
	}
	if err := vfs.OS.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("wal %s: new segment %s: %w", l.dir, name, err))
	}
	if n := len(l.segs); n == 0 || l.segs[n-1] < first {
		l.segs = append(l.segs, first)
	}
	l.tailSize = 0
	l.synced = max(l.synced, first-1)
	return nil
}

// Sync makes every appended record durable. It is needed only with
// Options.NoSync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.sync()
}

func (l *Log) sync() error {
	if l.synced == l.last {
		return nil
	}
	if err := l.tw.Sync(); err != nil {
		return l.fail(fmt.Errorf("wal %s: sync: %w", l.dir, fromTidwall(err)))
	}
	l.synced = l.last
	return nil
}

// FirstSeq returns the Seq of the first record in the log, or 0 when the
// log holds no record.
func (l *Log) FirstSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first > l.last {
		return 0
	}
	return l.first
}

// LastSeq returns the Seq of the last record ever appended, even when
// TruncateFront has since dropped it: the next Append returns LastSeq()+1.
// It is 0 only for a log that has never held a record. A torn tail cut at
// Open was never appended as far as LastSeq is concerned.
func (l *Log) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// TruncateFront drops every record whose Seq is below seq. seq may be
// LastSeq()+1, which empties the log without resetting the numbering; a seq
// at or below the first record is a no-op.
func (l *Log) TruncateFront(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if seq > l.last+1 {
		return fmt.Errorf("wal %s: truncate front to seq %d past last seq %d: %w", l.dir, seq, l.last, errs.ErrInvalidArgument)
	}
	if seq <= l.first {
		return nil
	}
	if err := l.tw.TruncateFront(seq); err != nil {
		return l.fail(fmt.Errorf("wal %s: truncate front to seq %d: %w", l.dir, seq, fromTidwall(err)))
	}
	l.first = seq
	// tidwall renamed and removed files without syncing the directory.
	if err := vfs.OS.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("wal %s: %w", l.dir, err))
	}
	if err := l.rescan(); err != nil {
		return l.fail(err)
	}
	return nil
}

// Size returns the bytes of the log's segment files on disk. It never
// blocks on a writer.
func (l *Log) Size() int64 { return l.size.Load() }

// Close syncs the log and releases it. A second Close returns an error
// wrapping errs.ErrClosed, as do all other methods after Close (FirstSeq,
// LastSeq and Size keep returning their last values).
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("wal %s: %w", l.dir, errs.ErrClosed)
	}
	l.closed = true
	if l.err != nil {
		l.tw.Close() // tidwall may refuse after the failure; the fd is all that is left
		return fmt.Errorf("wal %s: closed after an earlier failure: %w", l.dir, l.err)
	}
	err := l.sync()
	if cerr := l.tw.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("wal %s: close: %w", l.dir, fromTidwall(cerr)))
	}
	return err
}

// usable reports why the Log cannot be used, if it cannot.
func (l *Log) usable() error {
	if l.closed {
		return fmt.Errorf("wal %s: %w", l.dir, errs.ErrClosed)
	}
	if l.err != nil {
		return fmt.Errorf("wal %s: unusable after an earlier failure: %w", l.dir, l.err)
	}
	return nil
}

// fail records the first write-path failure. After a failed write or fsync
// neither tidwall's in-memory tail nor the page cache can be trusted.
func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = err
	}
	return err
}

// segmentPath names the segment file that holds seq.
func (l *Log) segmentPath(seq uint64) string {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i] > seq }) - 1
	if i < 0 {
		return l.dir
	}
	return filepath.Join(l.dir, segmentName(l.segs[i]))
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
