package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/memvec/memvec/internal/errs"
	tidwall "github.com/tidwall/wal"
)

// Replay calls fn with every record from FirstSeq to LastSeq, in order, and
// stops at the first error, which it returns: fn's own, or one wrapping
// errs.ErrCorrupt that names the segment file and Seq of a bad record.
// Records are read one at a time; beyond the record in hand, memory holds
// only tidwall's cache (the last segment and the one being read). fn owns
// each Record's IDs and may call Size, FirstSeq and LastSeq.
func (l *Log) Replay(fn func(r Record) error) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	first, last := l.first, l.last
	l.mu.Unlock()
	for seq := first; seq <= last; seq++ {
		r, err := l.read(seq)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// read decodes the record at seq. tidwall hands out its own buffer (NoCopy),
// so it is decoded before the lock is released.
func (l *Log) read(seq uint64) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return Record{}, err
	}
	data, err := l.tw.Read(seq)
	if err != nil {
		if errors.Is(err, tidwall.ErrCorrupt) {
			// Only a segment other than the last can get here: Open
			// checked the last one.
			return Record{}, fmt.Errorf("wal %s: seq %d: %w", l.segmentPath(seq), seq, fromTidwall(err))
		}
		return Record{}, fmt.Errorf("wal %s: seq %d: %w", l.dir, seq, fromTidwall(err))
	}
	r, err := DecodeRecord(data)
	if err == nil && r.Seq != seq {
		err = fmt.Errorf("frame holds seq %d: %w", r.Seq, errs.ErrCorrupt)
	}
	if err != nil {
		return Record{}, fmt.Errorf("wal %s: seq %d: %w", l.segmentPath(seq), seq, err)
	}
	return r, nil
}

// Verify reads every segment file from disk, bypassing tidwall and its
// cache, and checks every frame: its entry framing, checksum and fields, that
// Seqs are dense from FirstSeq to LastSeq across files named after their
// first Seq, and that the Synced watermark never goes down. The error names
// the file and Seq of the first failure and wraps errs.ErrCorrupt. Verify
// holds one segment in memory at a time and blocks writers while it runs.
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
	if len(st.segs) == 0 || st.segs[0].first != l.first {
		return fmt.Errorf("wal %s: no segment file starts at first seq %d: %w", l.dir, l.first, errs.ErrCorrupt)
	}
	next, synced := l.first, uint64(0)
	for _, s := range st.segs {
		path := filepath.Join(l.dir, segmentName(s.first))
		if s.first != next {
			return fmt.Errorf("wal %s: file starts at seq %d, previous file ends at %d: %w", path, s.first, next-1, errs.ErrCorrupt)
		}
		if next, synced, err = verifySegment(path, next, synced); err != nil {
			return err
		}
	}
	if next != l.last+1 {
		return fmt.Errorf("wal %s: files end at seq %d, log at %d: %w", l.dir, next-1, l.last, errs.ErrCorrupt)
	}
	return nil
}

// verifySegment checks the segment file at path, whose first record must
// have Seq next, and returns the Seq after its last record and the highest
// Synced seen.
func verifySegment(path string, next, synced uint64) (uint64, uint64, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("wal %s: %w", path, err)
	}
	for off := 0; off < len(buf); next++ {
		payload, n, ok := nextEntry(buf[off:])
		if !ok {
			return 0, 0, fmt.Errorf("wal %s: seq %d: offset %d: entry cut short: %w", path, next, off, errs.ErrCorrupt)
		}
		r, err := DecodeRecord(payload)
		switch {
		case err != nil:
		case r.Seq != next:
			err = fmt.Errorf("frame holds seq %d: %w", r.Seq, errs.ErrCorrupt)
		case r.Synced < synced:
			err = fmt.Errorf("synced %d is below an earlier record's %d: %w", r.Synced, synced, errs.ErrCorrupt)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("wal %s: seq %d: offset %d: %w", path, next, off, err)
		}
		synced = r.Synced
		off += n
	}
	return next, synced, nil
}
