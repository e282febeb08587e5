package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// storeV1WAL is the tombstone log of the store committed by the code that
// wrote frame version 1 (testdata/store-v1 at the module root).
const storeV1WAL = "../testdata/store-v1/store/wal"

// frameVersions returns the version byte of every frame in the log's files,
// in order.
func frameVersions(t *testing.T, dir string) []byte {
	t.Helper()
	var vs []byte
	for _, path := range segmentFiles(t, dir) {
		buf, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(buf); {
			payload, n, ok := nextEntry(buf[off:])
			if !ok || len(payload) < 5 {
				t.Fatalf("%s: bad entry at offset %d", path, off)
			}
			vs = append(vs, payload[4])
			off += n
		}
	}
	return vs
}

// TestStoreV1WAL opens a log written with version 1 frames, replays them
// (Gen 0), appends version 2 frames stamped by SetGen across a segment
// cycle, and replays the mix after reopening, writable and read-only.
func TestStoreV1WAL(t *testing.T) {
	if _, err := os.Stat(storeV1WAL); err != nil {
		t.Fatalf("committed v1 store: %v", err)
	}
	dir := copyDir(t, storeV1WAL)
	old := frameVersions(t, dir)
	if len(old) == 0 {
		t.Fatal("the committed log holds no record")
	}
	for _, v := range old {
		if v != version1 {
			t.Fatalf("committed log holds a version %d frame, want only version 1", v)
		}
	}
	opts := Options{SegmentSize: smallSegments}
	l := openLog(t, dir, opts)
	v1 := replayAll(t, l)
	if len(v1) != len(old) || v1[0].Seq != l.FirstSeq() || v1[len(v1)-1].Seq != l.LastSeq() {
		t.Fatalf("replayed %d records, files hold %d (seqs %d..%d)", len(v1), len(old), l.FirstSeq(), l.LastSeq())
	}
	for _, r := range v1 {
		if r.Gen != 0 || len(r.IDs) == 0 {
			t.Fatalf("version 1 record %+v: want Gen 0 and IDs", r)
		}
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	last := l.LastSeq()
	l.SetGen(7)
	appendRange(t, l, last+1, last+10)
	l.SetGen(9)
	appendRange(t, l, last+11, last+20)
	closeLog(t, l)
	if n := len(segmentFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want the appends to cycle", n)
	}
	vs := frameVersions(t, dir)
	for i, v := range vs {
		want := byte(version2)
		if i < len(old) {
			want = version1
		}
		if v != want {
			t.Fatalf("frame %d is version %d, want %d", i, v, want)
		}
	}
	for _, ro := range []bool{false, true} {
		opts.ReadOnly = ro
		l := openLog(t, dir, opts)
		if err := l.Verify(); err != nil {
			t.Fatalf("read-only %v: Verify: %v", ro, err)
		}
		recs := replayAll(t, l)
		if len(recs) != len(v1)+20 || l.FirstSeq() != v1[0].Seq || l.LastSeq() != last+20 {
			t.Fatalf("read-only %v: %d records, seqs %d..%d; want %d, %d..%d", ro, len(recs), l.FirstSeq(), l.LastSeq(), len(v1)+20, v1[0].Seq, last+20)
		}
		for i, r := range recs {
			want := Record{Seq: r.Seq, Synced: r.Seq - 1, IDs: idsFor(r.Seq)}
			switch {
			case i < len(v1):
				want = v1[i]
			case r.Seq > last+10:
				want.Gen = 9
			default:
				want.Gen = 7
			}
			if !equalRecord(r, want) {
				t.Fatalf("read-only %v: record %+v, want %+v", ro, r, want)
			}
		}
	}
	// The committed files themselves are untouched by the test.
	if got := frameVersions(t, filepath.Clean(storeV1WAL)); len(got) != len(old) {
		t.Fatalf("committed log changed: %d frames, had %d", len(got), len(old))
	}
}
