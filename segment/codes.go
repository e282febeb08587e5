package segment

import (
	"fmt"
	"unsafe"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
)

// The int8 codes of format version 4 (see the package doc and package
// quant): CodeStride bytes and a quant.MetaSize-byte meta per row, in two
// areas of the fixed part, written with the row's batch and covered by its
// record's checksum and by DataSum.

// HasCodes reports whether the segment holds codes: format version 4 and a
// dimension up to quant.MaxDim. A segment without them is searched in
// float32 only.
func (s *Segment) HasCodes() bool { return s.lay.hasCodes() }

// CodeStride returns the code bytes per row (the dimension), or 0 without
// codes.
func (s *Segment) CodeStride() int { return int(s.lay.codeStride) }

// Codes returns the codes of rows [from, to) as one row-major slice into
// the mapping, CodeStride per row, or nil without codes. As for Vectors,
// the caller must hold a row count >= to obtained from Rows and keep the
// segment open while it uses the slice; the bytes are as checked as the
// vectors (by the serve gate, VerifyData).
func (s *Segment) Codes(from, to uint64) []int8 {
	b := s.codeBytes(from, to)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// CodeMeta returns the metas of rows [from, to), quant.MetaSize bytes per
// row (quant.DecodeMeta reads one), as a slice into the mapping, or nil
// without codes; as Codes.
func (s *Segment) CodeMeta(from, to uint64) []byte {
	if b := s.metaBytes(from, to); len(b) > 0 {
		return b
	}
	return nil
}

func (s *Segment) codeBytes(from, to uint64) []byte {
	if from >= to {
		return nil
	}
	st := s.lay.codeStride
	return s.m[s.lay.codeOff+int64(from)*st : s.lay.codeOff+int64(to)*st]
}

func (s *Segment) metaBytes(from, to uint64) []byte {
	if from >= to {
		return nil
	}
	ms := s.lay.metaSize
	return s.m[s.lay.metaOff+int64(from)*ms : s.lay.metaOff+int64(to)*ms]
}

// checkCodeArgs checks the codes and metas given for a batch of n rows of
// dimension dim (see Batch): both nil, or both of the length the
// dimension's codes take (none past quant.MaxDim).
func checkCodeArgs(n, dim int, codes, meta []byte) error {
	cs := CodeStrideFor(dim)
	switch {
	case (codes == nil) != (meta == nil):
		return fmt.Errorf("codes without metas or metas without codes: %w", errs.ErrInvalidArgument)
	case codes == nil:
		return nil
	case cs == 0 && (len(codes) != 0 || len(meta) != 0):
		return fmt.Errorf("codes for dimension %d, which has none: %w", dim, errs.ErrInvalidArgument)
	case len(codes) != n*cs || len(meta) != n*quant.MetaSize:
		return fmt.Errorf("%d rows, %d code bytes, %d meta bytes: %w", n, len(codes), len(meta), errs.ErrInvalidArgument)
	}
	return nil
}

// batchCodes returns the code and meta bytes to write for b (checked by
// checkCodeArgs): as given, or encoded; nil for a segment without codes.
func (s *Segment) batchCodes(b Batch) (codes, metas []byte) {
	if !s.lay.hasCodes() {
		return nil, nil
	}
	if b.Codes != nil {
		return b.Codes, b.Meta
	}
	return EncodeCodes(b.Vecs)
}

// EncodeCodes returns the codes and metas of vecs (each of one dimension up
// to quant.MaxDim), as Batch takes them: quant.Encode row by row.
func EncodeCodes(vecs [][]float32) (codes, metas []byte) {
	if len(vecs) == 0 {
		return nil, nil
	}
	dim := len(vecs[0])
	codes = make([]byte, len(vecs)*dim)
	metas = make([]byte, len(vecs)*quant.MetaSize)
	for i, v := range vecs {
		quant.Encode(v, codes[i*dim:(i+1)*dim]).Put(metas[i*quant.MetaSize:])
	}
	return codes, metas
}
