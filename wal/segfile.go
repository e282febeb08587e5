package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/memvec/memvec/internal/errs"
)

// This file mirrors the parts of tidwall/wal's on-disk layout that the
// package reads or repairs behind tidwall's back: segment file names and the
// binary entry framing uvarint(len) ‖ payload.

const segNameLen = 20 // tidwall names a segment by its first index, %020d

// Suffixes of tidwall's truncation files: a finished TruncateFront or
// TruncateBack leaves none, an interrupted one leaves one for the next
// tidwall Open to finish, and a crash inside its atomic write leaves a temp.
const (
	startSuffix = ".START"
	endSuffix   = ".END"
	tempSuffix  = ".TEMP"
)

// Kinds of the files tidwall's load reads, in the order its name sort puts
// files of one index: the segment, then its .END, then its .START.
const (
	kindSegment = iota
	kindEnd
	kindStart
)

// segInfo is one file tidwall's load reads: a segment or a pending
// truncation's .START or .END file.
type segInfo struct {
	first uint64 // the index (Seq) of its first entry, from its name
	path  string
	size  int64
	kind  int
}

func segmentName(first uint64) string { return fmt.Sprintf("%0*d", segNameLen, first) }

// parseSegmentName reports the first index named by a segment file name, as
// tidwall's load accepts it: exactly 20 decimal digits, value non-zero.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segNameLen || strings.Trim(name, "0123456789") != "" {
		return 0, false
	}
	first, err := strconv.ParseUint(name, 10, 64)
	return first, err == nil && first != 0
}

// dirState is what a directory listing says about the log's files.
type dirState struct {
	segs    []segInfo // plain segment files, sorted by first index
	marks   []segInfo // .START and .END files, sorted like segs
	pending bool      // a .START or .END file awaits tidwall's next Open
	temps   []string  // stale tidwall temp files (full paths)
}

// scanDir lists the log's files in dir. It runs at Open, after a
// truncation and in Verify, never per record.
func scanDir(dir string) (dirState, error) {
	var st dirState
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("wal %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if len(name) < segNameLen || e.IsDir() {
			continue
		}
		first, ok := parseSegmentName(name[:segNameLen])
		if !ok {
			continue
		}
		kind := kindSegment
		switch rest := name[segNameLen:]; rest {
		case "":
		case endSuffix:
			kind = kindEnd
		case startSuffix:
			kind = kindStart
		case startSuffix + tempSuffix, endSuffix + tempSuffix:
			st.temps = append(st.temps, filepath.Join(dir, name))
			continue
		default:
			continue
		}
		info, err := e.Info()
		if err != nil {
			return st, fmt.Errorf("wal %s: %w", filepath.Join(dir, name), err)
		}
		s := segInfo{first: first, path: filepath.Join(dir, name), size: info.Size(), kind: kind}
		if kind == kindSegment {
			st.segs = append(st.segs, s)
		} else {
			st.marks = append(st.marks, s)
			st.pending = true
		}
	}
	sortSegs(st.segs)
	sortSegs(st.marks)
	return st, nil
}

// sortSegs sorts files as tidwall's load sees them (by name).
func sortSegs(s []segInfo) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].first != s[j].first {
			return s[i].first < s[j].first
		}
		return s[i].kind < s[j].kind
	})
}

// view returns the segment files tidwall's load would leave, without
// touching the disk: it applies a pending truncation in memory the way that
// load completes it (a .START file replaces every file before it, an .END
// file every file after it and the segment of its own index).
func (st dirState) view(dir string) ([]segInfo, error) {
	all := append(append([]segInfo(nil), st.segs...), st.marks...)
	sortSegs(all)
	start, end := -1, -1
	for i, s := range all {
		switch {
		case s.kind == kindStart:
			start = i
		case s.kind == kindEnd && end == -1:
			end = i
		}
	}
	switch {
	case start != -1 && end != -1:
		return nil, fmt.Errorf("wal %s: interrupted truncation left both .START and .END files: %w", dir, errs.ErrCorrupt)
	case start != -1:
		all = all[start:]
	case end != -1:
		all = all[:end+1]
		if n := len(all); n > 1 && all[n-2].first == all[n-1].first {
			all = append(all[:n-2], all[n-1])
		}
	}
	return all, nil
}

// walkEntries calls fn, if not nil, with the Seq, offset and payload of each
// of the entries first..end-1 at the start of buf, the contents of the
// segment file at path, and returns the offset after the last of them. It
// fails with errs.ErrCorrupt naming path, the Seq and the byte offset when
// an entry is cut short or the file ends before entry end-1, and, when
// exact, when anything follows entry end-1: a file must end exactly where
// its successor (or the log) begins. It never panics.
func walkEntries(path string, buf []byte, first, end uint64, exact bool, fn func(seq uint64, off int, payload []byte) error) (int, error) {
	off := 0
	for seq := first; seq < end; seq++ {
		if off == len(buf) {
			return 0, fmt.Errorf("wal %s: seq %d: offset %d: file ends, but the next file or the log starts at seq %d: %w", path, seq, off, end, errs.ErrCorrupt)
		}
		payload, n, ok := nextEntry(buf[off:])
		if !ok {
			return 0, fmt.Errorf("wal %s: seq %d: offset %d: entry cut short: %w", path, seq, off, errs.ErrCorrupt)
		}
		if fn != nil {
			if err := fn(seq, off, payload); err != nil {
				return 0, err
			}
		}
		off += n
	}
	if exact && off != len(buf) {
		return 0, fmt.Errorf("wal %s: seq %d: offset %d: entry past the file's last seq %d, where the next file or the log starts: %w", path, end, off, end-1, errs.ErrCorrupt)
	}
	return off, nil
}

// nextEntry splits the first tidwall binary entry off buf. ok is false when
// buf does not start with a complete entry: the uvarint length is cut short
// or overflows, or the payload is shorter than the length says.
func nextEntry(buf []byte) (payload []byte, n int, ok bool) {
	size, k := binary.Uvarint(buf)
	if k <= 0 || size > uint64(len(buf)-k) {
		return nil, 0, false
	}
	return buf[k : k+int(size)], k + int(size), true
}

// entrySize is the number of bytes tidwall writes for a payload of n bytes.
func entrySize(n int) int64 {
	var tmp [binary.MaxVarintLen64]byte
	return int64(binary.PutUvarint(tmp[:], uint64(n)) + n)
}
