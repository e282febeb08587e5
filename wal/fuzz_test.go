package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// FuzzDecodeRecord checks that DecodeRecord never panics, fails only with
// ErrCorrupt or ErrVersion, and that whatever it accepts re-encodes, in the
// frame's version, to the very same bytes (so no two encodings of one
// version decode alike).
func FuzzDecodeRecord(f *testing.F) {
	for _, tc := range bothVersions() {
		f.Add(tc.frame)
	}
	f.Add([]byte{})
	f.Add([]byte("MVTB"))
	f.Add(make([]byte, frameSize(version1, 1)))
	f.Add(make([]byte, frameSize(version2, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrVersion) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrVersion: %v", err)
			}
			return
		}
		if again := appendFrame(nil, r, b[4]); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %x, input was %x", r, again, b)
		}
	})
}

// FuzzOpenDir writes fuzzed bytes as one or two segment files (the second
// gap indexes after the first) and opens, replays and verifies the log,
// writable and read-only. Nothing may panic; every failure must wrap
// ErrCorrupt or ErrVersion; a read-only Open must change no byte; and a log
// that opens and verifies must take an append and reopen to the same
// records plus that one.
func FuzzOpenDir(f *testing.F) {
	entries := func(v byte, first, last uint64) []byte {
		var b []byte
		for seq := first; seq <= last; seq++ {
			frame := appendFrame(nil, Record{Seq: seq, Synced: seq - 1, Gen: 3, IDs: idsFor(seq)}, v)
			b = binary.AppendUvarint(b, uint64(len(frame)))
			b = append(b, frame...)
		}
		return b
	}
	for _, v := range []byte{version1, version2} {
		f.Add(entries(v, 1, 3), entries(v, 4, 5), uint8(3), false)
		f.Add(entries(v, 1, 2), entries(v, 4, 5), uint8(3), true) // first file cut at a boundary
		f.Add(entries(v, 1, 4), entries(v, 4, 5), uint8(3), false)
		f.Add(entries(v, 1, 3)[:50], entries(v, 4, 5), uint8(3), false)
		f.Add(entries(v, 1, 3), append(entries(v, 4, 5), 0, 0, 0), uint8(3), true)
		f.Add(entries(v, 1, 3), []byte(nil), uint8(0), false)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, gap uint8, ro bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), a, 0o644); err != nil {
			t.Fatal(err)
		}
		if gap > 0 {
			if err := os.WriteFile(filepath.Join(dir, segmentName(1+uint64(gap))), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := hashDir(t, dir)
		opts := Options{SegmentSize: smallSegments, ReadOnly: ro}
		expected := func(what string, err error) bool {
			t.Helper()
			if err != nil && !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrVersion) {
				t.Fatalf("%s: error wraps neither ErrCorrupt nor ErrVersion: %v", what, err)
			}
			return err == nil
		}
		l, err := Open(dir, opts)
		if !expected("Open", err) {
			return
		}
		var recs []Record
		replayErr := l.Replay(func(r Record) error { recs = append(recs, r); return nil })
		ok := expected("Replay", replayErr) && expected("Verify", l.Verify())
		if ro {
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if after := hashDir(t, dir); !maps.Equal(before, after) {
				t.Fatalf("a read-only open changed the files: %v -> %v", before, after)
			}
			return
		}
		if !ok {
			l.Close()
			return
		}
		seq, err := l.Append([]uint64{42})
		if err != nil {
			t.Fatalf("Append to a log that verified: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		l, err = Open(dir, opts)
		if err != nil {
			t.Fatalf("reopen after an append: %v", err)
		}
		defer l.Close()
		var again []Record
		if err := l.Replay(func(r Record) error { again = append(again, r); return nil }); err != nil {
			t.Fatalf("Replay after reopen: %v", err)
		}
		if err := l.Verify(); err != nil {
			t.Fatalf("Verify after reopen: %v", err)
		}
		want := append(recs, Record{Seq: seq, Synced: seq - 1, IDs: []uint64{42}})
		if len(again) != len(want) {
			t.Fatalf("replayed %d records after reopen, want %d", len(again), len(want))
		}
		for i := range want {
			if !equalRecord(again[i], want[i]) {
				t.Fatalf("record %d after reopen = %+v, want %+v", i, again[i], want[i])
			}
		}
	})
}
