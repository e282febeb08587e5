package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Crash simulates power loss. Every file Fault tracks goes back to its
// durable contents (those as of its last Sync or Datasync); files created,
// and directories made by MkdirAll, since their directory's last SyncDir
// vanish, with everything in them; renames and removes since then are
// undone. Then every file opened through f is closed, every lock released,
// and every later operation fails with an error wrapping ErrCrashed: the
// machine stays off until the test opens the store again with a fresh FS
// over the same directory. Mappings stay valid until unmapped (they may
// show the rolled-back bytes). A second Crash does nothing.
//
// The error reports a failure of the base FS while rolling back, which
// leaves the simulation incomplete.
func (f *Fault) Crash() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashLocked(false)
}

// CrashTorn is Crash as the page cache could really leave it: each sector
// (Fault.Sector bytes) of a file changed since its last sync holds its
// contents as of a random moment since then (the kernel may have written
// back any subset of the dirty pages, each at any time), and the file's
// size is its size as of a random moment too. Directory entries are lost as
// by Crash. The choices come from the seed given to NewFault.
func (f *Fault) CrashTorn() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashLocked(true)
}

func (f *Fault) crashLocked(torn bool) error {
	if f.crashed {
		return nil
	}
	f.crashed = true
	var errs []error
	for h := range f.files {
		h.closed = true
		errs = append(errs, h.base.Close())
	}
	clear(f.files)
	for l := range f.locks {
		l.released = true
		errs = append(errs, l.base.Unlock())
	}
	clear(f.locks)

	dirs := slices.Sorted(func(yield func(string) bool) {
		for p := range f.dirs {
			if !yield(p) {
				return
			}
		}
	})
	// Directories whose own entry is not durable go with all they hold.
	var doomed []string
	for _, p := range dirs {
		for name := range f.dirs[p].newDirs {
			doomed = append(doomed, filepath.Join(p, name))
		}
	}
	slices.Sort(doomed)
	isDoomed := func(p string) bool {
		for _, d := range doomed {
			if p == d || strings.HasPrefix(p, d+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}

	// First read what must be rewritten elsewhere, while every file is
	// still where it is now.
	type restore struct {
		path string
		data []byte
	}
	var moved []restore
	var inPlace []*node
	for _, p := range dirs {
		if isDoomed(p) {
			continue
		}
		ds := f.dirs[p]
		for _, name := range sortedNames(ds.durable) {
			n, path := ds.durable[name], filepath.Join(p, name)
			if n.path == path {
				if len(n.undo) > 0 {
					inPlace = append(inPlace, n)
				}
				continue
			}
			m := &memFile{}
			switch {
			case n.mem != nil:
				m.b = slices.Clone(n.mem.b)
			case n.path != "":
				b, err := f.base.ReadFile(n.path)
				errs = append(errs, err)
				m.b = b
			}
			errs = append(errs, f.revert(m, n, torn))
			moved = append(moved, restore{path, m.b})
		}
	}
	for _, n := range inPlace {
		file, err := f.base.OpenFile(n.path, os.O_RDWR, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, f.revert(file, n, torn), file.Close())
	}
	// Then drop the entries that are not durable, and put back the ones
	// that are.
	for _, p := range dirs {
		if isDoomed(p) {
			continue
		}
		ds := f.dirs[p]
		for _, name := range sortedNames(ds.cur) {
			if ds.durable[name] != ds.cur[name] {
				errs = append(errs, ignoreNotExist(f.base.Remove(filepath.Join(p, name))))
			}
		}
	}
	for _, r := range moved {
		errs = append(errs, f.writeRaw(r.path, r.data))
	}
	for _, d := range doomed {
		errs = append(errs, f.removeAll(d))
	}
	return errors.Join(errs...)
}

func sortedNames(m map[string]*node) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// patcher is what revert writes to: a real file or a memFile.
type patcher interface {
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
}

// revert undoes n's unsynced changes on target, which holds n's current
// contents: all of them, or with torn a random part (see CrashTorn).
func (f *Fault) revert(target patcher, n *node, torn bool) error {
	l := len(n.undo)
	if l == 0 {
		return nil
	}
	final := n.undo[0].size
	sector := int64(f.Sector)
	if sector <= 0 {
		sector = 512
	}
	// cuts[s] = k: sector s holds its contents as of just after change
	// k-1, so changes k and later are undone in it.
	var cuts map[int64]int
	if torn {
		if k := f.rng.IntN(l + 1); k < l {
			final = n.undo[k].size
		} else {
			final = n.size
		}
		cuts = map[int64]int{}
	}
	var errs []error
	for i := l - 1; i >= 0; i-- {
		c := n.undo[i]
		lo, hi := c.off, min(c.off+c.n, final)
		if lo >= hi {
			// Wholly past the final size (a write past the end of
			// a file cut back below it): the truncation undoes it.
			continue
		}
		if !torn {
			_, err := target.WriteAt(c.before(lo, hi), lo)
			errs = append(errs, err)
			continue
		}
		for s := lo / sector; s*sector < hi; s++ {
			k, ok := cuts[s]
			if !ok {
				k = f.rng.IntN(l + 1)
				cuts[s] = k
			}
			if i < k {
				continue
			}
			a, b := max(lo, s*sector), min(hi, (s+1)*sector)
			_, err := target.WriteAt(c.before(a, b), a)
			errs = append(errs, err)
		}
	}
	errs = append(errs, target.Truncate(final))
	return errors.Join(errs...)
}

// before returns the bytes [a, b) held before the change c (zeros where
// the file did not reach).
func (c change) before(a, b int64) []byte {
	out := make([]byte, b-a)
	if end := c.off + int64(len(c.old)); a < end {
		copy(out, c.old[a-c.off:min(b, end)-c.off])
	}
	return out
}

// writeRaw puts data at path on the base FS, replacing what is there.
func (f *Fault) writeRaw(path string, data []byte) error {
	file, err := f.base.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = file.Write(data)
	return errors.Join(err, file.Close())
}

// removeAll removes the directory p and everything in it from the base FS.
func (f *Fault) removeAll(p string) error {
	entries, err := f.base.ReadDir(p)
	if err != nil {
		return ignoreNotExist(err)
	}
	var errs []error
	for _, e := range entries {
		q := filepath.Join(p, e.Name())
		if e.IsDir() {
			errs = append(errs, f.removeAll(q))
		} else {
			errs = append(errs, ignoreNotExist(f.base.Remove(q)))
		}
	}
	return errors.Join(append(errs, ignoreNotExist(f.base.Remove(p)))...)
}
