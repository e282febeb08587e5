package segment

import (
	"fmt"

	"github.com/memvec/memvec/internal/errs"
)

// recoverTail rebuilds the row count and ID runs of the active segment from
// its batch records and cuts a torn tail (see the package doc for the rule).
// Batches below durable (rows synced at the last clean close) cannot be
// torn: only their records' structure (and in version 3 their blobs') is
// checked, and their checksums are left to Verify, as for sealed segments.
// The rows past it are checksummed, so Open costs the records, the blobs
// plus the tail written since the last clean close.
func (s *Segment) recoverTail(durable uint64) error {
	var rows, i uint64
	sc := scanned{mem: &memIndex{}, blobEnd: s.lay.size}
	r := &blobReader{}
	for ; i < s.lay.capacity && rows < s.lay.capacity; i++ {
		b, err := s.checkRecordFrom(r, i, rows, sc.blobEnd, rows >= durable)
		if err != nil {
			if !damaged(err) {
				return err
			}
			break
		}
		if rows < durable {
			s.unchecked = i + 1
		}
		rows += uint64(b.rec.Rows)
		s.addRun(Run{FirstID: b.rec.FirstID, FirstRow: b.rec.FirstRow, Count: uint64(b.rec.Rows)})
		sc.add(b)
	}
	cut := i
	if rows < durable {
		return fmt.Errorf("offset %d: batch %d is damaged but %d rows were recorded durable: %w",
			s.lay.recordAt(cut), cut, durable, errs.ErrCorrupt)
	}
	// Anything written after the first bad record is either a batch that was
	// never promised durable (dropped below) or proof that the bad record
	// was promised durable, which makes the damage corruption, not a tear.
	last := cut
	var stale []uint64 // the records at or past the cut that are not zero
	recEnd, page := s.lay.recordAt(s.lay.capacity), int64(-1)
	for j := cut; j < s.lay.capacity; j++ {
		if p := s.lay.recordAt(j) / allocAlign; p != page {
			// A hole reads as zeros, and past the steps allocated so
			// far the record area is one: skipped, so that Open costs
			// the records written, not the capacity (a sparse segment
			// may be huge).
			next, err := s.f.NextData(s.lay.recordAt(j))
			if err != nil {
				return fmt.Errorf("records from %d: %w", j, err)
			}
			if next >= recEnd {
				break
			}
			j = max(j, uint64((next-s.lay.recordOff)/s.lay.recSize))
			page = p
		}
		b := s.recordBytes(j)
		if isZero(b) {
			continue
		}
		last = j + 1
		stale = append(stale, j)
		if j == cut {
			continue // the damaged record cannot vouch for itself
		}
		// Only a record that is itself whole (its checksum holds over its
		// own rows and blob) is evidence.
		rec, err := decodeRecordFor(s.lay.version, b)
		if err != nil || rec.Synced <= rows || rec.FirstRow > s.lay.capacity {
			continue
		}
		if _, err := s.checkRecord(j, rec.FirstRow, -1, true); err == nil {
			return fmt.Errorf("offset %d: batch %d is damaged but batch %d says %d rows were durable: %w",
				s.lay.recordAt(cut), cut, j, rec.Synced, errs.ErrCorrupt)
		} else if !damaged(err) {
			return err
		}
	}
	cutFile := s.lay.keyed() && s.size.Load() > sc.blobEnd
	if last > cut && !s.readOnly {
		// Zero the stale records so none can validate after new appends
		// reuse their rows: run by run, as the zeros between them may
		// be holes that need no block.
		for i := 0; i < len(stale); {
			k := i + 1
			for k < len(stale) && stale[k] == stale[k-1]+1 {
				k++
			}
			zero := make([]byte, int64(k-i)*s.lay.recSize)
			if err := s.write(zero, s.lay.recordAt(stale[i])); err != nil {
				return err
			}
			i = k
		}
	}
	if cutFile && !s.readOnly {
		// A torn blob, or tables of a seal no manifest recorded: the
		// mapping ends at the fixed part, so the file can shrink under it.
		if err := s.f.Truncate(sc.blobEnd); err != nil {
			s.err = fmt.Errorf("segment %s: truncate to %d: %w", s.path, sc.blobEnd, err)
			return s.err
		}
		s.size.Store(sc.blobEnd)
	}
	uncommit := s.staleTrailer && !s.readOnly
	if uncommit {
		if err := s.write([]byte{0}, trailerOff); err != nil {
			return err
		}
		s.staleTrailer = false
	}
	s.batches = cut
	s.rows.Store(rows)
	s.blobEnd = sc.blobEnd
	s.supersedes = sc.supersedes
	s.mem = sc.mem
	s.mem.expect = s.lay.capacity // Puts go on filling it
	// After a process crash the rows may sit only in the page cache; they
	// are made durable now, before any new record can claim them synced.
	if (rows > 0 || last > cut || cutFile || uncommit) && !s.readOnly {
		return s.Sync()
	}
	return nil
}
