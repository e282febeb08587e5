package segment

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// The key tables of a sealed segment of version 3 (see the package doc):
// derived from the blobs at Seal, checksummed by the seal trailer, mapped
// on first lookup, rebuilt in memory from the blobs when damaged.
const (
	rowDirEntry     = 16 // key offset u64, payload len u32, key len u16, zero u16
	keyTabEntry     = 12 // key hash u64, row u32
	bloomBitsPerKey = 10
	bloomK          = 7
)

// tables are the encoded key tables of a segment: three consecutive
// parts of all, the bytes written after the blobs.
type tables struct {
	rowDir, keyTab, bloom []byte
	k                     uint32
	all                   []byte
}

func (t tables) bytes() []byte { return t.all }

// buildTables derives the key tables of rows [0, rows) from their index:
// none when no row has a key. The key table holds each key once, with the
// last row holding it, sorted by hash then row.
func buildTables(m *memIndex, rows uint64) tables {
	if !m.hasKeys() {
		return tables{}
	}
	entries := make([]keyEntry, 0, m.n)
	m.distinct(func(h, row uint64) { entries = append(entries, keyEntry{h, row}) })
	sortKeyEntries(entries)
	words := (len(entries)*bloomBitsPerKey + 63) / 64
	dirLen, tabLen := int(rows)*rowDirEntry, len(entries)*keyTabEntry
	all := make([]byte, dirLen+tabLen+words*8)
	t := tables{rowDir: all[:dirLen], keyTab: all[dirLen : dirLen+tabLen], bloom: all[dirLen+tabLen:], k: bloomK, all: all}
	for r := range m.rows {
		l := m.loc(r)
		e := t.rowDir[r*rowDirEntry:]
		binary.LittleEndian.PutUint64(e, l.off)
		binary.LittleEndian.PutUint32(e[8:], l.plen)
		binary.LittleEndian.PutUint16(e[12:], l.klen)
	}
	bloom := newBloom(t.bloom, t.k)
	for i, e := range entries {
		binary.LittleEndian.PutUint64(t.keyTab[i*keyTabEntry:], e.h)
		binary.LittleEndian.PutUint32(t.keyTab[i*keyTabEntry+8:], uint32(e.row))
		bloom.add(e.h)
	}
	return t
}

// writeTables writes the key tables and the seal trailer of the active
// segment (writer side, at Seal, before its sync). A failure does not
// poison the segment, unlike a failed write of rows: the tables are
// derived and checksummed, so whatever reached the disk is either whole
// or detected, and the sealed segment rebuilds its index from the blobs
// (TablesErr says why). A seal on a full disk thus still succeeds. From
// format version 5 the sum table (sums.go), which sums returns, follows
// the key tables, placed by the trailer: derived data as well.
func (s *Segment) writeTables(sums func() []byte) {
	if err := s.tryWriteTables(sums); err != nil {
		s.trailer = nil
		s.kmu.Lock()
		s.tablesErr = fmt.Errorf("segment %s: sealed without key tables: %w", s.path, err)
		s.kmu.Unlock()
	}
}

func (s *Segment) tryWriteTables(sums func() []byte) error {
	rows := s.rows.Load()
	tb := buildTables(s.mem, rows)
	t := trailer{rows: rows, blobEnd: uint64(s.blobEnd), rowDirOff: tablesAt(uint64(s.blobEnd)), k: tb.k}
	t.rowDirLen = uint64(len(tb.rowDir))
	t.keyTabOff, t.keyTabLen = t.rowDirOff+t.rowDirLen, uint64(len(tb.keyTab))
	t.bloomOff, t.bloomLen = t.keyTabOff+t.keyTabLen, uint64(len(tb.bloom))
	all := tb.bytes()
	t.tablesSum = xxhash.Sum64(all)
	sum, err := s.hashRange(s.lay.size, s.blobEnd)
	if err != nil {
		return err
	}
	t.blobSum = sum
	if len(all) > 0 {
		if _, err := s.f.WriteAt(all, int64(t.rowDirOff)); err != nil {
			return fmt.Errorf("write at %d: %w", t.rowDirOff, err)
		}
		s.size.Store(max(s.size.Load(), int64(t.tablesEnd())))
	}
	var list []byte // version 5: the sum table's part checksums
	if s.hdr.Version >= 5 {
		tab := sums()
		t.sumOff, t.sumLen = tablesAt(t.tablesEnd()), uint64(len(tab))
		if len(tab) > 0 {
			if _, err := s.f.WriteAt(tab, int64(t.sumOff)); err != nil {
				return fmt.Errorf("write at %d: %w", t.sumOff, err)
			}
			s.size.Store(max(s.size.Load(), int64(t.sumEnd())))
			// The checksums of its parts, in the header page
			// (sumparts.go).
			list = partList(tab)
			if _, err := s.f.WriteAt(list, sumPartsOff); err != nil {
				return fmt.Errorf("write at %d: %w", sumPartsOff, err)
			}
		}
	}
	// The first byte last, alone: it commits the trailer (see trailer.go).
	b := encodeTrailerFor(s.hdr.Version, s.hdr.Salt, t)
	if _, err := s.f.WriteAt(b[1:], trailerOff+1); err != nil {
		return fmt.Errorf("write at %d: %w", trailerOff+1, err)
	}
	if _, err := s.f.WriteAt(b[:1], trailerOff); err != nil {
		return fmt.Errorf("write at %d: %w", trailerOff, err)
	}
	s.trailer, s.sumList = &t, list
	return nil
}

// hashRange returns the xxhash64 of the file's bytes [from, to), read with
// pread (the blob area is not mapped).
func (s *Segment) hashRange(from, to int64) (uint64, error) {
	d := xxhash.New()
	buf := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		b := buf[:min(int64(len(buf)), to-off)]
		if _, err := s.f.ReadAt(b, off); err != nil {
			return 0, fmt.Errorf("segment %s: read at %d: %w", s.path, off, err)
		}
		d.Write(b)
		off += int64(len(b))
	}
	return d.Sum64(), nil
}

// openSealedKeys reads the seal trailer from the header page of a segment
// opened sealed. It reads nothing else: the tables are mapped on first use.
func (s *Segment) openSealedKeys(page []byte) {
	if !s.lay.keyed() {
		s.loaded = true
		return
	}
	if trailerAbsent(page[trailerOff : trailerOff+trailerLen(s.hdr.Version)]) {
		s.tablesErr = fmt.Errorf("segment %s: sealed without key tables (the seal could not write them): index rebuilt from the blobs", s.path)
		return
	}
	t, err := decodeTrailerFor(s.hdr.Version, s.hdr.Salt, page[trailerOff:])
	switch {
	case err != nil:
	case t.rows != s.rows.Load():
		err = fmt.Errorf("seal trailer: %d rows, sealed with %d: %w", t.rows, s.rows.Load(), errs.ErrCorrupt)
	case t.blobEnd < uint64(s.lay.size):
		err = fmt.Errorf("seal trailer: blob end %d inside the fixed part: %w", t.blobEnd, errs.ErrCorrupt)
	}
	if err != nil {
		s.tablesErr = fmt.Errorf("segment %s: offset %d: %w", s.path, trailerOff, err)
		return
	}
	s.trailer = &t
	s.blobEnd = int64(t.blobEnd)
}

// loadIndex gives a sealed segment its key index (called under kmu held
// for writing): the tables the trailer describes, or else an index rebuilt
// from the blobs.
func (s *Segment) loadIndex() {
	s.loaded = true
	if s.m == nil {
		s.indexErr = fmt.Errorf("segment %s: closed: %w", s.path, errs.ErrClosed)
		return
	}
	if s.trailer != nil {
		d, err := s.mapTables(*s.trailer)
		if err == nil {
			s.disk = d
			return
		}
		if !damaged(err) {
			s.indexErr = err
			return
		}
		s.tablesErr = err
	}
	sc, err := s.scanRecords(context.Background(), s.rows.Load())
	if err != nil {
		s.indexErr = fmt.Errorf("rebuild the key index: %w", err)
		return
	}
	s.mem = sc.mem
}

// mapTables maps the file up to the end of the tables t describes and
// checks them against t's checksum.
func (s *Segment) mapTables(t trailer) (*diskIndex, error) {
	if t.rowDirLen == 0 {
		if t.tablesSum != xxhash.Sum64(nil) {
			return nil, fmt.Errorf("segment %s: offset %d: seal trailer: empty tables with checksum %#x: %w", s.path, trailerOff, t.tablesSum, errs.ErrCorrupt)
		}
		return &diskIndex{}, nil
	}
	fi, err := s.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", s.path, err)
	}
	end := t.tablesEnd()
	if uint64(fi.Size()) < end {
		return nil, fmt.Errorf("segment %s: offset %d: file is %d bytes, its key tables end at %d: %w", s.path, fi.Size(), fi.Size(), end, errs.ErrCorrupt)
	}
	m, err := s.fs.Map(s.f, int(end))
	if err != nil {
		return nil, fmt.Errorf("segment %s: mmap key tables: %w", s.path, err)
	}
	if xxhash.Sum64(m[t.rowDirOff:end]) != t.tablesSum {
		s.fs.Unmap(m)
		return nil, fmt.Errorf("segment %s: offset %d: key tables fail their checksum: %w", s.path, t.rowDirOff, errs.ErrCorrupt)
	}
	s.tm = m
	return newDiskIndex(m, t, uint64(s.lay.size)), nil
}

// diskIndex is a sealed segment's key index: its tables in a mapping of
// the file. Its methods check every offset they read, so that damage the
// checksum missed (or a fuzzer) cannot make them panic.
type diskIndex struct {
	file               []byte // the mapped file, up to the tables' end
	blobStart, blobEnd uint64
	rowDir, keyTab     []byte
	bloom              bloom
}

func newDiskIndex(file []byte, t trailer, blobStart uint64) *diskIndex {
	return &diskIndex{
		file: file, blobStart: blobStart, blobEnd: t.blobEnd,
		rowDir: file[t.rowDirOff : t.rowDirOff+t.rowDirLen],
		keyTab: file[t.keyTabOff : t.keyTabOff+t.keyTabLen],
		bloom:  newBloom(file[t.bloomOff:t.bloomOff+t.bloomLen], t.k),
	}
}

// loc returns where row's key and payload are; a row past the directory
// has none.
func (d *diskIndex) loc(row uint64) (keyLoc, error) {
	if row >= uint64(len(d.rowDir))/rowDirEntry {
		return keyLoc{}, nil
	}
	e := d.rowDir[row*rowDirEntry:]
	l := keyLoc{off: binary.LittleEndian.Uint64(e), plen: binary.LittleEndian.Uint32(e[8:]), klen: binary.LittleEndian.Uint16(e[12:])}
	if l.klen == 0 {
		return keyLoc{}, nil
	}
	if l.klen > MaxKeyLen || l.plen > MaxPayloadLen || l.off < d.blobStart || l.off > d.blobEnd ||
		uint64(l.klen)+uint64(l.plen) > d.blobEnd-l.off || d.blobEnd > uint64(len(d.file)) {
		return keyLoc{}, fmt.Errorf("row directory entry %d out of range: %w", row, errs.ErrCorrupt)
	}
	return l, nil
}

func (d *diskIndex) lookup(key []byte) (uint64, bool) { return d.lookupHashed(key, hashKey(key)) }

// lookupHashed is lookup of a key whose hash is h.
func (d *diskIndex) lookupHashed(key []byte, h uint64) (uint64, bool) {
	n := len(d.keyTab) / keyTabEntry
	if n == 0 || !d.bloom.mayHold(h) {
		return 0, false
	}
	hashAt := func(i int) uint64 { return binary.LittleEndian.Uint64(d.keyTab[i*keyTabEntry:]) }
	for i := sort.Search(n, func(i int) bool { return hashAt(i) >= h }); i < n && hashAt(i) == h; i++ {
		row := uint64(binary.LittleEndian.Uint32(d.keyTab[i*keyTabEntry+8:]))
		l, err := d.loc(row)
		if err == nil && int(l.klen) == len(key) && bytes.Equal(d.file[l.off:l.off+uint64(l.klen)], key) {
			return row, true
		}
	}
	return 0, false
}

// verifyTables checks a sealed segment's blob area and key tables: every
// record with its blob first (damage there is damage to keys, payloads or
// superseded IDs), then the trailer and that the tables on disk are
// exactly those derived from the blobs (damage there wraps ErrTables). An
// absent trailer is a seal that could not write its tables: not damage.
func (s *Segment) verifyTables(ctx context.Context, rows uint64) error {
	at := func(off uint64, format string, a ...any) error {
		return fmt.Errorf("segment %s: offset %d: %s: %w: %w", s.path, off, fmt.Sprintf(format, a...), ErrTables, errs.ErrCorrupt)
	}
	sc, err := s.scanRecords(ctx, rows)
	if err != nil {
		return err
	}
	b := s.m[trailerOff : trailerOff+trailerLen(s.hdr.Version)]
	if trailerAbsent(b) {
		return nil
	}
	t, err := decodeTrailerFor(s.hdr.Version, s.hdr.Salt, b)
	if err != nil {
		return fmt.Errorf("segment %s: offset %d: %w: %w", s.path, trailerOff, ErrTables, err)
	}
	if t.rows != rows {
		return at(trailerOff, "seal trailer says %d rows, sealed with %d", t.rows, rows)
	}
	if t.blobEnd != uint64(sc.blobEnd) {
		return at(trailerOff, "seal trailer says the blobs end at %d, the records at %d", t.blobEnd, sc.blobEnd)
	}
	sum, err := s.hashRange(s.lay.size, sc.blobEnd)
	if err != nil {
		return err
	}
	if sum != t.blobSum {
		return at(trailerOff, "seal trailer's checksum of the blob area does not match the blobs")
	}
	want := buildTables(sc.mem, rows)
	all := want.bytes()
	if t.rowDirLen != uint64(len(want.rowDir)) || t.keyTabLen != uint64(len(want.keyTab)) ||
		t.bloomLen != uint64(len(want.bloom)) || t.k != want.k || t.tablesSum != xxhash.Sum64(all) {
		return at(trailerOff, "seal trailer does not describe the tables of the blobs")
	}
	if len(all) == 0 {
		return nil
	}
	if size := s.size.Load(); uint64(size) < t.tablesEnd() {
		return at(uint64(size), "file ends before its key tables (at %d)", t.tablesEnd())
	}
	got := make([]byte, len(all))
	if _, err := s.f.ReadAt(got, int64(t.rowDirOff)); err != nil {
		return fmt.Errorf("segment %s: read key tables: %w", s.path, err)
	}
	for i := range got {
		if got[i] != all[i] {
			return at(t.rowDirOff+uint64(i), "key tables differ from those of the blobs")
		}
	}
	return nil
}
