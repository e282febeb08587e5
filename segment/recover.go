package segment

import (
	"fmt"

	"github.com/memvec/memvec/internal/errs"
)

// recoverTail rebuilds the row count and ID runs of the active segment from
// its batch records and cuts a torn tail (see the package doc for the rule).
// Batches below durable (rows synced at the last clean close) cannot be
// torn: only their records' structure is checked, and their checksums are
// left to Verify, as for sealed segments. The rows past it are checksummed,
// so Open costs the records plus the tail written since the last clean close.
func (s *Segment) recoverTail(durable uint64) error {
	var rows, i uint64
	for ; i < s.lay.capacity && rows < s.lay.capacity; i++ {
		rec, err := s.checkRecord(i, rows, rows >= durable)
		if err != nil {
			break
		}
		if rows < durable {
			s.unchecked = i + 1
		}
		rows += uint64(rec.Rows)
		s.addRun(Run{FirstID: rec.FirstID, FirstRow: rec.FirstRow, Count: uint64(rec.Rows)})
	}
	cut := i
	if rows < durable {
		return fmt.Errorf("offset %d: batch %d is damaged but %d rows were recorded durable: %w",
			s.lay.recordOff+int64(cut)*recordSize, cut, durable, errs.ErrCorrupt)
	}
	// Anything written after the first bad record is either a batch that was
	// never promised durable (dropped below) or proof that the bad record
	// was promised durable, which makes the damage corruption, not a tear.
	last := cut
	for j := cut; j < s.lay.capacity; j++ {
		b := s.recordBytes(j)
		if isZero(b) {
			continue
		}
		last = j + 1
		if j == cut {
			continue // the damaged record cannot vouch for itself
		}
		// Only a record that is itself whole (its checksum holds over its
		// own rows) is evidence.
		rec, err := DecodeRecord(b)
		if err != nil || rec.Synced <= rows || rec.FirstRow > s.lay.capacity {
			continue
		}
		if _, err := s.checkRecord(j, rec.FirstRow, true); err == nil {
			return fmt.Errorf("offset %d: batch %d is damaged but batch %d says %d rows were durable: %w",
				s.lay.recordOff+int64(cut)*recordSize, cut, j, rec.Synced, errs.ErrCorrupt)
		}
	}
	if last > cut && !s.readOnly {
		// Zero the stale records so none can validate after new appends
		// reuse their rows.
		zero := make([]byte, int(last-cut)*recordSize)
		if err := s.write(zero, s.lay.recordOff+int64(cut)*recordSize); err != nil {
			return err
		}
	}
	s.batches = cut
	s.rows.Store(rows)
	// After a process crash the rows may sit only in the page cache; they
	// are made durable now, before any new record can claim them synced.
	if (rows > 0 || last > cut) && !s.readOnly {
		return s.Sync()
	}
	return nil
}
