package segment

import (
	"context"
	"fmt"
)

// VerifyData checks the bytes a reader of the segment reads: its rows,
// with their norms and (format 4) codes and metas (against seal's
// checksum when sealed, through the sum table from format 5, each batch
// record when active) and, in a sealed
// segment of format 3 on, its blob area against the seal trailer's
// checksum: one pass over each. It is the check a segment
// passes before its rows are served. Unlike Verify it leaves the derived
// key tables alone (their own checksum is checked on first lookup, and
// damage there only makes the segment rebuild them), and it builds no key
// index: Verify, the full check, does both and reads the rows twice.
//
// A sealed segment whose trailer is missing, damaged or disagrees with
// its blobs has its blobs checked record by record instead, so that a
// damaged trailer is never mistaken for damaged data.
func (s *Segment) VerifyData(ctx context.Context, seal *Seal) error {
	if seal == nil || !s.lay.keyed() {
		return s.Verify(ctx, seal)
	}
	if _, err := DecodeHeader(s.m[:HeaderSize]); err != nil {
		return fmt.Errorf("segment %s: offset 0: %w", s.path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.verifyData(seal, true); err != nil {
		return err
	}
	return s.verifyBlobs(ctx, seal.Rows)
}

// VerifyBlobs checks the blob area (keys, payloads, superseded IDs) of a
// sealed segment of format 3 on, whole: against the seal trailer's
// checksum, or record by record when the trailer is missing, damaged or
// disagrees with the blobs (a damaged trailer is not damaged data). It is
// the check before a key or payload of the segment is served.
func (s *Segment) VerifyBlobs(ctx context.Context) error {
	seal := s.seal.Load()
	if seal == nil || !s.lay.keyed() {
		return nil
	}
	return s.verifyBlobs(ctx, seal.Rows)
}

func (s *Segment) verifyBlobs(ctx context.Context, rows uint64) error {
	if b := s.m[trailerOff : trailerOff+trailerLen(s.hdr.Version)]; !trailerAbsent(b) {
		t, err := decodeTrailerFor(s.hdr.Version, s.hdr.Salt, b)
		if err == nil && t.rows == rows && t.blobEnd >= uint64(s.lay.size) {
			sum, err := s.hashRange(s.lay.size, int64(t.blobEnd))
			if err == nil && sum == t.blobSum {
				return nil
			}
		}
	}
	_, err := s.scanRecords(ctx, rows)
	return err
}
