package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// buildLog writes records 1..n to a fresh directory and closes the log. If
// syncAt is non-zero, Sync is called after record syncAt, so that with
// NoSync the records after it carry Synced == syncAt.
func buildLog(t *testing.T, opts Options, n, syncAt uint64) string {
	t.Helper()
	dir, l := syncedLog(t, opts, syncAt)
	appendRange(t, l, syncAt+1, n)
	closeLog(t, l)
	return dir
}

// reopenAndAppend checks that the repaired log in dir continues at last+1
// and survives another reopen.
func reopenAndAppend(t *testing.T, l *Log, dir string, opts Options, last uint64) {
	t.Helper()
	appendRange(t, l, last+1, last+3)
	closeLog(t, l)
	l2 := openLog(t, dir, opts)
	checkReplay(t, l2, 1, last+3)
}

func TestTornTailEveryOffset(t *testing.T) {
	for _, minSegs := range []int{1, 3} {
		opts := Options{SegmentSize: 512}
		// Append until the last of minSegs segments holds 3 records or more.
		src := t.TempDir()
		l := openLog(t, src, opts)
		var n uint64
		var segs []string
		var bounds []int
		for len(segs) < minSegs || len(bounds) < 4 {
			n++
			appendRange(t, l, n, n)
			segs = segmentFiles(t, src)
			bounds = entryBounds(t, segs[len(segs)-1])
		}
		closeLog(t, l)
		last := segs[len(segs)-1]
		lastFirst, _ := parseSegmentName(filepath.Base(last))
		// Every length of the last file short of its full size.
		for cut := 0; cut < bounds[len(bounds)-1]; cut++ {
			complete := 0
			for complete+1 < len(bounds) && bounds[complete+1] <= cut {
				complete++
			}
			want := lastFirst - 1 + uint64(complete)

			dir := copyDir(t, src)
			path := filepath.Join(dir, filepath.Base(last))
			if err := os.Truncate(path, int64(cut)); err != nil {
				t.Fatal(err)
			}
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatalf("%d segments, cut at %d: Open: %v", len(segs), cut, err)
			}
			checkReplay(t, l, 1, want)
			reopenAndAppend(t, l, dir, opts, want)
		}
	}
}

func TestZeroFilledTail(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		opts := Options{NoSync: noSync, SegmentSize: 512}
		dir := buildLog(t, opts, 30, 0)
		segs := segmentFiles(t, dir)
		editFile(t, segs[len(segs)-1], func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("noSync=%v: Open: %v", noSync, err)
		}
		checkReplay(t, l, 1, 30)
		reopenAndAppend(t, l, dir, opts, 30)
	}
}

// TestZeroFilledTailWholeSegment zeroes the tail segment entirely: every
// record in it goes, and numbering resumes at the segment's first Seq.
func TestZeroFilledTailWholeSegment(t *testing.T) {
	opts := Options{NoSync: true, SegmentSize: 512}
	dir := buildLog(t, opts, 30, 0)
	segs := segmentFiles(t, dir)
	last := segs[len(segs)-1]
	first, _ := parseSegmentName(filepath.Base(last))
	editFile(t, last, func(b []byte) []byte { return make([]byte, len(b)+100) })
	l := openLog(t, dir, opts)
	checkReplay(t, l, 1, first-1)
	reopenAndAppend(t, l, dir, opts, first-1)
}

// TestCorruptMiddleRecordSyncMode damages every byte, length prefix
// included, of a record that has a successor, in sync mode.
func TestCorruptMiddleRecordSyncMode(t *testing.T) {
	opts := Options{}
	src := buildLog(t, opts, 6, 0)
	path := segmentFiles(t, src)[0]
	bounds := entryBounds(t, path)
	for i := bounds[2]; i < bounds[3]; i++ { // record seq 3
		dir := copyDir(t, src)
		file := filepath.Join(dir, filepath.Base(path))
		editFile(t, file, func(b []byte) []byte { b[i] ^= 0xff; return b })
		l, err := Open(dir, opts)
		if err == nil {
			l.Close()
			t.Fatalf("byte %d flipped: Open succeeded", i)
		}
		if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "seq 3") {
			t.Fatalf("byte %d flipped: err = %v, want ErrCorrupt naming %s and seq 3", i, err, file)
		}
	}
}

// TestCorruptEarlierSegment damages a segment other than the last: Open
// leaves it (it can never hold a torn write), Replay and Verify report it.
func TestCorruptEarlierSegment(t *testing.T) {
	opts := Options{SegmentSize: smallSegments}
	dir := buildLog(t, opts, 40, 0)
	segs := segmentFiles(t, dir)
	bounds := entryBounds(t, segs[1])
	editFile(t, segs[1], func(b []byte) []byte { b[bounds[1]+10] ^= 1; return b })
	l := openLog(t, dir, opts)
	for name, err := range map[string]error{
		"Replay": l.Replay(func(Record) error { return nil }),
		"Verify": l.Verify(),
	} {
		if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), segs[1]) {
			t.Errorf("%s: err = %v, want ErrCorrupt naming %s", name, err, segs[1])
		}
	}
	// A partial entry in an earlier segment is found by Open, which names
	// the Seq of the cut entry (not the segment's first) and its offset.
	editFile(t, segs[1], func(b []byte) []byte { return b[:bounds[1]+10] })
	first, _ := parseSegmentName(filepath.Base(segs[1]))
	cp := copyDir(t, dir)
	_, err := Open(cp, opts)
	want := fmt.Sprintf("%s: seq %d: offset %d:", filepath.Join(cp, filepath.Base(segs[1])), first+1, bounds[1])
	if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Errorf("cut earlier segment: Open err = %v, want ErrCorrupt containing %q", err, want)
	}
}

// TestNoSyncRule checks rule (c): a bad record followed by good ones is cut
// off with everything after it when no later record says it was durable.
func TestNoSyncRule(t *testing.T) {
	opts := Options{NoSync: true}
	cases := []struct {
		bad     int    // record (seq) whose payload is damaged
		zero    bool   // zero the whole entry instead of flipping one byte
		want    uint64 // last seq kept, or 0 when Open must fail
		comment string
	}{
		{bad: 4, want: 3, comment: "unsynced record in the middle of the unsynced run"},
		{bad: 3, want: 2, comment: "first unsynced record"},
		{bad: 3, zero: true, want: 2, comment: "zeroed unsynced record shifts tidwall's framing"},
		{bad: 2, want: 0, comment: "synced record: later records say seq 2 was durable"},
		{bad: 1, zero: true, want: 0, comment: "zeroed synced record"},
	}
	for _, tc := range cases {
		src := buildLog(t, opts, 6, 2) // records 3..6 carry Synced == 2
		dir := copyDir(t, src)
		path := segmentFiles(t, dir)[0]
		bounds := entryBounds(t, path)
		editFile(t, path, func(b []byte) []byte {
			start, end := bounds[tc.bad-1], bounds[tc.bad]
			if tc.zero {
				clear(b[start:end])
			} else {
				b[end-3] ^= 0x10
			}
			return b
		})
		l, err := Open(dir, opts)
		if tc.want == 0 {
			if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("%s: err = %v, want ErrCorrupt naming %s", tc.comment, err, path)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.comment, err)
		}
		checkReplay(t, l, 1, tc.want)
		reopenAndAppend(t, l, dir, opts, tc.want)
	}
}

// TestUnknownVersionIsNotCut: a valid frame from a newer writer at the tail
// must stop Open rather than be cut off as garbage.
func TestUnknownVersionIsNotCut(t *testing.T) {
	dir := buildLog(t, Options{}, 3, 0)
	path := segmentFiles(t, dir)[0]
	bounds := entryBounds(t, path)
	editFile(t, path, func(b []byte) []byte {
		frame := b[bounds[2]+1 : bounds[3]] // after a one-byte length prefix
		frame[4] = frameVersion + 1
		reseal(frame)
		return b
	})
	if _, err := Open(dir, Options{}); !errors.Is(err, errs.ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
}

// TestFinishesInterruptedTruncation leaves the files a crash in the middle
// of tidwall's TruncateFront leaves (the .START copy written, nothing
// removed yet) plus a stale temp file, and checks Open completes it.
func TestFinishesInterruptedTruncation(t *testing.T) {
	opts := Options{SegmentSize: smallSegments}
	dir := buildLog(t, opts, 40, 0)
	segs := segmentFiles(t, dir)
	mid := segs[len(segs)/2]
	bounds := entryBounds(t, mid)
	first, _ := parseSegmentName(filepath.Base(mid))
	b, err := os.ReadFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	start := filepath.Join(dir, segmentName(first+1)+startSuffix)
	if err := os.WriteFile(start, b[bounds[1]:], 0o644); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, segmentName(first+1)+endSuffix+tempSuffix)
	if err := os.WriteFile(temp, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, opts)
	recs := replayAll(t, l)
	if len(recs) == 0 || recs[0].Seq != first+1 || recs[len(recs)-1].Seq != 40 {
		t.Fatalf("replayed %d records starting at %v, want %d..40", len(recs), recs, first+1)
	}
	checkReplay(t, l, first+1, 40)
	if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file left behind: %v", err)
	}
}

// TestCheckTailNeverCutsProvenDurable drives checkTail directly with a
// damaged length prefix that misaligns tidwall's framing: the valid frames
// after it must still be found.
func TestCheckTailNeverCutsProvenDurable(t *testing.T) {
	// Frames of either known version, and a log that switches from
	// version 1 to 2 (the scan must size each by its own header).
	layouts := map[string][]byte{
		"v1":         {version1, version1, version1, version1},
		"v2":         {version2, version2, version2, version2},
		"v1 then v2": {version1, version1, version2, version2},
	}
	for name, versions := range layouts {
		var buf []byte
		for i, v := range versions {
			seq := uint64(i + 1)
			frame := appendFrame(nil, Record{Seq: seq, Synced: seq - 1, Gen: 4, IDs: idsFor(seq)}, v)
			buf = append(buf, byte(len(frame)))
			buf = append(buf, frame...)
		}
		good := bytes.Clone(buf)
		if n, next, err := checkTail(good, 1, 0); err != nil || n != len(good) || next != 5 {
			t.Fatalf("%s: intact tail: cut %d of %d, next seq %d, err %v", name, n, len(good), next, err)
		}
		bounds := []int{0}
		for off := 0; off < len(buf); {
			_, n, _ := nextEntry(buf[off:])
			off += n
			bounds = append(bounds, off)
		}
		for _, delta := range []byte{1, 0xff, 0x80} {
			bad := bytes.Clone(buf)
			bad[bounds[1]] += delta // length prefix of seq 2
			if _, _, err := checkTail(bad, 1, 0); !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("%s: length prefix +%#x: err = %v, want ErrCorrupt", name, delta, err)
			}
		}
		// The same damage on the last record is a torn tail.
		bad := bytes.Clone(buf)
		bad[bounds[3]]++
		if n, _, err := checkTail(bad, 1, 0); err != nil || n != bounds[3] {
			t.Fatalf("%s: last length prefix damaged: cut at %d, err %v; want cut at %d", name, n, err, bounds[3])
		}
	}
}

// TestCheckTailFindsUnknownVersion: behind a damaged length prefix, a frame
// of an unknown version (whose layout the scan cannot know) is found by
// its own length prefix and stops the cut.
func TestCheckTailFindsUnknownVersion(t *testing.T) {
	var buf []byte
	for seq := uint64(1); seq <= 3; seq++ {
		frame := AppendRecord(nil, Record{Seq: seq, Synced: seq - 1, IDs: idsFor(seq)})
		if seq == 3 {
			frame = append(frame[:20], make([]byte, sumSize)...) // a shorter, unknown layout
			frame[4] = 9
			reseal(frame)
		}
		buf = binary.AppendUvarint(buf, uint64(len(frame)))
		buf = append(buf, frame...)
	}
	_, n, _ := nextEntry(buf)
	buf[n] += 3 // length prefix of seq 2: the walk stops there
	if _, _, err := checkTail(buf, 1, 0); !errors.Is(err, errs.ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
}

// TestDurableBoundRefusesCut: a damaged record at or below Options.Durable
// is corruption; Open reports it and leaves the file as it was.
func TestDurableBoundRefusesCut(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	for i := 0; i < 3; i++ {
		if _, err := l.Append([]uint64{uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	path := filepath.Join(dir, segmentName(1))
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 1 // inside the last record's checksum
	os.WriteFile(path, b, 0o644)
	if _, err := Open(dir, Options{Durable: 3}); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("Open with the damaged record below Durable: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Fatal("a refused Open changed the file")
	}
	// Without the bound the same damage is a torn tail: cut, two records left.
	l = openLog(t, dir, Options{Durable: 2})
	if l.LastSeq() != 2 {
		t.Fatalf("LastSeq %d after cutting the torn record", l.LastSeq())
	}
}
