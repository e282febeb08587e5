package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// chainLog builds a log of 40 records in several segment files and returns
// its directory and the files.
func chainLog(t *testing.T) (string, []string) {
	t.Helper()
	dir := buildLog(t, Options{SegmentSize: smallSegments}, 40, 0)
	segs := segmentFiles(t, dir)
	if len(segs) < 4 {
		t.Fatalf("%d segment files, want at least 4", len(segs))
	}
	return dir, segs
}

func firstOf(path string) uint64 {
	first, _ := parseSegmentName(filepath.Base(path))
	return first
}

// wantCorrupt checks that err wraps ErrCorrupt and its text holds every
// part of want.
func wantCorrupt(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("%s: err = %v, want ErrCorrupt", what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: err = %v, want it to contain %q", what, err, w)
		}
	}
}

// TestOpenChecksSegmentChain damages a segment file other than the last so
// that its entries no longer reach the next file's first index (the case
// that made tidwall's Read panic) or run past it: Open, writable and
// read-only, fails with ErrCorrupt naming the file, the Seq and the offset.
func TestOpenChecksSegmentChain(t *testing.T) {
	src, segs := chainLog(t)
	// Each edit damages the copy in dir and returns the file, Seq and
	// offset the error must name.
	type where struct {
		file string
		seq  uint64
		off  int
	}
	cases := []struct {
		name string
		edit func(t *testing.T, dir string) where
	}{
		{"first file cut at a record boundary", func(t *testing.T, dir string) where {
			path := filepath.Join(dir, filepath.Base(segs[0]))
			b := entryBounds(t, path)
			cut := b[len(b)-2]
			editFile(t, path, func(buf []byte) []byte { return buf[:cut] })
			return where{path, firstOf(segs[1]) - 1, cut}
		}},
		{"first file cut inside a record", func(t *testing.T, dir string) where {
			path := filepath.Join(dir, filepath.Base(segs[0]))
			b := entryBounds(t, path)
			editFile(t, path, func(buf []byte) []byte { return buf[:b[1]+5] })
			return where{path, firstOf(path) + 1, b[1]}
		}},
		{"record dropped from a middle file", func(t *testing.T, dir string) where {
			path := filepath.Join(dir, filepath.Base(segs[1]))
			b := entryBounds(t, path)
			editFile(t, path, func(buf []byte) []byte { return append(buf[:b[0]], buf[b[1]:]...) })
			return where{path, firstOf(segs[2]) - 1, b[len(b)-1] - (b[1] - b[0])}
		}},
		{"record added to a middle file", func(t *testing.T, dir string) where {
			path := filepath.Join(dir, filepath.Base(segs[1]))
			b := entryBounds(t, path)
			editFile(t, path, func(buf []byte) []byte { return append(buf, buf[b[0]:b[1]]...) })
			return where{path, firstOf(segs[2]), b[len(b)-1]}
		}},
		{"middle file missing", func(t *testing.T, dir string) where {
			if err := os.Remove(filepath.Join(dir, filepath.Base(segs[1]))); err != nil {
				t.Fatal(err)
			}
			prev := filepath.Join(dir, filepath.Base(segs[0]))
			b := entryBounds(t, prev)
			return where{prev, firstOf(segs[1]), b[len(b)-1]}
		}},
	}
	for _, tc := range cases {
		for _, ro := range []bool{false, true} {
			dir := copyDir(t, src)
			w := tc.edit(t, dir)
			l, err := Open(dir, Options{SegmentSize: smallSegments, ReadOnly: ro})
			if err == nil {
				l.Close()
			}
			wantCorrupt(t, fmt.Sprintf("%s, read-only %v", tc.name, ro), err,
				fmt.Sprintf("%s: seq %d: offset %d:", w.file, w.seq, w.off))
		}
	}
}

// TestReplayVerifyCatchDamageAfterOpen damages an earlier segment file
// while the log is open (Open's checks have passed): Replay, Verify and
// TruncateFront, which reaches tidwall's index of that file, report
// ErrCorrupt instead of panicking.
func TestReplayVerifyCatchDamageAfterOpen(t *testing.T) {
	src, segs := chainLog(t)
	for _, ro := range []bool{false, true} {
		dir := copyDir(t, src)
		opts := Options{SegmentSize: smallSegments, ReadOnly: ro}
		l := openLog(t, dir, opts)
		path := filepath.Join(dir, filepath.Base(segs[0]))
		b := entryBounds(t, path)
		cut := b[len(b)-2]
		editFile(t, path, func(buf []byte) []byte { return buf[:cut] })
		missing := firstOf(segs[1]) - 1
		at := fmt.Sprintf("%s: seq %d: offset %d:", path, missing, cut)
		wantCorrupt(t, "Replay", l.Replay(func(Record) error { return nil }), at)
		wantCorrupt(t, "Verify", l.Verify(), at)
		if ro {
			continue
		}
		// tidwall loads the damaged file for the truncation and indexes
		// past its entries.
		err := l.TruncateFront(missing)
		wantCorrupt(t, "TruncateFront", err)
	}
}

// TestMissingFirstFile: removing the first file cannot be seen inside the
// log (its remaining files chain), so FirstSeq reports the first Seq left
// and the caller compares it with its checkpoint.
func TestMissingFirstFile(t *testing.T) {
	src, segs := chainLog(t)
	for _, ro := range []bool{false, true} {
		dir := copyDir(t, src)
		if err := os.Remove(filepath.Join(dir, filepath.Base(segs[0]))); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, dir, Options{SegmentSize: smallSegments, ReadOnly: ro})
		first := firstOf(segs[1])
		if l.FirstSeq() != first || first <= 1 {
			t.Fatalf("read-only %v: FirstSeq = %d, want %d (> 1, the checkpoint a caller would hold)", ro, l.FirstSeq(), first)
		}
		checkReplay(t, l, first, 40)
	}
}
