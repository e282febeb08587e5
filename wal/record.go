package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

const (
	frameMagic   = 0x4254564d // "MVTB" in file order
	frameVersion = 1
	headerSize   = 4 + 1 + 8 + 8 + 4 // magic, version, seq, synced, count
	sumSize      = 8
	idSize       = 8
	minFrameSize = headerSize + idSize + sumSize
	maxIDs       = 1<<32 - 1 // count is a uint32
)

// Record is one tombstone batch: the IDs newly deleted by one Delete call.
type Record struct {
	Seq    uint64   // the tidwall/wal index of the entry: starts at 1, dense
	Synced uint64   // highest Seq known durable (fsynced) when this was written; Seq-1 in sync mode
	IDs    []uint64 // the IDs deleted by one Delete call, in the caller's order
}

// frameSize is the encoded size of a record holding n IDs.
func frameSize(n int) int { return headerSize + idSize*n + sumSize }

// AppendRecord appends the encoded frame of r to dst and returns the extended
// slice. The frame is only decodable if r is well formed (Seq >= 1,
// Synced < Seq, 1 <= len(IDs) < 2^32); Log.Append never writes anything else.
func AppendRecord(dst []byte, r Record) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, frameMagic)
	dst = append(dst, frameVersion)
	dst = binary.LittleEndian.AppendUint64(dst, r.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, r.Synced)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.IDs)))
	for _, id := range r.IDs {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// DecodeRecord decodes the single frame b, which must be exactly one frame
// long. Any structural failure, checksum mismatch or violated field invariant
// returns an error wrapping errs.ErrCorrupt; a frame whose checksum holds but
// whose version is unknown returns an error wrapping errs.ErrVersion instead.
// It never panics and allocates only the returned IDs, which are at most
// len(b)/8.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < minFrameSize {
		return Record{}, corruptf("frame of %d bytes is shorter than the minimum %d", len(b), minFrameSize)
	}
	if m := binary.LittleEndian.Uint32(b); m != frameMagic {
		return Record{}, corruptf("bad magic %#08x", m)
	}
	count := uint64(binary.LittleEndian.Uint32(b[21:]))
	if want := uint64(headerSize) + idSize*count + sumSize; uint64(len(b)) != want {
		return Record{}, corruptf("frame of %d bytes, count %d needs %d", len(b), count, want)
	}
	body := b[:len(b)-sumSize]
	if got, want := xxhash.Sum64(body), binary.LittleEndian.Uint64(b[len(body):]); got != want {
		return Record{}, corruptf("checksum %#016x, stored %#016x", got, want)
	}
	if v := b[4]; v != frameVersion {
		return Record{}, fmt.Errorf("wal frame: version %d: %w", v, errs.ErrVersion)
	}
	r := Record{
		Seq:    binary.LittleEndian.Uint64(b[5:]),
		Synced: binary.LittleEndian.Uint64(b[13:]),
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
	ids := body[headerSize:]
	for i := range r.IDs {
		r.IDs[i] = binary.LittleEndian.Uint64(ids[i*idSize:])
	}
	return r, nil
}

// corruptf formats a frame decoding failure wrapping errs.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("wal frame: %s: %w", fmt.Sprintf(format, args...), errs.ErrCorrupt)
}
