package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	// ReadOnly opens the log without writing anything: no directory or
	// file is created, written, truncated, renamed or removed, and nothing
	// is fsynced, so it works on a read-only mount. A torn tail is ignored
	// in memory (the records a writable Open would cut are not replayed)
	// and an interrupted truncation is applied in memory. A missing
	// directory is an error wrapping os.ErrNotExist. Append, Sync and
	// TruncateFront return errors wrapping errs.ErrReadOnly.
	ReadOnly bool
}

// Log is the tombstone write-ahead log. One goroutine at a time may call
// its writing methods (Append, Sync, TruncateFront, Close); Size, FirstSeq
// and LastSeq may be called from any goroutine at any time.
type Log struct {
	dir  string
	opts Options
	size atomic.Int64 // bytes of all segment files; read without mu

	mu       sync.Mutex
	tw       *tidwall.Log // nil when read-only
	closed   bool
	err      error     // first write-path failure; the Log refuses work after it
	first    uint64    // tidwall's FirstIndex: the first Seq, last+1 when empty
	last     uint64    // tidwall's LastIndex: the last Seq ever appended
	synced   uint64    // highest Seq known durable
	gen      uint64    // stamped on every Append (SetGen)
	segs     []segInfo // every segment file, ascending (sizes as of Open or the last truncation)
	tailSize int64     // size of the last segment file (== tidwall's tail buffer)
	scratch  []byte
}

// Open opens the log in dir, creating dir and an empty log if needed, and
// repairs a torn tail left by a crash (see the package documentation). It
// fails with errs.ErrCorrupt, naming the file and offset, when the segment
// files do not chain (a file cut short or missing between two others). With
// Options.ReadOnly it writes nothing (see there).
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal %s: segment size %d: %w", dir, opts.SegmentSize, errs.ErrInvalidArgument)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	l := &Log{dir: dir, opts: opts}
	if opts.ReadOnly {
		if err := l.loadReadOnly(); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("wal %s: create: %w", dir, err)
	}
	if err := prepare(dir, opts.Durable); err != nil {
		return nil, err
	}
	topts := l.tidwallOptions() // tidwall.Open writes defaults into its argument
	var tw *tidwall.Log
	err := guard(func() (err error) {
		tw, err = tidwall.Open(dir, &topts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("wal %s: open: %w", dir, fromTidwall(err))
	}
	l.tw = tw
	if err := l.load(); err != nil {
		closeTidwall(tw)
		return nil, err
	}
	return l, nil
}

// loadReadOnly is Open for Options.ReadOnly: it reads the files tidwall's
// load would leave (pending truncation applied in memory), checks that they
// chain, and finds the end of the good prefix of the last one without
// cutting anything.
func (l *Log) loadReadOnly() error {
	st, err := scanDir(l.dir)
	if err != nil {
		return err
	}
	segs, err := st.view(l.dir)
	if err != nil {
		return err
	}
	if err := checkChain(segs); err != nil {
		return err
	}
	l.first, l.last = 1, 0 // what tidwall reports for a new, empty log
	if n := len(segs); n > 0 {
		tail := segs[n-1]
		buf, err := os.ReadFile(tail.path)
		if err != nil {
			return fmt.Errorf("wal %s: %w", tail.path, err)
		}
		_, next, err := checkTail(buf, tail.first, l.opts.Durable)
		if err != nil {
			return fmt.Errorf("wal %s: %w", tail.path, err)
		}
		l.first, l.last = segs[0].first, next-1
		l.tailSize = tail.size
	}
	l.synced = l.last
	l.segs = segs
	var total int64
	for _, s := range segs {
		total += s.size
	}
	l.size.Store(total)
	return nil
}

func (l *Log) tidwallOptions() tidwall.Options {
	return tidwall.Options{
		NoSync:           l.opts.NoSync,
		SegmentSize:      l.opts.SegmentSize,
		LogFormat:        tidwall.Binary,
		SegmentCacheSize: 1, // only TruncateFront reads through tidwall (Replay and Verify parse the files)
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
	err := guard(func() (err error) {
		if l.first, err = l.tw.FirstIndex(); err != nil {
			return err
		}
		l.last, err = l.tw.LastIndex()
		return err
	})
	if err != nil {
		return fmt.Errorf("wal %s: %w", l.dir, fromTidwall(err))
	}
	if err := guard(l.tw.Sync); err != nil {
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
	l.segs = st.segs
	var total int64
	for _, s := range st.segs {
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
	if err := l.writable("append"); err != nil {
		return 0, err
	}
	seq := l.last + 1
	l.scratch = AppendRecord(l.scratch[:0], Record{Seq: seq, Synced: l.synced, Gen: l.gen, IDs: ids})
	n := entrySize(len(l.scratch))
	// tidwall cycles before a write when the tail already exceeds the
	// target (possible after Open or a truncation) and after a write that
	// fills it; either way the new file's directory entry needs an fsync.
	cycleFirst := l.tailSize > int64(l.opts.SegmentSize)
	err := guard(func() error { return l.tw.Write(seq, l.scratch) })
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
	if n := len(l.segs); n == 0 || l.segs[n-1].first < first {
		l.segs = append(l.segs, segInfo{first: first, path: name})
	}
	l.tailSize = 0
	l.synced = max(l.synced, first-1)
	return nil
}

// SetGen sets the generation stamped on every later Append (Record.Gen):
// the caller passes the manifest generation in force, so that a record
// carrying a generation newer than the manifest proves the manifest was
// rolled back. Like Append, it is called by the single writer.
func (l *Log) SetGen(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen = gen
}

// Sync makes every appended record durable. It is needed only with
// Options.NoSync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable("sync"); err != nil {
		return err
	}
	return l.sync()
}

func (l *Log) sync() error {
	if l.synced == l.last {
		return nil
	}
	if err := guard(l.tw.Sync); err != nil {
		return l.fail(fmt.Errorf("wal %s: sync: %w", l.dir, fromTidwall(err)))
	}
	l.synced = l.last
	return nil
}

// FirstSeq returns the Seq of the first record present in the log (the
// first index of its first segment file), or 0 when the log holds no
// record. The log cannot tell that its first file went missing; the caller
// checks it against its checkpoint (see the package documentation).
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
	if err := l.writable("truncate"); err != nil {
		return err
	}
	if seq > l.last+1 {
		return fmt.Errorf("wal %s: truncate front to seq %d past last seq %d: %w", l.dir, seq, l.last, errs.ErrInvalidArgument)
	}
	if seq <= l.first {
		return nil
	}
	if err := guard(func() error { return l.tw.TruncateFront(seq) }); err != nil {
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

// Close syncs the log and releases it. It releases every descriptor even
// when the sync fails, and then returns the failure. A second Close returns
// an error wrapping errs.ErrClosed, as do all other methods after Close
// (FirstSeq, LastSeq and Size keep returning their last values).
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("wal %s: %w", l.dir, errs.ErrClosed)
	}
	l.closed = true
	if l.tw == nil { // read-only: no descriptor is held between calls
		return nil
	}
	if l.err != nil {
		closeTidwall(l.tw) // tidwall may refuse after the failure; the fd is all that is left
		return fmt.Errorf("wal %s: closed after an earlier failure: %w", l.dir, l.err)
	}
	err := l.sync()
	if cerr := closeTidwall(l.tw); cerr != nil {
		err = errors.Join(err, fmt.Errorf("wal %s: close: %w", l.dir, cerr))
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

// writable reports why op, a write, cannot run, if it cannot.
func (l *Log) writable(op string) error {
	if err := l.usable(); err != nil {
		return err
	}
	if l.tw == nil {
		return fmt.Errorf("wal %s: %s: %w", l.dir, op, errs.ErrReadOnly)
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
