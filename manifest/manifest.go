// Package manifest owns the MANIFEST file: the single source of truth for
// which segment files make up a store, what is known about each sealed one,
// and the store's counters.
//
// # File format
//
// All integers are little-endian.
//
//	magic "memvecMF" (8) | version u32 | body length u32 | body | xxhash64 of every preceding byte
//
// This framing is fixed across format versions; only the body changes.
//
// Body:
//
//	generation u64         incremented by every replacement
//	dimension u32
//	next ID u64            no ID below it will ever be handed out again
//	next segment u64       number of the next segment file to create
//	epoch u64              compactions committed
//	WAL checkpoint u64     tombstone records with a lower seq are obsolete
//	WAL durable u64        the WAL held at least this seq when the manifest was written
//	tombstones u64         generation of the tombstone checkpoint file (0: none)
//	segment count u32, then per segment:
//	    number u64 | capacity u64 | flags u8 (bit 0: sealed)
//	    rows u64 | checksum u64 | salt u64 (version 2 only)
//	    run count u32 | runs (first ID, first row, count: 3 x u64)
//	ID-map count u32, then the epoch (u64) of each ID-map file still kept
//
// Versions: 2 (written since issue 10) adds each segment's salt, the
// random number in its file's header (segment.Header.Salt), so that a
// segment file that is not the one the manifest names (copied from another
// store, or from another place in this one) is refused at Open, the active
// segment's included: a sealed segment's checksum would catch it only at
// its first full read, and the active segment has none. Version 1 is read
// with every salt 0, which means "not recorded": such an entry's file is
// not checked, and recovery fills the salt in from the header it opened,
// so the next manifest written records it.
//
// The tombstone checkpoint file (TombsFileName) holds the tombstones of
// every segment as of the WAL checkpoint; recovery loads it and then replays
// the WAL records at or past the checkpoint. An ID-map file (IDMapFileName)
// holds the old-to-new ID map of one compaction epoch listed here.
//
// A sealed segment's checksum is segment.Segment.DataSum of its rows,
// whose meaning depends on the segment file's format version (the
// manifest's format does not change with it): up to segment format 4 the
// xxhash64 of all its row bytes, from format 5 that of its sum table (a
// checksum per row and per code block), so that a read checks only its
// rows (see package segment).
//
// Checksum and runs are meaningful only for a sealed segment; the active
// segment's are recovered from its own batch records, and its rows field is
// a lower bound: rows known durable when the manifest was written (a clean
// Close records them). WAL durable plays the same part for the tombstone
// log. Recovery that finds less than these lower bounds has found damage,
// not a torn tail, and reports ErrCorrupt.
//
// # Invariants
//
//   - The file is replaced atomically (vfs.WriteFileAtomic: write
//     MANIFEST.tmp, fsync, rename, fsync the directory), so a crash leaves
//     the old or the new manifest, never a mix.
//   - Every file of this package is read and written through the vfs.FS
//     its caller passes (nil: vfs.OS).
//   - Every file a manifest names was fsynced, and its directory entry too,
//     before the manifest naming it was written.
//   - A manifest that fails its checksum or structure is ErrCorrupt; nothing
//     is guessed around it.
package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/segment"
)

// FileName is the manifest's name inside a store directory
// (filenames.Manifest). It is a variable only because it is derived from
// package filenames; it is never assigned.
var FileName = filenames.Make(filenames.Manifest, 0)

// Version is the manifest format version this package writes; it reads
// every version from 1 on (see the package doc).
const Version = 2

const magic = "memvecMF"

// LooksLikeManifest reports whether b starts as a memvec manifest does
// (its magic), so that a file that merely shares the name MANIFEST is not
// mistaken for a damaged store.
func LooksLikeManifest(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

// Manifest is the decoded content of a MANIFEST file.
type Manifest struct {
	Generation    uint64
	Dimension     int
	NextID        uint64
	NextSegment   uint64
	Epoch         uint64
	WALCheckpoint uint64
	WALDurable    uint64
	Tombs         uint64 // generation of the tombstone checkpoint file; 0: none
	Segments      []Segment
	IDMaps        []uint64
}

// Segment is the manifest's entry for one segment file.
type Segment struct {
	Number   uint64
	Capacity uint64
	Sealed   bool
	Rows     uint64
	Checksum uint64 // segment.Segment.DataSum: per segment format version
	Salt     uint64 // the file header's salt; 0: not recorded (version 1)
	Runs     []segment.Run
}

// SealInfo returns the seal information of a sealed entry, or nil for the
// active segment.
func (s Segment) SealInfo() *segment.Seal {
	if !s.Sealed {
		return nil
	}
	return &segment.Seal{Rows: s.Rows, Checksum: s.Checksum, Runs: s.Runs}
}

// Files returns the names of the files m names in its directory: its
// segments, its tombstone checkpoint and its ID maps (not MANIFEST itself).
func (m *Manifest) Files() map[string]bool {
	named := make(map[string]bool, len(m.Segments)+len(m.IDMaps)+1)
	for _, s := range m.Segments {
		named[segment.FileName(s.Number)] = true
	}
	if m.Tombs != 0 {
		named[TombsFileName(m.Tombs)] = true
	}
	for _, ep := range m.IDMaps {
		named[IDMapFileName(ep)] = true
	}
	return named
}

// Clone returns a deep copy of m, for building the next generation.
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.Segments = make([]Segment, len(m.Segments))
	for i, s := range m.Segments {
		s.Runs = append([]segment.Run(nil), s.Runs...)
		c.Segments[i] = s
	}
	c.IDMaps = append([]uint64(nil), m.IDMaps...)
	return &c
}

// Encode returns the file bytes of m.
func Encode(m *Manifest) []byte {
	b := frameStart(magic, Version, 112+len(m.Segments)*72)
	le := binary.LittleEndian
	b = le.AppendUint64(b, m.Generation)
	b = le.AppendUint32(b, uint32(m.Dimension))
	b = appendUint64s(b, m.NextID, m.NextSegment, m.Epoch, m.WALCheckpoint, m.WALDurable, m.Tombs)
	b = le.AppendUint32(b, uint32(len(m.Segments)))
	for _, s := range m.Segments {
		b = appendUint64s(b, s.Number, s.Capacity)
		var flags byte
		if s.Sealed {
			flags = 1
		}
		b = append(b, flags)
		b = appendUint64s(b, s.Rows, s.Checksum, s.Salt)
		b = le.AppendUint32(b, uint32(len(s.Runs)))
		for _, r := range s.Runs {
			b = appendUint64s(b, r.FirstID, r.FirstRow, r.Count)
		}
	}
	b = le.AppendUint32(b, uint32(len(m.IDMaps)))
	b = appendUint64s(b, m.IDMaps...)
	return frameEnd(b)
}

// appendUint64s appends vs to b little-endian, in order: Encode's runs of
// 8-byte fields, written as the byte table in the package doc lists them.
func appendUint64s(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// Decode parses and checks manifest file bytes. Damage returns an error
// wrapping errs.ErrCorrupt, a newer format errs.ErrVersion. It never panics
// and allocates in proportion to len(b).
func Decode(b []byte) (*Manifest, error) {
	// The framing is the same in every format version, so unframe checks
	// the checksum first: a damaged version field is corruption, an intact
	// unknown one a newer format.
	body, version, err := unframeVersions(b, magic, 1, Version, "MANIFEST")
	if err != nil {
		return nil, err
	}
	r := reader{b: body}
	m := &Manifest{
		Generation:    r.u64(),
		Dimension:     int(r.u32()),
		NextID:        r.u64(),
		NextSegment:   r.u64(),
		Epoch:         r.u64(),
		WALCheckpoint: r.u64(),
		WALDurable:    r.u64(),
		Tombs:         r.u64(),
	}
	entry := 33 // the smallest segment entry
	if version >= 2 {
		entry += 8
	}
	nseg := r.count(entry)
	for i := 0; i < nseg && r.err == nil; i++ {
		s := Segment{Number: r.u64(), Capacity: r.u64()}
		flags := r.byte()
		s.Sealed = flags&1 != 0
		s.Rows, s.Checksum = r.u64(), r.u64()
		if version >= 2 {
			s.Salt = r.u64()
		}
		nrun := r.count(24)
		for j := 0; j < nrun && r.err == nil; j++ {
			s.Runs = append(s.Runs, segment.Run{FirstID: r.u64(), FirstRow: r.u64(), Count: r.u64()})
		}
		if flags&^1 != 0 {
			r.fail("segment %d has unknown flags %#x", s.Number, flags)
		}
		m.Segments = append(m.Segments, s)
	}
	nmap := r.count(8)
	for i := 0; i < nmap && r.err == nil; i++ {
		m.IDMaps = append(m.IDMaps, r.u64())
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// check enforces the structural invariants a decoded manifest must hold.
func (m *Manifest) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("manifest: %s: %w", fmt.Sprintf(format, a...), errs.ErrCorrupt)
	}
	if m.Dimension <= 0 {
		return bad("dimension %d", m.Dimension)
	}
	seen := make(map[uint64]bool, len(m.Segments))
	active := 0
	for _, s := range m.Segments {
		if seen[s.Number] || s.Number >= m.NextSegment {
			return bad("segment number %d duplicated or not below next %d", s.Number, m.NextSegment)
		}
		seen[s.Number] = true
		if s.Capacity == 0 || s.Rows > s.Capacity {
			return bad("segment %d holds %d rows of capacity %d", s.Number, s.Rows, s.Capacity)
		}
		if !s.Sealed {
			active++
			continue
		}
		var rows uint64
		for _, r := range s.Runs {
			if r.Count == 0 || r.FirstRow != rows || r.FirstID+r.Count < r.FirstID || r.FirstID+r.Count > m.NextID {
				return bad("segment %d run %+v out of place", s.Number, r)
			}
			rows += r.Count
		}
		if rows != s.Rows {
			return bad("segment %d runs cover %d rows, not %d", s.Number, rows, s.Rows)
		}
	}
	if active > 1 {
		return bad("%d active segments", active)
	}
	return nil
}

// Load reads and decodes dir/MANIFEST through fsys (nil: vfs.OS). A missing
// file returns an error satisfying errors.Is(err, os.ErrNotExist).
func Load(fsys vfs.FS, dir string) (*Manifest, error) {
	b, err := vfs.Or(fsys).ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return m, nil
}

// Store atomically replaces dir/MANIFEST with m through fsys (nil: vfs.OS).
// After an error the old manifest may or may not have been replaced (the
// rename or the directory sync may have failed after the rename).
func Store(fsys vfs.FS, dir string, m *Manifest) error {
	if err := vfs.WriteFileAtomic(vfs.Or(fsys), dir, FileName, filenames.Make(filenames.ManifestTemp, 0), Encode(m)); err != nil {
		return fmt.Errorf("manifest: store generation %d: %w", m.Generation, err)
	}
	return nil
}

// IsNotExist reports whether err says that there is no manifest.
func IsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("manifest: %s: %w", fmt.Sprintf(format, a...), errs.ErrCorrupt)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated body")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

// count reads an element count and rejects one that the remaining bytes
// cannot hold at minSize bytes per element, so a damaged count can never
// cause a large allocation.
func (r *reader) count(minSize int) int {
	n := r.u32()
	if uint64(n)*uint64(minSize) > uint64(len(r.b)) {
		r.fail("count %d exceeds the remaining %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}
