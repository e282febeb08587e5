package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
)

// The sum table of a sealed segment of format version 5 (see the package
// doc): a checksum per row and per code block, so that a reader checks
// the bytes it reads and no others. The manifest's checksum of the
// segment (DataSum) is the checksum of the table, which authenticates
// each of its entries; the table itself is derived data, written at Seal
// after the key tables and placed by the seal trailer, and recomputed
// from the rows when it is missing or damaged.

// SumBlockRows is the rows of one code block of the sum table: the code
// pass's rows per kernel call (engine), so that each of its blocks, and
// each of its chunks, checks whole blocks.
const SumBlockRows = 1024

// sumBlocks is the number of code blocks of rows rows (the last one may be
// short).
func sumBlocks(rows uint64) uint64 { return (rows + SumBlockRows - 1) / SumBlockRows }

// sumBlocks is the number of code block entries of the sum table of rows
// rows: none without codes.
func (l layout) sumBlocks(rows uint64) uint64 {
	if !l.hasCodes() {
		return 0
	}
	return sumBlocks(rows)
}

// sumTabLen is the size in bytes of the sum table of rows rows.
func (l layout) sumTabLen(rows uint64) uint64 { return (rows + l.sumBlocks(rows)) * 8 }

// rowSum returns the xxhash64 of row's vector bytes then its norm bytes:
// what Get, SearchIn and rescoring read of it.
func (s *Segment) rowSum(row uint64) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(s.vectorBytes(row, row+1))
	d.Write(s.normBytes(row, row+1))
	return d.Sum64()
}

// blockSum returns the xxhash64 of the code bytes, then the meta bytes,
// then the norm bytes of rows [from, to): what the code pass reads of a
// block (it scales each row's bounds by its norm).
func (s *Segment) blockSum(from, to uint64) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(s.codeBytes(from, to))
	d.Write(s.metaBytes(from, to))
	d.Write(s.normBytes(from, to))
	return d.Sum64()
}

// sumTable computes the sum table of rows [0, rows) from the mapped rows,
// streaming the vectors (read ahead: a sealed segment's are advised
// random; with drop, the rows it found cold are dropped behind it, see
// streamVectors).
func (s *Segment) sumTable(rows uint64, drop bool) []byte {
	tab := make([]byte, s.lay.sumTabLen(rows))
	s.streamVectors(0, rows, drop, func(from, to uint64) error {
		for r := from; r < to; r++ {
			binary.LittleEndian.PutUint64(tab[r*8:], s.rowSum(r))
		}
		return nil
	})
	for b := uint64(0); b < s.lay.sumBlocks(rows); b++ {
		from := b * SumBlockRows
		binary.LittleEndian.PutUint64(tab[(rows+b)*8:], s.blockSum(from, min(from+SumBlockRows, rows)))
	}
	return tab
}

// checks is the state of a sealed version 5 segment's row and block
// checks, set up on first use (load).
type checks struct {
	once sync.Once
	err  error  // the rows fail the sealed checksum: every check fails
	tab  []byte // the sum table, authenticated by the sealed checksum
	m    []byte // the mapping tab lies in; nil when it was recomputed
	all  bool   // tab was recomputed from the rows: all of them match
	// tabErr says why the table was recomputed (missing or damaged on
	// disk), or nil.
	tabErr error
	// A bit per row and per code block, set once it has matched.
	rows, blocks []atomic.Uint64
	// ready is set once the table is loaded (once has run).
	ready atomic.Bool
	// Parts (sumparts.go): list is the header page's list of part
	// checksums, authenticated by the sealed checksum (nil when the
	// table was checked whole or recomputed), part the parts' size, a
	// bit per part set once it matched. fixed is set once a damaged part
	// made the whole table be recomputed from the rows and it matched
	// (every row is then good); fixErr when it did not.
	list   []byte
	part   uint64
	parts  []atomic.Uint64
	fix    sync.Once
	fixed  atomic.Bool
	fixErr error
}

// CheckedReads reports whether reads of the segment can be checked row
// by row and block by block (CheckRows, CheckCodes): a sealed segment of
// format version 5. Others are checked whole (VerifyData) before use.
func (s *Segment) CheckedReads() bool { return s.hdr.Version >= 5 && s.Sealed() }

// checked returns the segment's checks, loading the sum table on first
// use: from the file, through a mapping, when it matches the sealed
// checksum; else recomputed from the rows (one pass), which must.
func (s *Segment) checked() *checks {
	c := &s.sums
	c.once.Do(func() {
		s.loadChecks(c)
		c.ready.Store(true)
	})
	return c
}

// PrefetchChecks asks the kernel, without waiting, for the pages of the
// sum table that the first checks of rows [from, to) read (a sealed
// segment of format 5), so that a search about to check rows of many
// cold segments has those reads in flight together rather than one after
// another. Rows must be below the sealed rows.
func (s *Segment) PrefetchChecks(from, to uint64) {
	if !s.CheckedReads() || s.trailer == nil || from >= to {
		return
	}
	c := &s.sums
	if c.ready.Load() && (c.list == nil || c.fixed.Load()) {
		return // checked as a whole: the table is read
	}
	s.f.Fadvise(int64(s.trailer.sumOff+from*8), int64((to-from)*8), vfs.AdviseWillNeed)
}

// RowChecked reports, without waiting or reading, whether row has
// already passed its check in this process (so CheckRows(row, row+1)
// would return nil at once): the fast path of a reader of scattered rows,
// small enough to be inlined where CheckRows' call would cost more than
// the probe. False says only "ask CheckRows".
func (s *Segment) RowChecked(row uint64) bool {
	c := &s.sums
	if !c.ready.Load() {
		return false
	}
	i := row / 64
	return i < uint64(len(c.rows)) && c.rows[i].Load()&(1<<(row%64)) != 0
}

func (s *Segment) loadChecks(c *checks) {
	seal := s.seal.Load()
	if seal == nil || s.hdr.Version < 5 {
		c.err = fmt.Errorf("segment %s: row checks of an active segment or of format version %d: %w", s.path, s.hdr.Version, errs.ErrInvalidArgument)
		return
	}
	rows := seal.Rows
	c.rows = make([]atomic.Uint64, (rows+63)/64)
	c.blocks = make([]atomic.Uint64, (s.lay.sumBlocks(rows)+63)/64)
	// The header page's list of part checksums, when it matches the
	// sealed checksum: each part is then checked on its first use.
	tabLen := s.lay.sumTabLen(rows)
	if list := s.sumList; s.trailer != nil && s.trailer.sumLen == tabLen && uint64(len(list)) == 8*sumParts(tabLen) {
		if listSum(rows, list) == seal.Checksum {
			if tab, m, err := s.mapSums(rows, false); err == nil {
				c.tab, c.m, c.part = tab, m, sumPart(tabLen)
				c.list = list
				c.parts = make([]atomic.Uint64, (sumParts(tabLen)+63)/64)
				return
			}
		}
	}
	tab, m, err := s.mapSums(rows, true)
	if err == nil && sealSum(rows, tab) == seal.Checksum {
		c.tab, c.m = tab, m
		return
	}
	if m != nil {
		s.fs.Unmap(m)
	}
	if err == nil {
		err = fmt.Errorf("segment %s: offset %d: sum table fails the sealed checksum: %w: %w", s.path, s.trailer.sumOff, ErrTables, errs.ErrCorrupt)
	}
	c.tabErr = err
	tab = s.sumTable(rows, true)
	if sealSum(rows, tab) != seal.Checksum {
		c.err = fmt.Errorf("segment %s: offset %d: rows 0..%d fail the sealed checksum (its sum table is damaged too: %v): %w", s.path, HeaderSize, rows, err, errs.ErrCorrupt)
		return
	}
	c.tab, c.all = tab, true
}

// mapSums maps the file up to the end of the sum table the seal trailer
// places and returns the table; nil and an error wrapping ErrCorrupt when
// the trailer is missing or damaged, or the file too short.
func (s *Segment) mapSums(rows uint64, whole bool) (tab, m []byte, err error) {
	t := s.trailer
	if t == nil {
		return nil, nil, fmt.Errorf("segment %s: offset %d: no seal trailer: %w: %w", s.path, trailerOff, ErrTables, errs.ErrCorrupt)
	}
	if t.sumLen != s.lay.sumTabLen(rows) {
		return nil, nil, fmt.Errorf("segment %s: offset %d: seal trailer: sum table of %d bytes, want %d: %w: %w", s.path, trailerOff, t.sumLen, s.lay.sumTabLen(rows), ErrTables, errs.ErrCorrupt)
	}
	if t.sumLen == 0 {
		return []byte{}, nil, nil
	}
	fi, err := s.f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", s.path, err)
	}
	if uint64(fi.Size()) < t.sumEnd() {
		return nil, nil, fmt.Errorf("segment %s: offset %d: file is %d bytes, its sum table ends at %d: %w: %w", s.path, fi.Size(), fi.Size(), t.sumEnd(), ErrTables, errs.ErrCorrupt)
	}
	m, err = s.fs.Map(s.f, int(t.sumEnd()))
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: mmap sum table: %w", s.path, err)
	}
	// Only the table is read through this mapping: no read-around (a
	// fault would read megabytes of the file before the table), and,
	// when it is to be read whole, the table's own pages asked for at
	// once.
	madvise(m, adviseRandom)
	if whole {
		adviseTable(m, int64(t.sumOff), int64(t.sumEnd()))
	}
	return m[t.sumOff:t.sumEnd()], m, nil
}

// CheckRows checks the vector and norm bytes of rows [from, to) of a
// sealed segment of format version 5 (CheckedReads) against their
// entries of the sum table, each once per process: a row that matched is
// not hashed again. The caller must not read a row before it passes: the
// error (ErrCorrupt) names the file and the offset of the first row that
// fails. Concurrent callers may both hash a row; both get the same answer.
func (s *Segment) CheckRows(from, to uint64) error {
	if from < to && !s.sums.ready.Load() {
		// The first check loads the table: the rows' reads go out
		// with the table's, not after them.
		s.PrefetchVectors(from, min(to, s.seal.Load().Rows))
	}
	c := s.checked()
	if c.err != nil {
		return c.err
	}
	if n := s.seal.Load().Rows; to > n || from > to {
		return fmt.Errorf("segment %s: check rows %d..%d of %d: %w", s.path, from, to, n, errs.ErrInvalidArgument)
	}
	if c.all || c.fixed.Load() {
		return nil
	}
	for r := from; r < to; {
		w := &c.rows[r/64]
		word := w.Load()
		if word == ^uint64(0) {
			r = (r/64 + 1) * 64
			continue
		}
		if bit := uint64(1) << (r % 64); word&bit == 0 {
			if err := s.checkPart(c, r); err != nil {
				return err
			}
			if c.fixed.Load() {
				return nil
			}
			if s.rowSum(r) != binary.LittleEndian.Uint64(c.tab[r*8:]) {
				return fmt.Errorf("segment %s: offset %d: row %d (norm at offset %d) fails its checksum: %w",
					s.path, s.lay.vectorOff(r), r, s.lay.normsOff+int64(r)*4, errs.ErrCorrupt)
			}
			w.Or(bit)
		}
		r++
	}
	return nil
}

// CheckCodes checks the code blocks (SumBlockRows rows each) that hold
// rows [from, to) of a sealed segment of format version 5 with codes:
// their code, meta and norm bytes against the sum table, each block once
// per process. The error (ErrCorrupt) names the file and the offset of the
// first code of the block that fails.
func (s *Segment) CheckCodes(from, to uint64) error {
	c := s.checked()
	if c.err != nil {
		return c.err
	}
	rows := s.seal.Load().Rows
	if to > rows || from > to || !s.lay.hasCodes() {
		return fmt.Errorf("segment %s: check codes of rows %d..%d of %d: %w", s.path, from, to, rows, errs.ErrInvalidArgument)
	}
	if c.all || c.fixed.Load() || from == to {
		return nil
	}
	for b := from / SumBlockRows; b <= (to-1)/SumBlockRows; b++ {
		w, bit := &c.blocks[b/64], uint64(1)<<(b%64)
		if w.Load()&bit != 0 {
			continue
		}
		if err := s.checkPart(c, rows+b); err != nil {
			return err
		}
		if c.fixed.Load() {
			return nil
		}
		first := b * SumBlockRows
		if s.blockSum(first, min(first+SumBlockRows, rows)) != binary.LittleEndian.Uint64(c.tab[(rows+b)*8:]) {
			return fmt.Errorf("segment %s: offset %d: code block %d (rows %d..%d) fails its checksum: %w",
				s.path, s.lay.codeOff+int64(first)*s.lay.codeStride, b, first, min(first+SumBlockRows, rows), errs.ErrCorrupt)
		}
		w.Or(bit)
	}
	return nil
}

// verifySums is the data check of Verify and VerifyData for a sealed
// segment of format version 5: the sum table recomputed from the rows
// against the sealed checksum. When they differ and the table on disk
// matches the checksum, the error names the first row or block that
// differs from it. tabErr reports a missing or damaged table on disk
// (derived data: ErrTables), when the rows are good.
func (s *Segment) verifySums(seal *Seal, drop bool) (tabErr, err error) {
	tab := s.sumTable(seal.Rows, drop)
	disk, m, derr := s.mapSums(seal.Rows, true)
	if m != nil {
		defer s.fs.Unmap(m)
	}
	diskOK := derr == nil && sealSum(seal.Rows, disk) == seal.Checksum
	if sealSum(seal.Rows, tab) == seal.Checksum {
		switch {
		case diskOK:
			// The header page's list of the parts' checksums, derived
			// from the table like the table from the rows.
			if list := partList(tab); !bytes.Equal(s.m[sumPartsOff:sumPartsOff+len(list)], list) {
				return fmt.Errorf("segment %s: offset %d: the list of the sum table's part checksums does not match the table: %w: %w", s.path, sumPartsOff, ErrTables, errs.ErrCorrupt), nil
			}
			return nil, nil
		case derr != nil && trailerAbsent(s.m[trailerOff:trailerOff+trailerSizeV5]):
			// A seal that could not write its tables (a full disk):
			// not damage, as for the key tables.
			return nil, nil
		case derr != nil:
			return derr, nil
		}
		return fmt.Errorf("segment %s: offset %d: sum table fails the sealed checksum: %w: %w", s.path, s.trailer.sumOff, ErrTables, errs.ErrCorrupt), nil
	}
	if diskOK {
		for i := uint64(0); i < uint64(len(tab))/8; i++ {
			if binary.LittleEndian.Uint64(tab[i*8:]) == binary.LittleEndian.Uint64(disk[i*8:]) {
				continue
			}
			if i < seal.Rows {
				return nil, fmt.Errorf("segment %s: offset %d: row %d fails its checksum: %w", s.path, s.lay.vectorOff(i), i, errs.ErrCorrupt)
			}
			b := i - seal.Rows
			return nil, fmt.Errorf("segment %s: offset %d: code block %d fails its checksum: %w", s.path, s.lay.codeOff+int64(b*SumBlockRows)*s.lay.codeStride, b, errs.ErrCorrupt)
		}
	}
	return nil, fmt.Errorf("segment %s: offset %d: rows 0..%d fail the sealed checksum: %w", s.path, HeaderSize, seal.Rows, errs.ErrCorrupt)
}

// closeChecks unmaps the sum table's mapping (Close).
func (s *Segment) closeChecks() error {
	c := &s.sums
	c.once.Do(func() { c.err = fmt.Errorf("segment %s: closed: %w", s.path, errs.ErrClosed) })
	if c.m == nil {
		return nil
	}
	m := c.m
	c.m, c.tab = nil, nil
	c.err = fmt.Errorf("segment %s: closed: %w", s.path, errs.ErrClosed)
	return s.fs.Unmap(m)
}
