package wal

import (
	"fmt"
	"os"

	"github.com/memvec/memvec/internal/errs"
)

// Replay calls fn with every record from FirstSeq to LastSeq, in order, and
// stops at the first error, which it returns: fn's own, or one wrapping
// errs.ErrCorrupt that names the segment file, Seq and byte offset of a bad
// record. It reads the segment files itself, one at a time, so memory holds
// one segment file beyond the record in hand; bytes past LastSeq in the last
// file (a torn tail ignored by a read-only Open) are not read. fn owns each
// Record's IDs and may call Size, FirstSeq and LastSeq. Replay must not run
// concurrently with TruncateFront.
func (l *Log) Replay(fn func(r Record) error) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	segs := append([]segInfo(nil), l.segs...)
	first, last := l.first, l.last
	l.mu.Unlock()
	return walk(l.dir, segs, first, last, false, func(r Record, _ string, _ int) error { return fn(r) })
}

// Verify reads every segment file from disk and checks every frame: its
// entry framing, checksum and fields, that Seqs are dense from FirstSeq to
// LastSeq across files named after their first Seq, with every file ending
// exactly where the next begins, and that the Synced watermark never goes
// down. The error names the file, Seq and offset of the first failure and
// wraps errs.ErrCorrupt. Verify holds one segment in memory at a time and
// blocks writers while it runs. On a read-only Log it checks the files as
// Open saw them, up to LastSeq.
func (l *Log) Verify() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	st, err := scanDir(l.dir)
	if err != nil {
		return err
	}
	segs := st.segs
	if l.tw == nil {
		if segs, err = st.view(l.dir); err != nil {
			return err
		}
	}
	var synced uint64
	return walk(l.dir, segs, l.first, l.last, l.tw != nil, func(r Record, path string, off int) error {
		if r.Synced < synced {
			return fmt.Errorf("wal %s: seq %d: offset %d: synced %d is below an earlier record's %d: %w", path, r.Seq, off, r.Synced, synced, errs.ErrCorrupt)
		}
		synced = r.Synced
		return nil
	})
}

// walk reads the records first..last from segs, the segment files in order,
// and calls fn with each record, its file and its offset there. Every file
// but the last must end exactly where the next begins; the last must end at
// last when exactTail is set, and may hold more otherwise (appends racing a
// Replay, or the torn tail a read-only Log ignores). Failures wrap
// errs.ErrCorrupt and name the file, Seq and offset; fn's errors come back
// as they are.
func walk(dir string, segs []segInfo, first, last uint64, exactTail bool, fn func(r Record, path string, off int) error) error {
	if len(segs) == 0 {
		if first <= last {
			return fmt.Errorf("wal %s: no segment file holds seqs %d..%d: %w", dir, first, last, errs.ErrCorrupt)
		}
		return nil
	}
	if segs[0].first > first {
		return fmt.Errorf("wal %s: first file starts at seq %d, but the log at %d: %w", segs[0].path, segs[0].first, first, errs.ErrCorrupt)
	}
	for i, s := range segs {
		end, isLast := last+1, i+1 == len(segs)
		if !isLast {
			end = segs[i+1].first
		}
		if s.first > end {
			return fmt.Errorf("wal %s: file starts at seq %d, after seq %d where the next file or the log starts: %w", s.path, s.first, end, errs.ErrCorrupt)
		}
		buf, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("wal %s: %w", s.path, err)
		}
		_, err = walkEntries(s.path, buf, s.first, end, !isLast || exactTail, func(seq uint64, off int, payload []byte) error {
			if seq < first {
				return nil
			}
			r, err := DecodeRecord(payload)
			if err == nil && r.Seq != seq {
				err = fmt.Errorf("frame holds seq %d: %w", r.Seq, errs.ErrCorrupt)
			}
			if err != nil {
				return fmt.Errorf("wal %s: seq %d: offset %d: %w", s.path, seq, off, err)
			}
			return fn(r, s.path, off)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
