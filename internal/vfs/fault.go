package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is a kind of file-system operation. Kinds are bits, so a hook can
// match several at once (AnySync, AnyKind).
type Kind uint32

// The operations Fault counts and can fail. Releasing a resource (File.Close,
// FS.Unmap, Lock.Unlock) is not among them: it always succeeds and changes
// nothing on disk.
const (
	OpOpen        Kind = 1 << iota // FS.OpenFile
	OpRead                         // File.ReadAt, FS.ReadFile
	OpWrite                        // File.WriteAt, File.Write
	OpSync                         // File.Sync
	OpDatasync                     // File.Datasync
	OpTruncate                     // File.Truncate
	OpPreallocate                  // File.Preallocate
	OpRename                       // FS.Rename
	OpRemove                       // FS.Remove
	OpReadDir                      // FS.ReadDir
	OpStat                         // FS.Stat, File.Stat
	OpMkdir                        // FS.MkdirAll
	OpSyncDir                      // FS.SyncDir
	OpLock                         // FS.Lock
	OpMap                          // FS.Map
	OpAdvise                       // File.Fadvise
	opEnd

	// AnySync matches every operation that makes something durable.
	AnySync = OpSync | OpDatasync | OpSyncDir
	// AnyWrite matches every operation that changes a file's contents,
	// size or blocks.
	AnyWrite = OpWrite | OpTruncate | OpPreallocate
	// AnyKind matches every operation.
	AnyKind = opEnd - 1
)

var kindNames = [...]string{"open", "read", "write", "sync", "datasync", "truncate", "preallocate",
	"rename", "remove", "readdir", "stat", "mkdir", "syncdir", "lock", "mmap", "fadvise"}

// String names a single kind ("write"), or joins the names of a set with
// "|".
func (k Kind) String() string {
	var parts []string
	for i, name := range kindNames {
		if k&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("Kind(%#x)", uint32(k))
	}
	return strings.Join(parts, "|")
}

// Event describes one operation as a Hook sees it, before it runs.
type Event struct {
	Kind Kind
	Path string // the file or directory (Rename: the source)
	To   string // Rename: the target
	Off  int64  // ReadAt, WriteAt, Write, Preallocate, Fadvise: the offset; Truncate: the size
	Len  int    // ReadAt, WriteAt, Write, Preallocate, Fadvise: the number of bytes
	N    int    // this is the N-th operation of its Kind (1-based)
	Seq  int    // this is the Seq-th operation of any kind (1-based)
}

// Decision is what a Hook wants done with one operation. The zero Decision
// lets it run normally.
type Decision struct {
	// Err, when set, fails the operation: it returns Err (wrapped in an
	// *fs.PathError naming the operation and path, so errors.Is(err, Err)
	// holds) and, unless Short or After say otherwise, has no effect.
	Err error
	// Short, for a write failed with Err, writes the first Short bytes
	// (clamped to the write's length) before failing: a short write.
	Short int
	// After, with Err, lets the operation take full effect before Err is
	// returned: a sync that reached the disk but reported an error, a
	// rename whose success was not reported.
	After bool
	// Crash cuts the power right after the operation (or its failure) took
	// effect: Fault.Crash runs and the operation returns ErrCrashed. A
	// Crash on a Sync keeps what it synced; on a write it loses the write
	// with every other unsynced one (see Torn).
	Crash bool
	// Torn makes the Crash torn: see Fault.CrashTorn.
	Torn bool
}

func (d Decision) injects() bool { return d.Err != nil || d.Crash }

// fails reports whether d fails the operation before it takes (full)
// effect.
func (d Decision) fails() bool { return d.Err != nil && !d.After }

// Hook decides the fate of each operation of a Fault. It is called without
// any lock of the Fault held, from the goroutine doing the operation, and
// may call the Fault's Count, Counts and Injected.
type Hook func(Event) Decision

// Nth returns a Hook that applies d to the n-th operation (1-based) whose
// Kind is in kinds and whose path ends in suffix ("" for any path), and
// lets every other operation through. Its count is its own: it counts only
// the operations it matches.
func Nth(kinds Kind, suffix string, n int, d Decision) Hook {
	var seen atomic.Int64
	return func(ev Event) Decision {
		if ev.Kind&kinds == 0 || !strings.HasSuffix(ev.Path, suffix) {
			return Decision{}
		}
		if seen.Add(1) == int64(n) {
			return d
		}
		return Decision{}
	}
}

// ErrCrashed is wrapped by the error of every operation of a Fault after
// its Crash: the simulated machine is off until a test opens the store
// again with a fresh FS.
var ErrCrashed = errors.New("vfs: simulated power loss (the machine is off)")

// Fault is an FS over another one (its base, normally OS) that injects
// failures into chosen operations and simulates power loss. It works on
// the base's real files, so mappings keep working, and keeps shadow
// bookkeeping of what is durable:
//
//   - a file's durable contents are those as of its last successful Sync
//     or Datasync: every change since then (WriteAt, Write, Truncate,
//     O_TRUNC) is kept in an undo log of the bytes it overwrote
//     (Preallocate changes no byte and no size: a reserved range that no
//     write reached reads as zeros, before a crash and after);
//   - a directory's durable entries are those as of its last successful
//     SyncDir: files created, renamed or removed since then, and
//     directories MkdirAll created in it, are not durable yet (a file
//     replaced or removed while a durable entry still names it is kept in
//     memory until the directory is synced).
//
// Crash rolls the base's files back to that durable state and turns the
// Fault off. Files and directories Fault never touched (the WAL, which
// tidwall writes itself) are left alone: they count as durable. A directory
// is tracked from the first operation on a file in it; the files it holds
// then count as durable.
//
// Syncs are not passed to the base FS unless PassSyncs is set: the
// simulation, not the disk, decides what survives, and tests that reopen a
// store in the same process read the page cache anyway. Files are opened
// on the base read-write when asked write-only, so that Fault can read what
// a write overwrites; O_APPEND is not supported.
//
// A Fault is safe for concurrent use; its operations are serialised.
type Fault struct {
	base FS
	// PassSyncs passes Sync, Datasync and SyncDir on to the base FS, for a
	// test that also wants the real disk durable.
	PassSyncs bool
	// Sector is the granularity of a torn crash in bytes: each sector of a
	// file holds its contents as of one moment since the last sync.
	// Default 512.
	Sector int

	hook atomic.Pointer[Hook]

	mu       sync.Mutex
	rng      *rand.Rand
	counts   [32]int
	seq      int
	injected int
	crashed  bool
	dirs     map[string]*dirState
	files    map[*faultFile]struct{} // open handles
	locks    map[*faultLock]struct{} // held locks
}

// dirState is Fault's view of one directory's regular files.
type dirState struct {
	path    string
	cur     map[string]*node // as they are now
	durable map[string]*node // as of the last SyncDir
	newDirs map[string]bool  // subdirectories MkdirAll created since the last SyncDir
}

// node is one file (an inode) Fault has seen.
type node struct {
	path string // current path; "" once unlinked
	size int64  // current size
	// undo holds the changes since the last sync, oldest first; undoing
	// them all in reverse gives the durable contents.
	undo []change
	// mem mirrors the contents of an unlinked file that a durable entry
	// still names (the real file may be gone).
	mem *memFile
}

// change is one unsynced change to a file: it replaced the bytes of
// [off, off+n) and changed the size from size.
type change struct {
	off  int64
	n    int64
	old  []byte // the previous bytes of [off, off+len(old)); the rest of the range lay past the end of the file (zeros)
	size int64  // the file's size before the change
}

// NewFault returns a Fault over base (nil: OS). seed drives the random
// choices of CrashTorn.
func NewFault(base FS, seed uint64) *Fault {
	return &Fault{
		base:  Or(base),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		dirs:  map[string]*dirState{},
		files: map[*faultFile]struct{}{},
		locks: map[*faultLock]struct{}{},
	}
}

// SetHook installs h (nil: none), replacing any earlier hook.
func (f *Fault) SetHook(h Hook) {
	if h == nil {
		f.hook.Store(nil)
		return
	}
	f.hook.Store(&h)
}

// Count returns how many operations of the kinds in kinds have been
// attempted, failed ones included.
func (f *Fault) Count(kinds Kind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i := range f.counts {
		if kinds&(1<<i) != 0 {
			n += f.counts[i]
		}
	}
	return n
}

// Counts returns the number of operations attempted, by kind.
func (f *Fault) Counts() map[Kind]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[Kind]int{}
	for i, n := range f.counts {
		if n > 0 {
			out[Kind(1)<<i] = n
		}
	}
	return out
}

// Injected returns how many operations a hook failed or crashed.
func (f *Fault) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// Crashed reports whether the power has been cut.
func (f *Fault) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// begin counts ev and asks the hook about it.
func (f *Fault) begin(ev Event) (Event, Decision, error) {
	f.mu.Lock()
	if f.crashed {
		f.mu.Unlock()
		return ev, Decision{}, crashedError(ev)
	}
	f.seq++
	ev.Seq = f.seq
	i := bits.TrailingZeros32(uint32(ev.Kind))
	f.counts[i]++
	ev.N = f.counts[i]
	f.mu.Unlock()
	var d Decision
	if h := f.hook.Load(); h != nil {
		d = (*h)(ev)
	}
	if d.injects() {
		f.mu.Lock()
		f.injected++
		f.mu.Unlock()
	}
	return ev, d, nil
}

// lockOp takes f.mu for an operation begun by begin; it fails if the power
// was cut meanwhile. The caller unlocks.
func (f *Fault) lockOp(ev Event) error {
	f.mu.Lock()
	if f.crashed {
		f.mu.Unlock()
		return crashedError(ev)
	}
	return nil
}

// readOnly runs a read-only operation under the hook's decision: it fails
// before it runs if the decision says so, and an injected crash comes after
// it (a read changes nothing a crash could undo).
func readOnly[T any](f *Fault, ev Event, op func() (T, error)) (T, error) {
	var zero T
	ev, d, err := f.enter(ev)
	if err != nil {
		return zero, err
	}
	defer f.mu.Unlock()
	if d.fails() {
		return zero, f.finishLocked(ev, d)
	}
	v, err := op()
	if err != nil {
		return zero, err
	}
	return v, f.finishLocked(ev, d)
}

// acquire runs op, an operation that changes what is on disk or hands out
// a resource (a file, a lock, a mapping), under the hook's decision for ev,
// with f.mu held: refuse (if not nil) may reject it first; a decision that
// fails it stops it before op; an error of op is returned as it is;
// otherwise the decision's end (an error or crash after the effect)
// applies, and if that fails the operation, undo (if not nil) releases
// what op handed out.
func acquire[T any](f *Fault, ev Event, refuse func() error, op func() (T, error), undo func(T)) (T, error) {
	var zero T
	ev, d, err := f.enter(ev)
	if err != nil {
		return zero, err
	}
	defer f.mu.Unlock()
	if refuse != nil {
		if err := refuse(); err != nil {
			return zero, err
		}
	}
	if d.fails() {
		return zero, f.finishLocked(ev, d)
	}
	v, err := op()
	if err != nil {
		return zero, err
	}
	if err := f.finishLocked(ev, d); err != nil {
		if undo != nil {
			undo(v)
		}
		return zero, err
	}
	return v, nil
}

// change is acquire for an operation that hands out nothing.
func (f *Fault) change(ev Event, refuse, op func() error) error {
	_, err := acquire(f, ev, refuse, func() (struct{}, error) { return struct{}{}, op() }, nil)
	return err
}

// enter is begin then lockOp: on success f.mu is held and the caller
// unlocks it.
func (f *Fault) enter(ev Event) (Event, Decision, error) {
	ev, d, err := f.begin(ev)
	if err != nil {
		return ev, d, err
	}
	return ev, d, f.lockOp(ev)
}

// finishLocked applies the end of decision d to an operation that has taken
// the effect d allowed: the crash, or the injected error.
func (f *Fault) finishLocked(ev Event, d Decision) error {
	if d.Crash {
		f.crashLocked(d.Torn)
		return crashedError(ev)
	}
	if d.Err != nil {
		return &fs.PathError{Op: ev.Kind.String(), Path: ev.Path, Err: d.Err}
	}
	return nil
}

func crashedError(ev Event) error {
	return &fs.PathError{Op: ev.Kind.String(), Path: ev.Path, Err: ErrCrashed}
}

func abs(name string) string {
	p, err := filepath.Abs(name)
	if err != nil {
		return filepath.Clean(name)
	}
	return p
}

// dirLocked returns the state of directory dir, tracking it from now on:
// the regular files it holds are taken as durable.
func (f *Fault) dirLocked(dir string) *dirState {
	if ds, ok := f.dirs[dir]; ok {
		return ds
	}
	ds := &dirState{path: dir, cur: map[string]*node{}, durable: map[string]*node{}, newDirs: map[string]bool{}}
	f.dirs[dir] = ds
	entries, _ := f.base.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		n := &node{path: filepath.Join(dir, e.Name()), size: info.Size()}
		ds.cur[e.Name()] = n
		ds.durable[e.Name()] = n
	}
	return ds
}

// nodeLocked returns the node of the file at path p (absolute), creating
// one for a file Fault has not seen yet; exists says whether the file is
// there (when Fault does not know it, the base FS is asked).
func (f *Fault) nodeLocked(p string) (*node, bool) {
	ds := f.dirLocked(filepath.Dir(p))
	name := filepath.Base(p)
	if n, ok := ds.cur[name]; ok {
		return n, true
	}
	info, err := f.base.Stat(p)
	if err != nil || !info.Mode().IsRegular() {
		return nil, false
	}
	// A file that appeared behind Fault's back: taken as durable.
	n := &node{path: p, size: info.Size()}
	ds.cur[name] = n
	ds.durable[name] = n
	return n, true
}

// durableLocked reports whether some durable directory entry names n.
func (f *Fault) durableLocked(n *node) bool {
	for _, ds := range f.dirs {
		for _, m := range ds.durable {
			if m == n {
				return true
			}
		}
	}
	return false
}

// unlinkLocked records that the entry of n at path p goes away (removed or
// replaced by a rename). If a durable entry still names n, its contents are
// kept in memory so that Crash can bring it back.
func (f *Fault) unlinkLocked(n *node) error {
	if f.durableLocked(n) && n.mem == nil {
		b, err := f.base.ReadFile(n.path)
		if err != nil {
			return err
		}
		n.mem = &memFile{b: b}
	}
	n.path = ""
	return nil
}

// OpenFile opens name on the base FS, tracking the file.
func (f *Fault) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	h, err := acquire(f, Event{Kind: OpOpen, Path: name}, nil, func() (*faultFile, error) {
		return f.openLocked(name, flag, perm)
	}, (*faultFile).forgetLocked)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// openLocked is the effect of OpenFile, run by acquire with f.mu held.
func (f *Fault) openLocked(name string, flag int, perm fs.FileMode) (*faultFile, error) {
	if flag&os.O_APPEND != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("vfs.Fault: O_APPEND is not supported")}
	}
	p := abs(name)
	n, exists := f.nodeLocked(p)
	bflag := flag &^ os.O_TRUNC
	if bflag&(os.O_WRONLY|os.O_RDWR) == os.O_WRONLY {
		bflag = bflag&^os.O_WRONLY | os.O_RDWR
	}
	bf, err := f.base.OpenFile(name, bflag, perm)
	if err != nil {
		return nil, err
	}
	if !exists {
		n = &node{path: p}
		f.dirLocked(filepath.Dir(p)).cur[filepath.Base(p)] = n
	}
	h := &faultFile{fs: f, base: bf, node: n, name: name}
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 && n.size > 0 {
		if err := h.truncateLocked(0); err != nil {
			bf.Close()
			return nil, err
		}
	}
	f.files[h] = struct{}{}
	return h, nil
}

// ReadFile reads name from the base FS.
func (f *Fault) ReadFile(name string) ([]byte, error) {
	return readOnly(f, Event{Kind: OpRead, Path: name}, func() ([]byte, error) { return f.base.ReadFile(name) })
}

// Stat describes name on the base FS.
func (f *Fault) Stat(name string) (fs.FileInfo, error) {
	return readOnly(f, Event{Kind: OpStat, Path: name}, func() (fs.FileInfo, error) { return f.base.Stat(name) })
}

// ReadDir lists name on the base FS.
func (f *Fault) ReadDir(name string) ([]fs.DirEntry, error) {
	return readOnly(f, Event{Kind: OpReadDir, Path: name}, func() ([]fs.DirEntry, error) { return f.base.ReadDir(name) })
}

// MkdirAll creates name and its missing parents; until their parents are
// synced, a Crash removes them again with everything in them.
func (f *Fault) MkdirAll(name string, perm fs.FileMode) error {
	return f.change(Event{Kind: OpMkdir, Path: name}, nil, func() error {
		return f.mkdirAllLocked(name, perm)
	})
}

// mkdirAllLocked is the effect of MkdirAll, run by change with f.mu held.
func (f *Fault) mkdirAllLocked(name string, perm fs.FileMode) error {
	var created []string
	for p := abs(name); ; p = filepath.Dir(p) {
		if _, err := f.base.Stat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		created = append(created, p)
	}
	// Track the parents before anything appears in them.
	for _, p := range created {
		f.dirLocked(filepath.Dir(p))
	}
	if err := f.base.MkdirAll(name, perm); err != nil {
		return err
	}
	for _, p := range created {
		f.dirLocked(filepath.Dir(p)).newDirs[filepath.Base(p)] = true
		f.dirLocked(p)
	}
	return nil
}

// Rename renames oldpath to newpath on the base FS; until the directories
// are synced, a Crash undoes it.
func (f *Fault) Rename(oldpath, newpath string) error {
	ev, d, err := f.enter(Event{Kind: OpRename, Path: oldpath, To: newpath})
	if err != nil {
		return err
	}
	defer f.mu.Unlock()
	if d.fails() {
		return f.finishLocked(ev, d)
	}
	from, to := abs(oldpath), abs(newpath)
	n, ok := f.nodeLocked(from)
	if !ok {
		return f.base.Rename(oldpath, newpath) // reports the missing file
	}
	if from != to {
		if old, ok := f.nodeLocked(to); ok {
			if err := f.unlinkLocked(old); err != nil {
				return err
			}
		}
	}
	if err := f.base.Rename(oldpath, newpath); err != nil {
		return err
	}
	delete(f.dirLocked(filepath.Dir(from)).cur, filepath.Base(from))
	f.dirLocked(filepath.Dir(to)).cur[filepath.Base(to)] = n
	n.path = to
	return f.finishLocked(ev, d)
}

// Remove removes name on the base FS; until its directory is synced, a
// Crash brings it back with its durable contents.
func (f *Fault) Remove(name string) error {
	return f.change(Event{Kind: OpRemove, Path: name}, nil, func() error {
		return f.removeLocked(name)
	})
}

// removeLocked is the effect of Remove, run by change with f.mu held.
func (f *Fault) removeLocked(name string) error {
	p := abs(name)
	n, ok := f.nodeLocked(p)
	if ok {
		if err := f.unlinkLocked(n); err != nil {
			return err
		}
	}
	if err := f.base.Remove(name); err != nil {
		if ok {
			n.path = p
			n.mem = nil
		}
		return err
	}
	if ok {
		delete(f.dirLocked(filepath.Dir(p)).cur, filepath.Base(p))
	}
	return nil
}

// SyncDir makes the current entries of name durable.
func (f *Fault) SyncDir(name string) error {
	return f.change(Event{Kind: OpSyncDir, Path: name}, nil, func() error {
		return f.syncDirLocked(name)
	})
}

// syncDirLocked is the effect of SyncDir, run by change with f.mu held.
func (f *Fault) syncDirLocked(name string) error {
	if f.PassSyncs {
		if err := f.base.SyncDir(name); err != nil {
			return err
		}
	} else if info, err := f.base.Stat(name); err != nil {
		return err
	} else if !info.IsDir() {
		return &fs.PathError{Op: "syncdir", Path: name, Err: errors.New("not a directory")}
	}
	ds := f.dirLocked(abs(name))
	ds.durable = make(map[string]*node, len(ds.cur))
	for k, n := range ds.cur {
		ds.durable[k] = n
	}
	clear(ds.newDirs)
	return nil
}

// Lock takes the lock on the base FS. A Crash releases it.
func (f *Fault) Lock(name string) (Lock, error) { return f.lock(name, false) }

// RLock takes a shared lock on the base FS. A Crash releases it.
func (f *Fault) RLock(name string) (Lock, error) { return f.lock(name, true) }

func (f *Fault) lock(name string, shared bool) (Lock, error) {
	l, err := acquire(f, Event{Kind: OpLock, Path: name}, nil, func() (*faultLock, error) {
		return f.lockLocked(name, shared)
	}, (*faultLock).forgetLocked)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// lockLocked is the effect of lock, run by acquire with f.mu held.
func (f *Fault) lockLocked(name string, shared bool) (*faultLock, error) {
	p := abs(name)
	_, exists := f.nodeLocked(p)
	lockBase := f.base.Lock
	if shared {
		lockBase = f.base.RLock
	}
	bl, err := lockBase(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.base.Stat(name); !exists && err == nil && !fi.IsDir() {
		f.dirLocked(filepath.Dir(p)).cur[filepath.Base(p)] = &node{path: p}
	}
	l := &faultLock{fs: f, base: bl}
	f.locks[l] = struct{}{}
	return l, nil
}

// Map maps a file opened by this Fault through the base FS.
func (f *Fault) Map(file File, size int) ([]byte, error) {
	h, ok := file.(*faultFile)
	if !ok {
		return nil, fmt.Errorf("vfs: map %s: not a file of this vfs.Fault", file.Name())
	}
	return acquire(f, Event{Kind: OpMap, Path: h.name, Len: size}, nil, func() ([]byte, error) {
		if h.closed {
			return nil, &fs.PathError{Op: "mmap", Path: h.name, Err: os.ErrClosed}
		}
		return f.base.Map(h.base, size)
	}, func(m []byte) { f.base.Unmap(m) })
}

// Unmap releases a mapping; it works after a Crash too.
func (f *Fault) Unmap(m []byte) error { return f.base.Unmap(m) }
