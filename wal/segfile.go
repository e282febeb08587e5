package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// segInfo is one segment file: the index (Seq) of its first entry and its
// size in bytes.
type segInfo struct {
	first uint64
	size  int64
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
	segs    []segInfo // sorted by first index
	pending bool      // a .START or .END file awaits tidwall's next Open
	temps   []string  // stale tidwall temp files (full paths)
}

// scanDir lists the log's files in dir. It is the only directory scan the
// package does, and it runs at Open and after a truncation, never per call.
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
		if _, ok := parseSegmentName(name[:segNameLen]); !ok {
			continue
		}
		switch rest := name[segNameLen:]; rest {
		case "":
			info, err := e.Info()
			if err != nil {
				return st, fmt.Errorf("wal %s: %w", filepath.Join(dir, name), err)
			}
			first, _ := parseSegmentName(name)
			st.segs = append(st.segs, segInfo{first: first, size: info.Size()})
		case startSuffix, endSuffix:
			st.pending = true
		case startSuffix + tempSuffix, endSuffix + tempSuffix:
			st.temps = append(st.temps, filepath.Join(dir, name))
		}
	}
	sort.Slice(st.segs, func(i, j int) bool { return st.segs[i].first < st.segs[j].first })
	return st, nil
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
