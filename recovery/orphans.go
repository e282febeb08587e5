package recovery

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// # Orphans and rollbacks
//
// A file the manifest does not name is an orphan only when it provably
// never became part of the store: a segment, tombstone checkpoint or ID
// map written by an operation that crashed before the manifest naming it
// was renamed into place, or a file whose removal after a commit did not
// happen. Each file kind carries the evidence:
//
//   - a segment records, in a named record written right after the commit,
//     the generation of the first manifest that named it
//     (segment.Header.Named): a file named by a manifest newer than this
//     one holds acknowledged rows, and this manifest was rolled back
//     (copied back from a backup, say). Its header also records the
//     generation in force when it was created (segment.Header.Gen): only
//     a later manifest can name it, so a generation above this one's
//     proves the same. An orphan of a crash has neither: the commit that
//     would have named it never happened;
//   - a tombstone checkpoint is named by the generation of the manifest
//     that will name it: at most the manifest's generation plus one for an
//     orphan;
//   - an ID map is named by its compaction epoch: at most the manifest's
//     epoch plus one for an orphan;
//   - the tombstone log's records carry the manifest generation in force
//     when they were written (checked in replay).
//
// A rolled-back manifest is refused with ErrCorrupt naming the file, and
// nothing is removed. Only regular files with names in exactly the form
// memvec writes, and numbers memvec could have given them, are
// considered: anything else is left alone. A segment file whose header was
// never written (a crash inside segment.Create) or is damaged is an
// orphan; a whole segment header naming another number (a copy) is left
// alone.

// maxSegmentsInFlight bounds how far past the manifest's next segment
// number an orphan's number can lie: the numbers taken since the last
// manifest write are those of the operations in flight at a crash (and of
// failed attempts), never a million. A file numbered further out was not
// made by memvec and is left alone.
const maxSegmentsInFlight = 1 << 20

// findOrphans returns the files of dir that provably never became part of
// the store m describes (and a stale manifest temp file), or ErrCorrupt
// when a file proves that m was rolled back. It removes nothing.
func findOrphans(fsys vfs.FS, dir string, m *manifest.Manifest) ([]string, error) {
	listed := m.Files()
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var orphans []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || listed[name] {
			continue
		}
		// filenames.Parse accepts only names exactly as memvec writes
		// them (so "1.seg" and "0000001.seg" are not segment 1).
		kind, n, ok := filenames.Parse(name)
		if !ok {
			continue
		}
		if kind == filenames.ManifestTemp {
			orphans = append(orphans, name)
			continue
		}
		orphan, err := isOrphan(fsys, dir, m, kind, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		if orphan {
			orphans = append(orphans, name)
		}
	}
	return orphans, nil
}

// isOrphan applies the evidence rules above to one unnamed file.
// A kind with no rule here (the manifest, the lock, a new kind) is never
// an orphan.
func isOrphan(fsys vfs.FS, dir string, m *manifest.Manifest, kind filenames.Type, n uint64) (bool, error) {
	rolledBack := func(what string) error {
		return fmt.Errorf("%s, newer than the manifest (generation %d, epoch %d) allows: the manifest is older than the store (restored from a copy?), so nothing was removed: %w",
			what, m.Generation, m.Epoch, errs.ErrCorrupt)
	}
	switch kind {
	case filenames.Segment:
		h, err := segment.ReadHeader(fsys, filepath.Join(dir, segment.FileName(n)))
		switch {
		case err == nil && h.Named > m.Generation:
			return false, rolledBack(fmt.Sprintf("segment named by manifest generation %d", h.Named))
		case err == nil && h.Gen > m.Generation:
			return false, rolledBack(fmt.Sprintf("segment created under manifest generation %d", h.Gen))
		case err == nil && h.Number != n:
			return false, nil // a copy of another segment: not provably a leftover
		case errors.Is(err, errs.ErrVersion):
			return false, nil // written by a newer build: not ours to judge
		case err != nil && !errors.Is(err, segment.ErrNoHeader) && !errors.Is(err, errs.ErrCorrupt):
			return false, err
		}
		// A file without a segment header (a crash inside Create) or with
		// one no later manifest wrote was never named: an orphan, if its
		// number is one memvec could have taken since the manifest.
		return n < m.NextSegment+maxSegmentsInFlight, nil
	case filenames.Tombs:
		if n <= m.Generation+1 {
			return true, nil
		}
		if _, err := manifest.ReadTombs(fsys, dir, n); err != nil {
			return false, nil // not a checkpoint of memvec's: left alone
		}
		return false, rolledBack(fmt.Sprintf("tombstone checkpoint of generation %d", n))
	case filenames.IDMap:
		if n <= m.Epoch+1 {
			return true, nil
		}
		if _, err := manifest.ReadIDMap(fsys, dir, n); err != nil {
			return false, nil
		}
		return false, rolledBack(fmt.Sprintf("ID map of compaction epoch %d", n))
	}
	return false, nil
}

// removeOrphans removes the files findOrphans returned and syncs the
// directory.
func removeOrphans(fsys vfs.FS, dir string, orphans []string) error {
	for _, name := range orphans {
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove orphan %s: %w", name, err)
		}
	}
	if len(orphans) > 0 {
		return fsys.SyncDir(dir)
	}
	return nil
}
