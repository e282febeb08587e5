package memvectest

import (
	"errors"
	"fmt"
	"math/bits"
	"path/filepath"
	"sort"

	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// CheckDir checks the files of the store in dir, read through fsys (nil:
// the real file system), the way bbolt's tx_check checks its pages, and
// returns the manifest it read. rows gives the row count of every segment
// of the open store (memvec.DB.SegmentInfo), by number. The invariants:
//
//   - the manifest decodes, and its segments are the ones in rows, a
//     sealed one with exactly its rows;
//   - every file the manifest names exists: each segment, with a header of
//     its number, the tombstone checkpoint, each ID map;
//   - with orphansRemoved (the last open was a writer's), no other store
//     file does: no regular file named MANIFEST.tmp or in the exact form
//     of a segment, tombstone or ID-map file with a number memvec could
//     have given it (what recovery removes as an orphan or refuses);
//   - the runs of the sealed segments cover their rows in order, do not
//     overlap one another and lie below NextID;
//   - no tombstone lies past its segment's rows.
//
// All the broken invariants are returned, joined; nil means none.
func CheckDir(fsys vfs.FS, dir string, rows map[uint64]uint64, orphansRemoved bool) (*manifest.Manifest, error) {
	fsys = vfs.Or(fsys)
	m, err := manifest.Load(fsys, dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	named := m.Files()
	named[manifest.FileName] = true

	var runs []segment.Run
	for _, s := range m.Segments {
		name := segment.FileName(s.Number)
		if h, err := segment.ReadHeader(fsys, filepath.Join(dir, name)); err != nil {
			bad("segment %d: %v", s.Number, err)
		} else if h.Number != s.Number {
			bad("segment file %s: header says number %d", name, h.Number)
		}
		n, ok := rows[s.Number]
		switch {
		case !ok:
			bad("segment %d: in the manifest, not in the open store", s.Number)
		case s.Sealed && n != s.Rows:
			bad("sealed segment %d: %d rows in the manifest, %d in the store", s.Number, s.Rows, n)
		}
		if !s.Sealed {
			continue
		}
		var row uint64
		for _, r := range s.Runs {
			if r.FirstRow != row || r.Count == 0 {
				bad("sealed segment %d: run %+v after row %d", s.Number, r, row)
			}
			row = r.FirstRow + r.Count
			runs = append(runs, r)
		}
		if row != s.Rows {
			bad("sealed segment %d: runs cover %d of %d rows", s.Number, row, s.Rows)
		}
	}
	if len(rows) != len(m.Segments) {
		bad("%d segments in the open store, %d in the manifest", len(rows), len(m.Segments))
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].FirstID < runs[j].FirstID })
	for i, r := range runs {
		if i > 0 && runs[i-1].FirstID+runs[i-1].Count > r.FirstID {
			bad("ID runs %+v and %+v overlap", runs[i-1], r)
		}
		if r.FirstID+r.Count > m.NextID {
			bad("ID run %+v reaches NextID %d", r, m.NextID)
		}
	}

	if m.Tombs != 0 {
		segs, err := manifest.ReadTombs(fsys, dir, m.Tombs)
		if err != nil {
			bad("tombstone checkpoint %d: %v", m.Tombs, err)
		}
		for _, st := range segs {
			n, ok := rows[st.Number]
			if !ok {
				bad("tombstone checkpoint %d: segment %d is not in the store", m.Tombs, st.Number)
				continue
			}
			for w := uint64(len(st.Bits)); w > 0; w-- {
				if b := st.Bits[w-1]; b != 0 {
					if last := 64*(w-1) + 63 - uint64(bits.LeadingZeros64(b)); last >= n {
						bad("segment %d: tombstone of row %d past its %d rows", st.Number, last, n)
					}
					break
				}
			}
		}
	}
	for _, ep := range m.IDMaps {
		if _, err := manifest.ReadIDMap(fsys, dir, ep); err != nil {
			bad("ID map of epoch %d: %v", ep, err)
		}
	}

	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return m, errors.Join(append(errs, err)...)
	}
	for _, e := range entries {
		if name := e.Name(); orphansRemoved && !named[name] && e.Type().IsRegular() && isStoreFile(m, name) {
			bad("store file %s is not named by the manifest", name)
		}
	}
	for name := range named {
		if _, err := fsys.Stat(filepath.Join(dir, name)); err != nil {
			bad("named file %s: %v", name, err)
		}
	}
	return m, errors.Join(errs...)
}

// inFlight bounds how far past the manifest's counters a number memvec
// gave a file can lie (recovery's maxSegmentsInFlight): a file numbered
// further out was not made by memvec.
const inFlight = 1 << 20

// isStoreFile reports whether name is one memvec writes in the directory
// of the store m describes: MANIFEST.tmp, or exactly the form a make
// function gives with a number memvec could have given.
func isStoreFile(m *manifest.Manifest, name string) bool {
	kind, n, ok := filenames.Parse(name)
	switch {
	case !ok:
		return false
	case kind == filenames.ManifestTemp:
		return true
	case kind == filenames.Segment:
		return n < m.NextSegment+inFlight
	case kind == filenames.Tombs:
		return n < m.Generation+1+inFlight
	case kind == filenames.IDMap:
		return n < m.Epoch+1+inFlight
	}
	return false
}
