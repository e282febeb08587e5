package segment

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/idmap"
	"github.com/memvec/memvec/internal/vfs"
)

// Run says that rows [FirstRow, FirstRow+Count) hold IDs [FirstID, FirstID+Count).
type Run struct {
	FirstID, FirstRow, Count uint64
}

// RowID returns the ID of row in a segment with the given runs (sorted by
// FirstRow and disjoint, as Runs returns them), with ok false if no run
// covers it (a row past a snapshot). It is idmap.Search, the one lookup
// over runs.
func RowID(runs []Run, row uint64) (id uint64, ok bool) {
	i, ok := idmap.Search(runs, row, runRows)
	if !ok {
		return 0, false
	}
	return runs[i].FirstID + (row - runs[i].FirstRow), true
}

func runRows(r Run) (first, n uint64) { return r.FirstRow, r.Count }

// Seal is what the manifest records about a sealed segment: with it, Open
// needs to read nothing but the header.
type Seal struct {
	Rows     uint64
	Checksum uint64 // DataSum of the rows (format 5: of their sum table)
	Runs     []Run
}

// FileName returns the file name of segment number n (filenames.Segment).
func FileName(n uint64) string { return filenames.Make(filenames.Segment, n) }

// Segment is one open segment file. Append, AppendRecords, AppendBatch,
// Sync, Seal and Supersedes are for a single writer; the read accessors
// (Vectors, InvNorms, Codes, CodeMeta, Key, Payload) may be called from
// any goroutine for rows below a row count the caller obtained from Rows,
// and LookupKey from any goroutine (see it for what a lookup concurrent
// with an append sees).
type Segment struct {
	fs   vfs.FS
	path string
	f    vfs.File
	m    []byte // read-only mapping of the whole file
	lay  layout
	hdr  Header
	// seal is what the segment was sealed with: set by Open with a seal or
	// by Seal, nil while the segment is active. It is the one record of
	// whether the segment is sealed (the engine and the manifest derive
	// theirs from it), and atomic because readers on other goroutines ask
	// while the writer seals.
	seal atomic.Pointer[Seal]

	rows    atomic.Uint64 // committed rows, published after the record is written
	synced  uint64        // rows known durable
	batches uint64        // records written
	// unchecked counts the leading batches whose checksums OpenActive
	// skipped (they were below the durable mark); Seal checks them before
	// it folds their bytes into the sealed checksum.
	unchecked uint64
	runs      []Run // writer-owned
	err       error // sticky write error: the file's state is unknown
	readOnly  bool  // opened by OpenActiveReadOnly: never written
	// alloc is how many bytes of each growing area of the fixed part
	// (layout.areas) are known allocated (writer; see allocate).
	alloc [nAreas]int64

	// Version 3 (see keys.go and tables.go).
	size       atomic.Int64 // the file's size: fixed part, blobs, tables
	blobEnd    int64        // end of the last batch's blob (writer)
	supersedes []uint64     // of every batch of the active segment (writer)
	trailer    *trailer     // sealed: the seal trailer, nil if damaged
	// staleTrailer: the active segment's header page holds a committed
	// trailer, from a seal no manifest recorded; recoverTail uncommits it.
	staleTrailer bool
	kmu          sync.RWMutex // guards the fields below
	loaded       bool         // mem or disk (or indexErr) is set
	mem          *memIndex    // active, or rebuilt from the blobs
	disk         *diskIndex   // sealed: the tables, mapped
	tm           []byte       // the mapping disk reads (whole file)
	tablesErr    error        // why the tables were rebuilt, or nil
	indexErr     error        // why no key index could be built, or nil

	// Version 5, sealed: the sum table and the rows and code blocks
	// checked against it (see sums.go), and the list of its parts'
	// checksums as the header page held it at Open or Seal (sumparts.go).
	sums    checks
	sumList []byte

	pc pageCache // advice given to the kernel (advise.go)
}

// Create makes segment number n in dir through fsys (nil: vfs.OS): it
// sizes the file to its fixed part, sparse (appends allocate its blocks in
// steps, see the package doc), writes the header, fsyncs file and
// directory, and maps it. gen is the generation of the manifest in force (Header.Gen). On
// error it removes the file (best effort: a file left behind is an orphan
// no manifest names, which recovery removes).
func Create(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, gen uint64) (*Segment, error) {
	return CreateVersion(fsys, dir, n, dim, capacity, gen, Version)
}

// CreateVersion is Create writing the given format version (1 to Version):
// the store creates only the current one, but tests (and tools that show
// what happens to older files, such as an upgrade's) make files of older
// versions with it. The file is opened, appended to and sealed in its own
// version's layout.
func CreateVersion(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, gen uint64, version uint32) (*Segment, error) {
	fsys = vfs.Or(fsys)
	if version < 1 || version > Version || dim <= 0 || capacity == 0 || capacity > maxCapacityFor(version, dim) {
		return nil, fmt.Errorf("segment %d: format version %d dimension %d capacity %d: %w", n, version, dim, capacity, errs.ErrInvalidArgument)
	}
	path := filepath.Join(dir, FileName(n))
	lay := layoutFor(version, dim, capacity)
	var salt [8]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	hdr := Header{Version: version, Dim: uint32(dim), Capacity: capacity, Number: n, Salt: binary.LittleEndian.Uint64(salt[:]), Gen: gen}
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", n, err)
	}
	s := &Segment{fs: fsys, path: path, f: f, lay: lay, hdr: hdr, blobEnd: lay.size}
	s.size.Store(lay.size)
	if lay.keyed() {
		s.mem, s.loaded = &memIndex{expect: lay.capacity}, true
	}
	fail := func(err error) (*Segment, error) {
		s.Remove()
		return nil, fmt.Errorf("segment %d: create: %w", n, err)
	}
	// The mapping covers the whole fixed part, and a mapped page past the
	// end of the file would be a SIGBUS: the size is set once, here, and
	// synced with the header; the blocks come in steps (allocate).
	if err := f.Truncate(lay.size); err != nil {
		return fail(err)
	}
	if _, err := f.WriteAt(EncodeHeader(hdr), 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fail(err)
	}
	if err := s.mapFile(); err != nil {
		return fail(err)
	}
	return s, nil
}

// Open opens segment number n of the given shape in dir through fsys (nil:
// vfs.OS). With seal != nil the segment is sealed and trusted to hold
// seal.Rows rows (Verify checks it); otherwise it is the active segment,
// opened as by OpenActive with no rows known durable.
func Open(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, seal *Seal) (*Segment, error) {
	return open(fsys, dir, n, dim, capacity, seal, 0)
}

// OpenActive opens the active segment number n: its batch records are
// checked and a torn tail is cut off (see the package doc). durable is a
// row count known to have been synced (recorded at the last clean close);
// if the records end before it, the damage is corruption, not a tear, and
// the file is left untouched.
func OpenActive(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, durable uint64) (*Segment, error) {
	return open(fsys, dir, n, dim, capacity, nil, durable)
}

// OpenActiveReadOnly opens the active segment as OpenActive does, but
// writes nothing: a torn tail is cut in memory only (its stale records
// stay on disk, past the rows the segment shows), nothing is synced, and
// Append, Sync and Seal fail.
func OpenActiveReadOnly(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, durable uint64) (*Segment, error) {
	return openMode(fsys, dir, n, dim, capacity, nil, durable, true)
}

func open(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, seal *Seal, durable uint64) (*Segment, error) {
	return openMode(fsys, dir, n, dim, capacity, seal, durable, false)
}

func openMode(fsys vfs.FS, dir string, n uint64, dim int, capacity uint64, seal *Seal, durable uint64, readOnly bool) (*Segment, error) {
	fsys = vfs.Or(fsys)
	path := filepath.Join(dir, FileName(n))
	flag := os.O_RDWR
	if seal != nil || readOnly {
		flag = os.O_RDONLY
	}
	f, err := fsys.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", path, err)
	}
	s := &Segment{fs: fsys, path: path, f: f, readOnly: readOnly}
	if err := s.open(n, dim, capacity, seal, durable); err != nil {
		s.Close()
		return nil, fmt.Errorf("segment %s: %w", path, err)
	}
	if readOnly {
		s.err = fmt.Errorf("segment %s: opened read-only: %w", path, errs.ErrReadOnly)
	}
	return s, nil
}

func (s *Segment) open(n uint64, dim int, capacity uint64, seal *Seal, durable uint64) error {
	// The loosest bound of any version (3's): the header's own version
	// bounds its capacity (DecodeHeader), and it must match this one.
	if dim <= 0 || capacity == 0 || capacity > maxCapacityFor(3, dim) {
		return fmt.Errorf("offset 0: dimension %d capacity %d out of range: %w", dim, capacity, errs.ErrCorrupt)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	// The layout depends on the version, so the header page is read
	// first, with pread: nothing is mapped before the size is checked.
	if fi.Size() < HeaderSize {
		return fmt.Errorf("offset %d: file is %d bytes, want %d: %w", fi.Size(), fi.Size(), newLayout(dim, capacity).size, errs.ErrCorrupt)
	}
	page := make([]byte, HeaderSize)
	if _, err := s.f.ReadAt(page, 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	hdr, err := DecodeHeader(page)
	if err != nil {
		return fmt.Errorf("offset 0: %w", err)
	}
	if hdr.Number != n || int(hdr.Dim) != dim || hdr.Capacity != capacity {
		return fmt.Errorf("offset 0: header says segment %d dim %d capacity %d, manifest says %d %d %d: %w",
			hdr.Number, hdr.Dim, hdr.Capacity, n, dim, capacity, errs.ErrCorrupt)
	}
	s.hdr = hdr
	s.lay = layoutFor(hdr.Version, dim, capacity)
	// Mapping past end of file would turn a short file into SIGBUS on first
	// touch, so the size is checked before anything is mapped. Create sets
	// the size and syncs it before any manifest names the file, so a
	// short file is damage, not a crash; a sparse one (blocks not yet
	// allocated, read as zeros) is the normal case.
	if fi.Size() < s.lay.size {
		return fmt.Errorf("offset %d: file is %d bytes, want %d: %w", fi.Size(), fi.Size(), s.lay.size, errs.ErrCorrupt)
	}
	s.size.Store(fi.Size())
	s.blobEnd = s.lay.size
	if err := s.mapFile(); err != nil {
		return err
	}
	if seal != nil {
		if seal.Rows > s.lay.capacity {
			return fmt.Errorf("sealed with %d rows, capacity %d: %w", seal.Rows, s.lay.capacity, errs.ErrCorrupt)
		}
		s.rows.Store(seal.Rows)
		s.synced = seal.Rows
		s.runs = append([]Run(nil), seal.Runs...)
		s.seal.Store(&Seal{Rows: seal.Rows, Checksum: seal.Checksum, Runs: s.Runs()})
		s.openSealedKeys(page)
		s.keepSumList(page, seal.Rows)
		s.adviseRows()
		return nil
	}
	if s.lay.keyed() {
		s.mem, s.loaded = &memIndex{}, true
		s.staleTrailer = !trailerAbsent(page[trailerOff:])
	}
	if err := s.recoverTail(durable); err != nil {
		return err
	}
	// Allocated for sure: what the rows and records were written in. The
	// steps allocated past them may not have survived a crash, so the
	// next append allocates again from here.
	s.alloc = s.lay.used(s.rows.Load(), s.batches)
	return nil
}

func (s *Segment) mapFile() error {
	m, err := s.fs.Map(s.f, int(s.lay.size))
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	s.m = m
	return nil
}

// Path returns the segment's file path.
func (s *Segment) Path() string { return s.path }

// Number returns the segment number.
func (s *Segment) Number() uint64 { return s.hdr.Number }

// Salt returns the random number of the file's header, which the manifest
// records to bind the file to its place.
func (s *Segment) Salt() uint64 { return s.hdr.Salt }

// Capacity returns the number of rows the segment can hold.
func (s *Segment) Capacity() uint64 { return s.lay.capacity }

// Dim returns the vector dimension.
func (s *Segment) Dim() int { return s.lay.dim }

// Size returns the file's size in bytes: the fixed part and, from version
// 3 on, the blobs and the sealed tables after it.
func (s *Segment) Size() int64 { return s.size.Load() }

// Rows returns the number of committed rows.
func (s *Segment) Rows() uint64 { return s.rows.Load() }

// Free returns how many more rows fit.
func (s *Segment) Free() uint64 { return s.lay.capacity - s.rows.Load() }

// Sealed reports whether the segment was opened sealed or has been sealed.
func (s *Segment) Sealed() bool { return s.seal.Load() != nil }

// SealInfo returns what the segment was sealed with (what the manifest
// records about it), or nil while it is active. The caller must not
// modify it.
func (s *Segment) SealInfo() *Seal { return s.seal.Load() }

// Runs returns a copy of the segment's ID runs (writer side).
func (s *Segment) Runs() []Run { return append([]Run(nil), s.runs...) }

// Vectors returns rows [from, to) as one row-major slice into the mapping.
// The caller must hold a row count >= to obtained from Rows, and keep the
// segment open while it uses the slice.
func (s *Segment) Vectors(from, to uint64) []float32 {
	if from >= to {
		return nil
	}
	off := s.lay.vectorOff(from)
	return unsafe.Slice((*float32)(unsafe.Pointer(&s.m[off])), int(to-from)*s.lay.dim)
}

// InvNorms returns the inverse norms of rows [from, to).
func (s *Segment) InvNorms(from, to uint64) []float32 {
	if from >= to {
		return nil
	}
	off := s.lay.normsOff + int64(from)*4
	return unsafe.Slice((*float32)(unsafe.Pointer(&s.m[off])), int(to-from))
}

func (s *Segment) vectorBytes(from, to uint64) []byte {
	return s.m[s.lay.vectorOff(from):s.lay.vectorOff(to)]
}

func (s *Segment) normBytes(from, to uint64) []byte {
	return s.m[s.lay.normsOff+int64(from)*4 : s.lay.normsOff+int64(to)*4]
}

func (s *Segment) recordBytes(i uint64) []byte {
	off := s.lay.recordAt(i)
	return s.m[off : off+s.lay.recSize]
}

// Append writes one batch: vectors (each of length Dim) with their inverse
// norms, holding IDs firstID, firstID+1, ...; with durable it returns only
// after fdatasync. The rows become visible to Rows only after the batch's
// record is written. After a failed write or sync the segment refuses
// further appends: what reached the disk is unknown. It is AppendBatch
// without keys, payloads, superseded IDs or given codes.
func (s *Segment) Append(firstID uint64, vecs [][]float32, invNorms []float32, durable bool) error {
	return s.AppendBatch(Batch{FirstID: firstID, Vecs: vecs, InvNorms: invNorms}, durable)
}

// AppendRecords is AppendBatch with keys, payloads and superseded IDs, and
// with the codes (format version 4) encoded by the segment.
func (s *Segment) AppendRecords(firstID uint64, vecs [][]float32, invNorms []float32, keys, payloads [][]byte, supersedes []uint64, durable bool) error {
	return s.AppendBatch(Batch{FirstID: firstID, Vecs: vecs, InvNorms: invNorms, Keys: keys, Payloads: payloads, Supersedes: supersedes}, durable)
}

// Batch is one batch of rows for AppendBatch: rows FirstID, FirstID+1, ...
type Batch struct {
	FirstID  uint64
	Vecs     [][]float32 // each of length Dim
	InvNorms []float32   // one per row
	// Codes and Meta are the rows' int8 codes (len(Vecs)*CodeStrideFor(Dim)
	// bytes, int8 bit patterns) and metas (len(Vecs)*quant.MetaSize bytes),
	// both given or both nil. Given, they are written as they are (a
	// compaction copies them bit for bit; the engine encodes outside its
	// write lock); nil, a segment with codes encodes them with
	// quant.Encode. A segment without codes (HasCodes false) ignores them.
	Codes []byte
	Meta  []byte
	// Keys, Payloads and Supersedes are as for AppendRecords (format
	// version 3 and later).
	Keys, Payloads [][]byte
	Supersedes     []uint64
}

// AppendBatch writes one batch: its rows, norms, codes and metas (format
// version 4) and, in format version 3 and later, a key and a payload per
// row and the IDs the batch supersedes, all covered by the batch record's
// checksum, so that they share its fdatasync and its torn-tail rule (see
// the package doc). With durable it returns only after fdatasync. The
// rows become visible to Rows only after the batch's record is written.
// After a failed write or sync the segment refuses further appends: what
// reached the disk is unknown (Err). A batch whose blocks cannot be
// allocated (see the package doc) fails before anything is written: the
// segment goes on taking appends.
//
// Keys is nil for rows without keys, or holds one key of 1 to MaxKeyLen
// bytes per row (or empty: a row without a key); Payloads is nil or holds
// one payload of at most MaxPayloadLen bytes per row (nil entries are
// empty), and only with keys. A key given twice is held by its last row
// (LookupKey). Supersedes names IDs the batch replaces: the segment only
// keeps them (Supersedes), it is the caller's to delete them. A batch with
// none of the three has no blob. Bad arguments, or any of the three on a
// segment of an older version (Keyed false), return ErrInvalidArgument.
func (s *Segment) AppendBatch(b Batch, durable bool) error {
	if s.err != nil {
		return s.err
	}
	n := uint64(len(b.Vecs))
	rows := s.rows.Load()
	switch {
	case s.Sealed():
		return fmt.Errorf("segment %d: append to sealed segment: %w", s.hdr.Number, errs.ErrInvalidArgument)
	case n == 0 || n > s.lay.capacity-rows || len(b.InvNorms) != len(b.Vecs):
		return fmt.Errorf("segment %d: append %d rows at %d of %d: %w", s.hdr.Number, n, rows, s.lay.capacity, errs.ErrInvalidArgument)
	case !s.lay.keyed() && (len(b.Keys) != 0 || len(b.Payloads) != 0 || len(b.Supersedes) != 0):
		return fmt.Errorf("segment %d: format version %d holds no keys, payloads or superseded IDs: %w", s.hdr.Number, s.lay.version, errs.ErrInvalidArgument)
	case len(b.Keys) != 0 && rows+n > maxKeyedRows:
		return fmt.Errorf("segment %d: keyed rows past row %d: %w", s.hdr.Number, maxKeyedRows, errs.ErrInvalidArgument)
	}
	if err := checkBatchArgs(int(n), b.Keys, b.Payloads, b.Supersedes); err != nil {
		return fmt.Errorf("segment %d: %w", s.hdr.Number, err)
	}
	if err := checkCodeArgs(int(n), s.lay.dim, b.Codes, b.Meta); err != nil {
		return fmt.Errorf("segment %d: %w", s.hdr.Number, err)
	}
	dim := s.lay.dim
	buf := rowBufs.get(int(n) * dim * 4) // every byte is set below
	defer rowBufs.put(buf)
	for i, v := range b.Vecs {
		if len(v) != dim {
			return fmt.Errorf("segment %d: row of length %d: %w", s.hdr.Number, len(v), errs.ErrDimension)
		}
		copy(buf[i*dim*4:], floatBytes(v))
	}
	norms := floatBytes(b.InvNorms)
	codes, metas := s.batchCodes(b)
	raw := encodeBlob(b.Keys, b.Payloads, b.Supersedes)
	defer blobBufs.put(raw)
	// Decoded before anything is written, so that the index takes the
	// batch as recovery will read it back (encodeBlob's output always
	// decodes: a failure here is a bug, refused before it reaches disk).
	bl, err := decodeBlob(raw, uint32(n))
	if err != nil {
		return fmt.Errorf("segment %d: %w", s.hdr.Number, err)
	}
	// Before the key index takes the batch and before any write: a
	// refused allocation leaves nothing to undo.
	if err := s.allocate(n); err != nil {
		return err
	}
	rec := Record{Rows: uint32(n), FirstRow: rows, FirstID: b.FirstID, Synced: s.synced, Index: s.batches,
		BlobOff: uint64(s.blobEnd), BlobLen: uint64(len(raw))}
	waitIndex := func() {}
	if bl.keyed {
		if n < indexAhead {
			s.indexBatch(rec, raw, bl)
		} else {
			// Waited for before the rows become visible and, on an
			// error, before raw goes back to its pool (deferred calls
			// run last first).
			indexed := make(chan struct{})
			go func(rec Record) {
				defer close(indexed)
				s.indexBatch(rec, raw, bl)
			}(rec)
			waitIndex = func() { <-indexed }
			defer waitIndex()
		}
	}
	rb := make([]byte, s.lay.recSize)
	rec.Sum = recordSum(s.hdr.Salt, rec.encodeFor(s.lay.version, rb), buf, norms, codes, metas, raw)
	rec.encodeFor(s.lay.version, rb)
	if err := s.write(buf, s.lay.vectorOff(rows)); err != nil {
		return err
	}
	if err := s.write(norms, s.lay.normsOff+int64(rows)*4); err != nil {
		return err
	}
	if len(codes) > 0 {
		if err := s.write(codes, s.lay.codeOff+int64(rows)*s.lay.codeStride); err != nil {
			return err
		}
		if err := s.write(metas, s.lay.metaOff+int64(rows)*s.lay.metaSize); err != nil {
			return err
		}
	}
	if len(raw) > 0 {
		// Past the end of the file: the mapping never covers the blobs.
		if err := s.write(raw, s.blobEnd); err != nil {
			return err
		}
	}
	if err := s.write(rb, s.lay.recordAt(s.batches)); err != nil {
		return err
	}
	if durable {
		if err := s.Sync(); err != nil {
			return err
		}
	}
	s.batches++
	s.addRun(Run{FirstID: b.FirstID, FirstRow: rows, Count: n})
	if len(raw) > 0 {
		s.addBatch(rec, bl)
	}
	waitIndex()
	s.rows.Store(rows + n)
	if durable {
		s.synced = rows + n
	}
	return nil
}

// Err returns the error of the failed write or sync after which the
// segment refuses appends, or nil: an AppendBatch error with Err nil wrote
// nothing (bad arguments, or no space for the batch's blocks).
func (s *Segment) Err() error { return s.err }

func (s *Segment) write(b []byte, off int64) error {
	if _, err := s.f.WriteAt(b, off); err != nil {
		s.err = fmt.Errorf("segment %s: write at %d: %w", s.path, off, err)
		return s.err
	}
	return nil
}

// Sync makes every appended batch durable. A failed sync poisons the
// segment: the kernel may have dropped the dirty pages, so the error is
// never forgotten (no retry-and-hope after an fsync failure).
func (s *Segment) Sync() error {
	if s.err != nil {
		return s.err
	}
	if s.Sealed() {
		return nil
	}
	if err := s.f.Datasync(); err != nil {
		s.err = fmt.Errorf("segment %s: fdatasync: %w", s.path, err)
		return s.err
	}
	s.synced = s.rows.Load()
	return nil
}

func (s *Segment) addRun(r Run) {
	if k := len(s.runs); k > 0 {
		last := &s.runs[k-1]
		if last.FirstID+last.Count == r.FirstID && last.FirstRow+last.Count == r.FirstRow {
			last.Count += r.Count
			return
		}
	}
	s.runs = append(s.runs, r)
}

// Seal syncs the segment and marks it immutable, returning what the
// manifest must record about it. In format version 3 it first writes the
// key tables and the seal trailer (see tables.go), synced with the rows.
func (s *Segment) Seal() (Seal, error) {
	if s.err != nil {
		return Seal{}, s.err
	}
	row, blobAt := uint64(0), s.lay.size
	for i := uint64(0); i < s.unchecked; i++ {
		b, err := s.checkRecord(i, row, blobAt, true)
		if err != nil {
			return Seal{}, fmt.Errorf("segment %s: offset %d: %w", s.path, s.lay.recordAt(i), err)
		}
		row += uint64(b.rec.Rows)
		blobAt = b.end
	}
	s.unchecked = 0
	rows := s.rows.Load()
	var sum uint64
	if s.lay.keyed() && !s.Sealed() {
		// The checksum of the rows (version 5: their sum table) reads
		// only their mapped bytes, which nothing writes any more (the
		// tables go past the blobs, the trailer into the header page):
		// it runs beside the tables' build, which on a segment of small
		// keyed rows takes longer. It is waited for before any return,
		// as the caller may close the mapping next.
		type sums struct {
			tab []byte // version 5: the sum table, written with the tables
			sum uint64 // DataSum(rows)
		}
		done := make(chan sums, 1)
		go func() {
			var r sums
			if s.hdr.Version >= 5 {
				r.tab = s.sumTable(rows, true)
				r.sum = sealSum(rows, r.tab)
			} else {
				r.sum = s.DataSum(rows)
			}
			done <- r
		}()
		result := sync.OnceValue(func() sums { return <-done })
		s.writeTables(func() []byte { return result().tab })
		sum = result().sum
	} else {
		sum = s.DataSum(rows)
	}
	if err := s.Sync(); err != nil {
		return Seal{}, err
	}
	seal := Seal{Rows: rows, Checksum: sum, Runs: s.Runs()}
	s.seal.Store(&seal)
	s.adviseRows()
	if s.lay.keyed() {
		// From now on lookups use the tables just written, mapped on
		// first use, and the heap forgets the segment's keys.
		s.kmu.Lock()
		s.mem, s.loaded = nil, false
		s.kmu.Unlock()
	}
	return seal, nil
}

// DataSum returns the manifest's checksum of a segment sealed with rows
// rows. Up to format version 4 it is the xxhash64 of the vector bytes,
// then the norm bytes and (version 4) the code and meta bytes of rows
// [0, rows); from version 5 it is that of the row count and the rows' sum
// table (see sums.go), which holds a checksum per row and per code block.
func (s *Segment) DataSum(rows uint64) uint64 { return s.dataSum(rows, true) }

// dataSum is DataSum, dropping behind it the rows it found out of the page
// cache only with drop (see streamVectors).
func (s *Segment) dataSum(rows uint64, drop bool) uint64 {
	if s.hdr.Version >= 5 {
		return sealSum(rows, s.sumTable(rows, drop))
	}
	d := xxhash.New()
	// Streamed: the vectors of a sealed segment are advised random (see
	// Page cache in the package doc), and a Verify of a store larger than
	// RAM must not evict its codes.
	s.streamVectors(0, rows, drop, func(from, to uint64) error {
		d.Write(s.vectorBytes(from, to))
		return nil
	})
	d.Write(s.normBytes(0, rows))
	d.Write(s.codeBytes(0, rows))
	d.Write(s.metaBytes(0, rows))
	return d.Sum64()
}

// Close unmaps and closes the file. It does not sync: callers Sync first
// when they need durability.
func (s *Segment) Close() error {
	err := s.closeChecks()
	if s.m != nil {
		if uerr := s.fs.Unmap(s.m); err == nil {
			err = uerr
		}
		s.m = nil
	}
	s.kmu.Lock()
	if s.tm != nil {
		if uerr := s.fs.Unmap(s.tm); err == nil {
			err = uerr
		}
		s.tm = nil
	}
	s.mem, s.disk, s.loaded = nil, nil, true
	s.indexErr = fmt.Errorf("segment %s: closed: %w", s.path, errs.ErrClosed)
	s.kmu.Unlock()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	return err
}

// Remove closes the segment and deletes its file. The caller syncs the
// directory.
func (s *Segment) Remove() error {
	err := s.Close()
	if rerr := s.fs.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// Verify reads every checksummed byte of the segment: the header, and the
// rows (vectors, norms and, in format 4 on, codes and metas) against seal's
// checksum when sealed (format 5: through the sum table, recomputed) or
// against each batch record when active, and the blobs and key tables
// (format 3 on) and the sum table (format 5). The error names the file and
// offset of the first mismatch; damage to the derived tables alone wraps
// ErrTables.
func (s *Segment) Verify(ctx context.Context, seal *Seal) error {
	if _, err := DecodeHeader(s.m[:HeaderSize]); err != nil {
		return fmt.Errorf("segment %s: offset 0: %w", s.path, err)
	}
	if seal != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The rows found out of the page cache are dropped after both
		// passes (the data check's and verifyTables' over the records),
		// so they are read from disk once, and a Verify of a store
		// larger than RAM leaves its codes cached.
		cold := s.coldVectors(seal.Rows)
		defer cold.dropTo(s.lay.vectorOff(seal.Rows))
		tabErr, err := s.verifyData(seal, false)
		if err != nil {
			return err
		}
		if s.lay.keyed() {
			if err := s.verifyTables(ctx, seal.Rows); err != nil {
				return err
			}
		}
		return tabErr
	}
	_, err := s.scanRecords(ctx, s.rows.Load())
	return err
}

// verifyData checks the rows of a sealed segment against seal's checksum:
// for format 5 through their sum table (verifySums; tabErr reports a
// damaged table on disk), before as one checksum of all the bytes. With
// drop it drops behind it the rows it found cold (streamVectors).
func (s *Segment) verifyData(seal *Seal, drop bool) (tabErr, err error) {
	if s.hdr.Version >= 5 {
		return s.verifySums(seal, drop)
	}
	if sum := s.dataSum(seal.Rows, drop); sum != seal.Checksum {
		return nil, fmt.Errorf("segment %s: offset %d: rows 0..%d fail the sealed checksum: %w", s.path, HeaderSize, seal.Rows, errs.ErrCorrupt)
	}
	return nil, nil
}

func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

// ReadHeader reads and decodes the header of the segment file at path
// through fsys (nil: vfs.OS) without mapping it, for recovery to tell an
// orphan from a file a newer manifest named. An empty file, or one whose
// header is zeros, returns ErrNoHeader: Create sizes the whole file and
// syncs it with the header before any manifest can name it, so such a
// file is what a crash inside Create leaves. A file of another size shorter than
// a header page is ErrCorrupt: not a segment at all.
func ReadHeader(fsys vfs.FS, path string) (Header, error) {
	f, err := vfs.Or(fsys).OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Header{}, err
	}
	switch size := fi.Size(); {
	case size == 0:
		return Header{}, ErrNoHeader
	case size < HeaderSize:
		return Header{}, fmt.Errorf("segment %s: %d bytes, shorter than a header page: %w", path, size, errs.ErrCorrupt)
	}
	b := make([]byte, namedOff+namedSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		return Header{}, fmt.Errorf("segment %s: %w", path, err)
	}
	if isZero(b[:headerUsed]) {
		return Header{}, ErrNoHeader
	}
	h, err := DecodeHeader(b[:headerUsed])
	if err != nil {
		return Header{}, fmt.Errorf("segment %s: %w", path, err)
	}
	if h.Version >= 2 {
		h.Named = decodeNamed(b[namedOff:])
	}
	return h, nil
}

// ErrNoHeader is returned by ReadHeader for a file whose header was never
// written (see ReadHeader).
var ErrNoHeader = errors.New("segment: no header")
