package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

const (
	frameMagic = 0x4254564d // "MVTB" in file order
	// frameVersion is the version Append writes; version1 frames (no Gen)
	// are still read.
	frameVersion = version2
	version1     = 1
	version2     = 2

	headerSizeV1 = 4 + 1 + 8 + 8 + 4     // magic, version, seq, synced, count
	headerSizeV2 = 4 + 1 + 8 + 8 + 8 + 4 // magic, version, seq, synced, gen, count
	sumSize      = 8
	idSize       = 8
	// envelopeSize is what every version shares: magic, version byte and,
	// at the very end, the checksum of everything before it.
	envelopeSize = 4 + 1 + sumSize
	maxIDs       = 1<<32 - 1 // count is a uint32
)

// Record is one tombstone batch: the IDs newly deleted by one Delete call.
type Record struct {
	Seq    uint64   // the tidwall/wal index of the entry: starts at 1, dense
	Synced uint64   // highest Seq known durable (fsynced) when this was written; Seq-1 in sync mode
	Gen    uint64   // the manifest generation in force when this was written (Log.SetGen); 0 in version 1 frames
	IDs    []uint64 // the IDs deleted by one Delete call, in the caller's order
}

// headerSize is the size of a frame's fixed header in version v (1 or 2).
func headerSize(v byte) int {
	if v == version1 {
		return headerSizeV1
	}
	return headerSizeV2
}

// frameSize is the encoded size of a frame of version v (1 or 2) holding n
// IDs.
func frameSize(v byte, n int) int { return headerSize(v) + idSize*n + sumSize }

// AppendRecord appends the encoded frame of r, in the current version, to
// dst and returns the extended slice. The frame is only decodable if r is
// well formed (Seq >= 1, Synced < Seq, 1 <= len(IDs) < 2^32); Log.Append
// never writes anything else.
func AppendRecord(dst []byte, r Record) []byte { return appendFrame(dst, r, frameVersion) }

// appendFrame encodes r in version v (1 or 2); version 1 has no room for
// r.Gen and drops it. Only tests and the fuzz target write version 1.
func appendFrame(dst []byte, r Record, v byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, frameMagic)
	dst = append(dst, v)
	dst = binary.LittleEndian.AppendUint64(dst, r.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, r.Synced)
	if v != version1 {
		dst = binary.LittleEndian.AppendUint64(dst, r.Gen)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.IDs)))
	for _, id := range r.IDs {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// DecodeRecord decodes the single frame b, which must be exactly one frame
// long, of version 1 or 2. Any structural failure, checksum mismatch or
// violated field invariant returns an error wrapping errs.ErrCorrupt; a
// frame whose magic and checksum hold but whose version is unknown returns
// an error wrapping errs.ErrVersion instead. It never panics and allocates
// only the returned IDs, which are at most len(b)/8.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < envelopeSize {
		return Record{}, corruptf("frame of %d bytes is shorter than the minimum %d", len(b), envelopeSize)
	}
	if m := binary.LittleEndian.Uint32(b); m != frameMagic {
		return Record{}, corruptf("bad magic %#08x", m)
	}
	// The checksum comes first so that a newer version is told apart from
	// damage by its intact checksum, whatever its layout.
	body := b[:len(b)-sumSize]
	if got, want := xxhash.Sum64(body), binary.LittleEndian.Uint64(b[len(body):]); got != want {
		return Record{}, corruptf("checksum %#016x, stored %#016x", got, want)
	}
	v := b[4]
	if v != version1 && v != version2 {
		return Record{}, fmt.Errorf("wal frame: version %d: %w", v, errs.ErrVersion)
	}
	hs := headerSize(v)
	if len(b) < hs+sumSize {
		return Record{}, corruptf("version %d frame of %d bytes is shorter than its header", v, len(b))
	}
	count := uint64(binary.LittleEndian.Uint32(b[hs-4:]))
	if want := uint64(hs) + idSize*count + sumSize; uint64(len(b)) != want {
		return Record{}, corruptf("frame of %d bytes, count %d needs %d", len(b), count, want)
	}
	r := Record{
		Seq:    binary.LittleEndian.Uint64(b[5:]),
		Synced: binary.LittleEndian.Uint64(b[13:]),
	}
	if v == version2 {
		r.Gen = binary.LittleEndian.Uint64(b[21:])
	}
	switch {
	case r.Seq == 0:
		return Record{}, corruptf("seq 0")
	case r.Synced >= r.Seq:
		return Record{}, corruptf("seq %d: synced %d is not below seq", r.Seq, r.Synced)
	case count == 0:
		return Record{}, corruptf("seq %d: no IDs", r.Seq)
	}
	r.IDs = make([]uint64, count)
	ids := body[hs:]
	for i := range r.IDs {
		r.IDs[i] = binary.LittleEndian.Uint64(ids[i*idSize:])
	}
	return r, nil
}

// corruptf formats a frame decoding failure wrapping errs.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("wal frame: %s: %w", fmt.Sprintf(format, args...), errs.ErrCorrupt)
}
