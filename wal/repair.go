package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
	tidwall "github.com/tidwall/wal"
)

// prepare brings dir to a state tidwall.Open accepts and whose last segment
// holds only good records: it lets tidwall finish an interrupted truncation,
// removes tidwall's stale temp files and cuts a torn tail off the last
// segment. It runs before the Log's own tidwall.Open.
func prepare(dir string, topts tidwall.Options, durable uint64) error {
	st, err := scanDir(dir)
	if err != nil {
		return err
	}
	if st.pending {
		if st, err = finishTruncation(dir, topts); err != nil {
			return err
		}
	}
	for _, p := range st.temps {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("wal %s: remove stale temp: %w", p, err)
		}
	}
	if len(st.segs) > 0 {
		if err := repairTail(dir, st.segs[len(st.segs)-1].first, durable); err != nil {
			return err
		}
	}
	return vfs.OS.SyncDir(dir)
}

// finishTruncation lets tidwall complete a TruncateFront or TruncateBack that
// a crash interrupted: its load renames the .START/.END file into place and
// removes the segments it replaces before it reads the tail, so it does so
// even when it then fails on a torn tail (which repairTail handles next).
func finishTruncation(dir string, topts tidwall.Options) (dirState, error) {
	tw, err := tidwall.Open(dir, &topts)
	switch {
	case err == nil:
		err = tw.Close()
	case errors.Is(err, tidwall.ErrCorrupt):
		err = nil
	}
	if err != nil {
		return dirState{}, fmt.Errorf("wal %s: finish interrupted truncation: %w", dir, err)
	}
	st, err := scanDir(dir)
	if err == nil && st.pending {
		err = fmt.Errorf("wal %s: interrupted truncation left both .START and .END files: %w", dir, errs.ErrCorrupt)
	}
	return st, err
}

// repairTail cuts the torn tail (see checkTail) off the segment file that
// starts at first, which must be the log's last one.
func repairTail(dir string, first, durable uint64) error {
	path := filepath.Join(dir, segmentName(first))
	buf, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("wal %s: %w", path, err)
	}
	cut, err := checkTail(buf, first, durable)
	if err != nil {
		return fmt.Errorf("wal %s: %w", path, err)
	}
	if cut == len(buf) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal %s: cut torn tail: %w", path, err)
	}
	err = f.Truncate(int64(cut))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal %s: cut torn tail at offset %d: %w", path, cut, err)
	}
	return nil
}

// checkTail returns the length of the valid prefix of buf, the contents of
// the last segment file, whose first entry has index first. The prefix ends
// before the first entry that is cut short, fails to decode, or holds a Seq
// other than its index. Everything from there on is a torn tail unless a
// record in it says the first bad Seq had been made durable (its Synced is
// at least that Seq), or the caller knows it was (bad <= durable): then the
// damage is corruption and checkTail fails.
func checkTail(buf []byte, first, durable uint64) (int, error) {
	off, seq := 0, first
	for off < len(buf) {
		payload, n, ok := nextEntry(buf[off:])
		if !ok {
			break
		}
		r, err := DecodeRecord(payload)
		if errors.Is(err, errs.ErrVersion) {
			return 0, fmt.Errorf("seq %d: offset %d: %w", seq, off, err)
		}
		if err != nil || r.Seq != seq {
			break
		}
		off += n
		seq++
	}
	if off == len(buf) {
		return off, nil
	}
	if seq <= durable {
		return 0, fmt.Errorf("seq %d: offset %d: bad record, but records through seq %d were recorded durable: %w", seq, off, durable, errs.ErrCorrupt)
	}
	if err := checkNotDurable(buf[off:], seq); err != nil {
		return 0, fmt.Errorf("seq %d: offset %d: bad record: %w", seq, off, err)
	}
	return off, nil
}

// checkNotDurable searches the bytes past the first bad record, whose Seq
// is bad, for any valid frame, whether or not tidwall's framing still lines
// up with it (a damaged length prefix or zeroed bytes shift every later
// entry). A valid frame whose Synced reaches bad proves that bad had been
// fsynced before the frame was written, so it cannot be a torn write.
func checkNotDurable(rest []byte, bad uint64) error {
	magic := binary.LittleEndian.AppendUint32(nil, frameMagic)
	for p := 0; ; {
		i := bytes.Index(rest[p:], magic)
		if i < 0 {
			return nil
		}
		p += i
		n, ok := frameAt(rest[p:])
		if !ok {
			p++
			continue
		}
		r, err := DecodeRecord(rest[p : p+n])
		switch {
		case errors.Is(err, errs.ErrVersion):
			return err
		case err != nil:
			p++
		case r.Synced >= bad:
			return fmt.Errorf("record seq %d written later says seq %d was durable: %w", r.Seq, r.Synced, errs.ErrCorrupt)
		default:
			p += n
		}
	}
}

// frameAt returns the length of the frame whose header starts b, if b is
// long enough to hold it.
func frameAt(b []byte) (int, bool) {
	if len(b) < headerSize {
		return 0, false
	}
	n := uint64(headerSize) + idSize*uint64(binary.LittleEndian.Uint32(b[21:])) + sumSize
	return int(n), n <= uint64(len(b))
}
