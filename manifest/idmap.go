package manifest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/idmap"
	"github.com/memvec/memvec/internal/vfs"
)

// IDMapVersion is the ID-map file format version this package writes and
// reads.
const IDMapVersion = 1

const idMapMagic = "memvecIM"

// IDRun says old IDs [Old, Old+Len) now live at [New, New+Len); it is
// idmap.Run, the one run type of every ID map in memvec.
//
// # ID-map file format
//
// A compaction that gives rows fresh IDs records where every moved ID went
// in one ID-map file per compaction epoch, named by IDMapFileName. The file
// is written and fsynced, and its directory entry too, before the manifest
// that names the epoch in its ID-map list. All integers are little-endian;
// the framing is the manifest's:
//
//	magic "memvecIM" (8) | version u32 (1) | body length u32 | body | xxhash64 of every preceding byte
//
// Body:
//
//	epoch u64              the compaction epoch; equals the one in the file name
//	run count u32, then per run:
//	    old u64 | new u64 | len u64
//
// Every run has len >= 1; runs are sorted by old, strictly ascending, and
// their old ranges do not overlap (old+len <= the next run's old); their
// new ranges do not overlap either; neither old+len nor new+len wraps past
// 2^64-1. A file breaking any of these is ErrCorrupt.
type IDRun = idmap.Run

// IDMapFileName returns the name, inside a store directory, of the ID-map
// file of compaction epoch epoch.
func IDMapFileName(epoch uint64) string { return filenames.Make(filenames.IDMap, epoch) }

// EncodeIDMap returns the ID-map file bytes of epoch and runs. It encodes a
// copy of runs sorted by Old, so callers may pass them in any order; it does
// not check them otherwise (WriteIDMap does), so runs that overlap or are
// empty encode to bytes that DecodeIDMap rejects.
func EncodeIDMap(epoch uint64, runs []IDRun) []byte {
	return encodeIDMap(epoch, sortedIDRuns(runs))
}

func encodeIDMap(epoch uint64, runs []IDRun) []byte {
	le := binary.LittleEndian
	b := frameStart(idMapMagic, IDMapVersion, 12+24*len(runs))
	b = le.AppendUint64(b, epoch)
	b = le.AppendUint32(b, uint32(len(runs)))
	for _, r := range runs {
		b = le.AppendUint64(b, r.Old)
		b = le.AppendUint64(b, r.New)
		b = le.AppendUint64(b, r.Len)
	}
	return frameEnd(b)
}

// sortedIDRuns returns runs, or a sorted copy if they are not sorted by Old.
func sortedIDRuns(runs []IDRun) []IDRun {
	byOld := func(a, b IDRun) int { return cmp.Compare(a.Old, b.Old) }
	if slices.IsSortedFunc(runs, byOld) {
		return runs
	}
	runs = slices.Clone(runs)
	slices.SortStableFunc(runs, byOld)
	return runs
}

// DecodeIDMap parses and checks ID-map file bytes. Damage, including runs
// that break the rules documented on IDRun, returns an error wrapping
// errs.ErrCorrupt; a newer format returns errs.ErrVersion. It never panics
// and allocates in proportion to len(b). An empty map decodes to nil runs.
func DecodeIDMap(b []byte) (epoch uint64, runs []IDRun, err error) {
	body, err := unframe(b, idMapMagic, IDMapVersion, "id map")
	if err != nil {
		return 0, nil, err
	}
	r := reader{b: body}
	epoch = r.u64()
	if n := r.count(24); n > 0 {
		runs = make([]IDRun, n)
		for i := range runs {
			runs[i] = IDRun{Old: r.u64(), New: r.u64(), Len: r.u64()}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("id map: %d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	if err := checkIDRuns(runs); err != nil {
		return 0, nil, fmt.Errorf("manifest: id map of epoch %d: %v: %w", epoch, err, errs.ErrCorrupt)
	}
	return epoch, runs, nil
}

// checkIDRuns enforces the rules documented on IDRun on runs already sorted
// by Old.
func checkIDRuns(runs []IDRun) error {
	for i, r := range runs {
		if r.Len == 0 {
			return fmt.Errorf("run %d %+v is empty", i, r)
		}
		if r.Old+r.Len < r.Old || r.New+r.Len < r.New {
			return fmt.Errorf("run %d %+v wraps past 2^64-1", i, r)
		}
		if i > 0 && runs[i-1].Old+runs[i-1].Len > r.Old {
			return fmt.Errorf("run %d %+v overlaps or precedes old range of run %d %+v", i, r, i-1, runs[i-1])
		}
	}
	byNew := func(a, b IDRun) int { return cmp.Compare(a.New, b.New) }
	if !slices.IsSortedFunc(runs, byNew) {
		runs = slices.Clone(runs)
		slices.SortFunc(runs, byNew)
	}
	for i := 1; i < len(runs); i++ {
		if p := runs[i-1]; p.New+p.Len > runs[i].New {
			return fmt.Errorf("new ranges of runs %+v and %+v overlap", p, runs[i])
		}
	}
	return nil
}

// WriteIDMap creates dir/IDMapFileName(epoch) through fsys (nil: vfs.OS),
// truncating any file of that name, writes the encoded map to it, fsyncs and
// closes it. It does not
// fsync dir: the caller does that once for all the files of a commit, before
// storing the manifest that names them. Runs that DecodeIDMap would reject
// return an error wrapping errs.ErrInvalidArgument and touch no file. After
// any other error the file may be left partly written; no manifest names it
// yet, so it is garbage for recovery to remove.
func WriteIDMap(fsys vfs.FS, dir string, epoch uint64, runs []IDRun) error {
	runs = sortedIDRuns(runs)
	if err := checkIDRuns(runs); err != nil {
		return fmt.Errorf("manifest: write id map of epoch %d: %v: %w", epoch, err, errs.ErrInvalidArgument)
	}
	return writeFramed(fsys, filepath.Join(dir, IDMapFileName(epoch)), encodeIDMap(epoch, runs))
}

// ReadIDMap reads and decodes dir/IDMapFileName(epoch) through fsys (nil:
// vfs.OS). A missing file
// returns an error satisfying errors.Is(err, os.ErrNotExist); a damaged one,
// or one holding another epoch, an error wrapping errs.ErrCorrupt. Errors
// name the file.
func ReadIDMap(fsys vfs.FS, dir string, epoch uint64) ([]IDRun, error) {
	return readNumbered(fsys, filepath.Join(dir, IDMapFileName(epoch)), epoch, DecodeIDMap, "id map holds epoch")
}
