package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
)

// HeaderSize is the size of the header page at the start of every segment.
const HeaderSize = 4096

// Version is the segment format version this package writes; it reads
// every version from 1 on (see the package doc).
const Version = 5

const (
	headerMagic = "memvecSG"
	headerUsed  = 56 // version 2; version 1 used 48
)

// Header describes a segment file; it is written once, at Create.
type Header struct {
	Version  uint32
	Dim      uint32
	Capacity uint64
	Number   uint64
	Salt     uint64
	// Gen is the manifest generation in force when the file was created
	// (version 2; 0 in version 1): no manifest of a generation up to Gen
	// can name the file, so a manifest of generation Gen or less that
	// finds it unnamed knows that it is an orphan, and one of a lower
	// generation than Gen has been rolled back.
	Gen uint64
	// Named is the generation of the first manifest that named the file,
	// from the named record (see named.go), or 0. Only ReadHeader fills
	// it in.
	Named uint64
}

// EncodeHeader returns the used bytes of the header of a segment file. A
// Version of 1 gives the version 1 layout (for tests of old files); any
// other is written into the current layout.
func EncodeHeader(h Header) []byte {
	used, sumAt := headerUsed, 48
	if h.Version == 1 {
		used, sumAt = 48, 40
	}
	b := make([]byte, used)
	copy(b, headerMagic)
	binary.LittleEndian.PutUint32(b[8:], h.Version)
	binary.LittleEndian.PutUint32(b[12:], h.Dim)
	binary.LittleEndian.PutUint64(b[16:], h.Capacity)
	binary.LittleEndian.PutUint64(b[24:], h.Number)
	binary.LittleEndian.PutUint64(b[32:], h.Salt)
	if h.Version != 1 {
		binary.LittleEndian.PutUint64(b[40:], h.Gen)
	}
	binary.LittleEndian.PutUint64(b[sumAt:], xxhash.Sum64(b[:sumAt]))
	return b
}

// DecodeHeader parses and checks a segment header. Any damage returns an
// error wrapping errs.ErrCorrupt; a newer format version wraps errs.ErrVersion.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < 48 {
		return Header{}, fmt.Errorf("header: %d bytes, want %d: %w", len(b), headerUsed, errs.ErrCorrupt)
	}
	if string(b[:8]) != headerMagic {
		return Header{}, fmt.Errorf("header: bad magic %q: %w", b[:8], errs.ErrCorrupt)
	}
	// The version decides where the checksum is. A damaged version field
	// fails the checksum where its version would put it, so damage is
	// never taken for a newer format.
	version := binary.LittleEndian.Uint32(b[8:])
	sumAt := 48
	if version == 1 {
		sumAt = 40
	} else if len(b) < headerUsed {
		return Header{}, fmt.Errorf("header: %d bytes, want %d: %w", len(b), headerUsed, errs.ErrCorrupt)
	}
	if sum := xxhash.Sum64(b[:sumAt]); sum != binary.LittleEndian.Uint64(b[sumAt:]) {
		return Header{}, fmt.Errorf("header: checksum mismatch: %w", errs.ErrCorrupt)
	}
	if version == 0 {
		return Header{}, fmt.Errorf("header: format version 0: %w", errs.ErrCorrupt)
	}
	if version > Version {
		return Header{}, fmt.Errorf("header: format version %d, this build reads up to %d: %w", version, Version, errs.ErrVersion)
	}
	h := Header{
		Version:  version,
		Dim:      binary.LittleEndian.Uint32(b[12:]),
		Capacity: binary.LittleEndian.Uint64(b[16:]),
		Number:   binary.LittleEndian.Uint64(b[24:]),
		Salt:     binary.LittleEndian.Uint64(b[32:]),
	}
	if version >= 2 {
		h.Gen = binary.LittleEndian.Uint64(b[40:])
	}
	if h.Dim == 0 || h.Capacity == 0 || h.Capacity > maxCapacityFor(version, int(h.Dim)) {
		return Header{}, fmt.Errorf("header: dimension %d capacity %d out of range: %w", h.Dim, h.Capacity, errs.ErrCorrupt)
	}
	return h, nil
}

// layout gives the byte offsets of a segment's regions. They depend on
// the format version: records are recSize bytes (48 before version 3),
// and only version 4 has codes (codeStride > 0) and their metas.
type layout struct {
	version    uint32
	dim        int
	capacity   uint64
	normsOff   int64
	codeOff    int64 // version 4: the codes, codeStride bytes per row
	metaOff    int64 // version 4: the metas, metaSize bytes per row
	codeStride int64 // 0: no codes (before version 4, or dim > quant.MaxDim)
	metaSize   int64 // quant.MetaSize with codes, else 0
	recordOff  int64
	recSize    int64
	size       int64 // the fixed part; version 3's blob area starts here
}

// maxFileSize bounds the fixed part of a segment file (1 TiB) so that
// offsets never overflow.
const maxFileSize = 1 << 40

// codeAlign aligns the code and meta areas (version 4) to a cache line,
// for the scans that read them.
const codeAlign = 64

// layoutSlack bounds the alignment padding of a version 4 fixed part
// before its page rounding: the code area, the meta area (up to
// codeAlign-1 bytes each) and the records (up to 7 bytes).
const layoutSlack = 2*(codeAlign-1) + 7

// CodeStrideFor returns the code bytes per row of a segment Create makes
// for dimension dim: dim, or 0 (no codes) past quant.MaxDim.
func CodeStrideFor(dim int) int {
	if dim > quant.MaxDim {
		return 0
	}
	return dim
}

// maxCapacity bounds the capacity of a file of the current version.
func maxCapacity(dim int) uint64 { return maxCapacityFor(Version, dim) }

// maxCapacityFor bounds the capacity of a file of the given version so
// that no accepted header has a layout that overflows. Versions 1 to 3
// share the bound of version 3's record (as they did before version 4);
// version 4 pays for its codes and alignment.
func maxCapacityFor(version uint32, dim int) uint64 {
	if version < 4 {
		return uint64(maxFileSize-HeaderSize) / uint64(rowCostFor(version, dim))
	}
	return uint64(maxFileSize-HeaderSize-layoutSlack) / uint64(rowCostFor(version, dim))
}

// rowCostFor is the fixed-part bytes of one row of a file of the given
// version (versions 1 and 2 are bounded as version 3).
func rowCostFor(version uint32, dim int) int64 {
	c := int64(dim)*4 + 4 + recordSize
	if version >= 4 && CodeStrideFor(dim) > 0 {
		c += int64(CodeStrideFor(dim)) + quant.MetaSize
	}
	return c
}

// newLayout is the layout of a file of the current version.
func newLayout(dim int, capacity uint64) layout { return layoutFor(Version, dim, capacity) }

// layoutFor is the layout of a file of the given version.
func layoutFor(version uint32, dim int, capacity uint64) layout {
	l := layout{version: version, dim: dim, capacity: capacity, recSize: recordSize}
	if version < 3 {
		l.recSize = recordSizeV2
	}
	c := int64(capacity)
	l.normsOff = HeaderSize + c*int64(dim)*4
	normsEnd := l.normsOff + c*4
	if version >= 4 {
		if cs := CodeStrideFor(dim); cs > 0 {
			l.codeStride, l.metaSize = int64(cs), quant.MetaSize
		}
		l.codeOff = align(normsEnd, codeAlign)
		l.metaOff = align(l.codeOff+c*l.codeStride, codeAlign)
		l.recordOff = align(l.metaOff+c*l.metaSize, 8)
	} else {
		l.recordOff = align(normsEnd, 8)
		l.codeOff, l.metaOff = l.recordOff, l.recordOff // empty areas
	}
	l.size = align(l.recordOff+c*l.recSize, 4096)
	return l
}

// keyed reports whether the layout's version holds keys, payloads and
// superseded IDs (a blob area).
func (l layout) keyed() bool { return l.version >= 3 }

// hasCodes reports whether the layout holds codes and metas.
func (l layout) hasCodes() bool { return l.codeStride > 0 }

func (l layout) recordAt(i uint64) int64 { return l.recordOff + int64(i)*l.recSize }

func align(n, to int64) int64 { return (n + to - 1) / to * to }

func (l layout) vectorOff(row uint64) int64 { return HeaderSize + int64(row)*int64(l.dim)*4 }

// Capacity returns how many rows of dimension dim fit in a segment file of
// the current version of about segmentBytes bytes (its fixed part, codes
// included, ends within segmentBytes rounded up to a page); it is at
// least 1 so that any size works.
func Capacity(dim int, segmentBytes int64) uint64 {
	n := (segmentBytes - HeaderSize - layoutSlack) / rowCostFor(Version, dim)
	if n < 1 {
		n = 1
	}
	if uint64(n) > maxCapacity(dim) {
		return maxCapacity(dim)
	}
	return uint64(n)
}

// FileSize returns the size of the fixed part of a segment file of the
// given shape and the current version: the size of the file at Create,
// before any blob.
func FileSize(dim int, capacity uint64) int64 { return newLayout(dim, capacity).size }
