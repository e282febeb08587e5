package manifest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/filenames"
	"github.com/memvec/memvec/internal/vfs"
)

// TombsVersion is the tombstone checkpoint file format version this package
// writes and reads.
const TombsVersion = 1

const tombsMagic = "memvecTS"

// SegmentTombs is the tombstone bitset of one segment: bit r of Bits set
// means row r is deleted. Row r is bit r%64 of word Bits[r/64]; rows past
// the end of Bits are not deleted.
//
// # Tombstone checkpoint file format
//
// A tombstone checkpoint holds the bitsets of every segment that has deleted
// rows, as of a point in the tombstone WAL, so that WAL records before that
// point can be dropped. It is named by TombsFileName and, like every file a
// manifest names, written and fsynced, with its directory entry, before the
// manifest naming it. All integers are little-endian; the framing is the
// manifest's:
//
//	magic "memvecTS" (8) | version u32 (1) | body length u32 | body | xxhash64 of every preceding byte
//
// Body:
//
//	generation u64         equals the one in the file name
//	segment count u32, then per segment:
//	    number u64 | word count u32 | words (u64 each)
//
// Segment numbers are strictly ascending. The encoder trims trailing zero
// words, so a stored bitset never ends in a zero word (a segment with no
// deleted row stores zero words); a file breaking either rule is ErrCorrupt.
// This keeps the encoding canonical: decoding and re-encoding a file gives
// back its bytes.
type SegmentTombs struct {
	Number uint64
	Bits   []uint64
}

// TombsFileName returns the name, inside a store directory, of the
// tombstone checkpoint file of generation gen.
func TombsFileName(gen uint64) string { return filenames.Make(filenames.Tombs, gen) }

// EncodeTombs returns the tombstone checkpoint file bytes of gen and segs.
// It encodes a copy of segs sorted by Number, so callers may pass them in
// any order, and it omits trailing zero words of each bitset. It does not
// check segs otherwise (WriteTombs does): a repeated segment number encodes
// to bytes that DecodeTombs rejects. segs and their bitsets are not
// modified.
func EncodeTombs(gen uint64, segs []SegmentTombs) []byte {
	return encodeTombs(gen, sortedTombs(segs))
}

func encodeTombs(gen uint64, segs []SegmentTombs) []byte {
	size := 12
	for _, s := range segs {
		size += 12 + 8*len(trimZeroWords(s.Bits))
	}
	le := binary.LittleEndian
	b := frameStart(tombsMagic, TombsVersion, size)
	b = le.AppendUint64(b, gen)
	b = le.AppendUint32(b, uint32(len(segs)))
	for _, s := range segs {
		words := trimZeroWords(s.Bits)
		b = le.AppendUint64(b, s.Number)
		b = le.AppendUint32(b, uint32(len(words)))
		for _, w := range words {
			b = le.AppendUint64(b, w)
		}
	}
	return frameEnd(b)
}

// trimZeroWords returns bits without its trailing zero words.
func trimZeroWords(bits []uint64) []uint64 {
	n := len(bits)
	for n > 0 && bits[n-1] == 0 {
		n--
	}
	return bits[:n]
}

// sortedTombs returns segs, or a sorted copy if they are not sorted by
// Number.
func sortedTombs(segs []SegmentTombs) []SegmentTombs {
	byNumber := func(a, b SegmentTombs) int { return cmp.Compare(a.Number, b.Number) }
	if slices.IsSortedFunc(segs, byNumber) {
		return segs
	}
	segs = slices.Clone(segs)
	slices.SortStableFunc(segs, byNumber)
	return segs
}

// DecodeTombs parses and checks tombstone checkpoint file bytes. Damage,
// including a file breaking the rules documented on SegmentTombs, returns
// an error wrapping errs.ErrCorrupt; a newer format returns errs.ErrVersion.
// It never panics and allocates in proportion to len(b). It returns the
// bitsets as stored: none ends in a zero word, and that of a segment with no
// stored words is nil. An empty checkpoint decodes to nil segs.
func DecodeTombs(b []byte) (gen uint64, segs []SegmentTombs, err error) {
	body, err := unframe(b, tombsMagic, TombsVersion, "tombs")
	if err != nil {
		return 0, nil, err
	}
	r := reader{b: body}
	gen = r.u64()
	if n := r.count(12); n > 0 {
		segs = make([]SegmentTombs, n)
		for i := 0; i < n && r.err == nil; i++ {
			s := SegmentTombs{Number: r.u64()}
			if nw := r.count(8); nw > 0 {
				s.Bits = make([]uint64, nw)
				for j := range s.Bits {
					s.Bits[j] = r.u64()
				}
				if s.Bits[nw-1] == 0 {
					r.fail("tombs: segment %d bitset ends in a zero word", s.Number)
				}
			}
			if i > 0 && s.Number <= segs[i-1].Number {
				r.fail("tombs: segment %d follows segment %d", s.Number, segs[i-1].Number)
			}
			segs[i] = s
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("tombs: %d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	return gen, segs, nil
}

// checkTombs enforces the rules documented on SegmentTombs on segs already
// sorted by Number; trailing zero words are the encoder's to trim.
func checkTombs(segs []SegmentTombs) error {
	for i := 1; i < len(segs); i++ {
		if segs[i].Number == segs[i-1].Number {
			return fmt.Errorf("segment %d appears twice", segs[i].Number)
		}
	}
	return nil
}

// WriteTombs creates dir/TombsFileName(gen) through fsys (nil: vfs.OS),
// truncating any file of that name, writes the encoded checkpoint to it, fsyncs and closes it. It does
// not fsync dir: the caller does that once for all the files of a commit,
// before storing the manifest that names them. A repeated segment number
// returns an error wrapping errs.ErrInvalidArgument and touches no file.
// After any other error the file may be left partly written; no manifest
// names it yet, so it is garbage for recovery to remove.
func WriteTombs(fsys vfs.FS, dir string, gen uint64, segs []SegmentTombs) error {
	segs = sortedTombs(segs)
	if err := checkTombs(segs); err != nil {
		return fmt.Errorf("manifest: write tombs of generation %d: %v: %w", gen, err, errs.ErrInvalidArgument)
	}
	return writeFramed(fsys, filepath.Join(dir, TombsFileName(gen)), encodeTombs(gen, segs))
}

// ReadTombs reads and decodes dir/TombsFileName(gen) through fsys (nil:
// vfs.OS). A missing file returns
// an error satisfying errors.Is(err, os.ErrNotExist); a damaged one, or one
// holding another generation, an error wrapping errs.ErrCorrupt. Errors name
// the file.
func ReadTombs(fsys vfs.FS, dir string, gen uint64) ([]SegmentTombs, error) {
	return readNumbered(fsys, filepath.Join(dir, TombsFileName(gen)), gen, DecodeTombs, "tombs hold generation")
}
