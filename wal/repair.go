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
)

// prepare brings dir to a state tidwall.Open accepts and whose last segment
// holds only good records: it finishes an interrupted truncation,
// removes tidwall's stale temp files, checks that every other segment ends
// exactly where the next begins (checkChain) and cuts a torn tail off the
// last segment. It runs before the Log's own tidwall.Open.
func prepare(dir string, durable uint64) error {
	st, err := scanDir(dir)
	if err != nil {
		return err
	}
	if st.pending {
		if st, err = finishTruncation(dir, st); err != nil {
			return err
		}
	}
	for _, p := range st.temps {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("wal %s: remove stale temp: %w", p, err)
		}
	}
	if err := checkChain(st.segs); err != nil {
		return err
	}
	if n := len(st.segs); n > 0 {
		if err := repairTail(st.segs[n-1].path, st.segs[n-1].first, durable); err != nil {
			return err
		}
	}
	return vfs.OS.SyncDir(dir)
}

// checkChain checks that every segment file but the last holds exactly the
// entries from its own first index up to the next file's: a file cut at an
// entry boundary, a missing file between two others, or a file with extra
// entries would otherwise leave tidwall's index pointing past its entries
// (it panics on such a Read) or skip records silently. Only the framing is
// read here; Replay and Verify decode the frames.
func checkChain(segs []segInfo) error {
	for i := 0; i+1 < len(segs); i++ {
		s := segs[i]
		if segs[i+1].first <= s.first {
			return fmt.Errorf("wal %s: next file %s starts at or before it: %w", s.path, segs[i+1].path, errs.ErrCorrupt)
		}
		buf, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("wal %s: %w", s.path, err)
		}
		if _, err := walkEntries(s.path, buf, s.first, segs[i+1].first, true, nil); err != nil {
			return err
		}
	}
	return nil
}

// finishTruncation completes a TruncateFront or TruncateBack that a crash
// interrupted, on disk, exactly as tidwall's load would (dirState.view): it
// removes the files the .START or .END file replaces, then renames that
// file into place. Until the rename the marker file stays, so a crash in
// between leaves a directory with the same view. It does not call tidwall,
// whose load leaks its open tail file when it then fails on a torn tail.
func finishTruncation(dir string, st dirState) (dirState, error) {
	segs, err := st.view(dir)
	if err != nil {
		return dirState{}, err
	}
	keep := make(map[string]bool, len(segs))
	for _, s := range segs {
		keep[s.path] = true
	}
	for _, s := range append(append([]segInfo(nil), st.segs...), st.marks...) {
		if keep[s.path] {
			continue
		}
		if err := os.Remove(s.path); err != nil {
			return dirState{}, fmt.Errorf("wal %s: finish interrupted truncation: %w", s.path, err)
		}
	}
	for _, s := range segs {
		if s.kind == kindSegment {
			continue
		}
		if err := os.Rename(s.path, filepath.Join(dir, segmentName(s.first))); err != nil {
			return dirState{}, fmt.Errorf("wal %s: finish interrupted truncation: %w", s.path, err)
		}
	}
	if err := vfs.OS.SyncDir(dir); err != nil {
		return dirState{}, fmt.Errorf("wal %s: %w", dir, err)
	}
	return scanDir(dir)
}

// repairTail cuts the torn tail (see checkTail) off the segment file at
// path, whose first entry is first and which must be the log's last one.
func repairTail(path string, first, durable uint64) error {
	buf, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("wal %s: %w", path, err)
	}
	cut, _, err := checkTail(buf, first, durable)
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
// the last segment file, whose first entry has index first, and the Seq
// that follows the prefix's last record. The prefix ends
// before the first entry that is cut short, fails to decode, or holds a Seq
// other than its index. Everything from there on is a torn tail unless a
// record in it says the first bad Seq had been made durable (its Synced is
// at least that Seq), or the caller knows it was (bad <= durable): then the
// damage is corruption and checkTail fails.
func checkTail(buf []byte, first, durable uint64) (int, uint64, error) {
	off, seq := 0, first
	for off < len(buf) {
		payload, n, ok := nextEntry(buf[off:])
		if !ok {
			break
		}
		r, err := DecodeRecord(payload)
		if errors.Is(err, errs.ErrVersion) {
			return 0, 0, fmt.Errorf("seq %d: offset %d: %w", seq, off, err)
		}
		if err != nil || r.Seq != seq {
			break
		}
		off += n
		seq++
	}
	if off == len(buf) {
		return off, seq, nil
	}
	if seq <= durable {
		return 0, 0, fmt.Errorf("seq %d: offset %d: bad record, but records through seq %d were recorded durable: %w", seq, off, durable, errs.ErrCorrupt)
	}
	if err := checkNotDurable(buf[off:], seq); err != nil {
		return 0, 0, fmt.Errorf("seq %d: offset %d: bad record: %w", seq, off, err)
	}
	return off, seq, nil
}

// checkNotDurable searches the bytes past the first bad record, whose Seq
// is bad, for any valid frame, whether or not tidwall's framing still lines
// up with it (a damaged length prefix or zeroed bytes shift every later
// entry). A valid frame whose Synced reaches bad proves that bad had been
// fsynced before the frame was written, so it cannot be a torn write; a
// frame of an unknown version is never cut either.
func checkNotDurable(rest []byte, bad uint64) error {
	magic := binary.LittleEndian.AppendUint32(nil, frameMagic)
	for p := 0; ; {
		i := bytes.Index(rest[p:], magic)
		if i < 0 {
			return nil
		}
		p += i
		skip := 1
		for _, n := range frameLens(rest, p) {
			r, err := DecodeRecord(rest[p : p+n])
			switch {
			case errors.Is(err, errs.ErrVersion):
				return err
			case err != nil:
			case r.Synced >= bad:
				return fmt.Errorf("record seq %d written later says seq %d was durable: %w", r.Seq, r.Synced, errs.ErrCorrupt)
			default:
				skip = n
			}
		}
		p += skip
	}
}

// frameLens returns the lengths a frame starting at b[p] (at its magic) may
// have and b can hold. A known version's header gives the length; for an
// unknown one the only clue is a tidwall length prefix ending just before
// p, so every uvarint that ends there is a candidate.
func frameLens(b []byte, p int) []int {
	f := b[p:]
	if len(f) > 4 && (f[4] == version1 || f[4] == version2) {
		hs := headerSize(f[4])
		if len(f) < hs {
			return nil
		}
		n := uint64(hs) + idSize*uint64(binary.LittleEndian.Uint32(f[hs-4:])) + sumSize
		if n > uint64(len(f)) {
			return nil
		}
		return []int{int(n)}
	}
	var lens []int
	for k := 1; k <= binary.MaxVarintLen64 && k <= p; k++ {
		n, m := binary.Uvarint(b[p-k : p])
		if m == k && n >= envelopeSize && n <= uint64(len(f)) {
			lens = append(lens, int(n))
		}
	}
	return lens
}
