package wal

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// smallSegments makes tidwall cycle every few records.
const smallSegments = 256

func openLog(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// idsFor is the deterministic ID batch appended as record seq.
func idsFor(seq uint64) []uint64 {
	ids := make([]uint64, 1+seq%4)
	for i := range ids {
		ids[i] = seq*10 + uint64(i)
	}
	return ids
}

// appendRange appends the records first..last (as idsFor builds them) and
// checks the Seqs Append returns.
func appendRange(t *testing.T, l *Log, first, last uint64) {
	t.Helper()
	for seq := first; seq <= last; seq++ {
		got, err := l.Append(idsFor(seq))
		if err != nil {
			t.Fatalf("Append seq %d: %v", seq, err)
		}
		if got != seq {
			t.Fatalf("Append returned seq %d, want %d", got, seq)
		}
	}
}

func replayAll(t *testing.T, l *Log) []Record {
	t.Helper()
	var recs []Record
	if err := l.Replay(func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return recs
}

// checkReplay checks that l replays exactly records first..last as
// appendRange wrote them (none when last < first), that its bounds agree,
// and that Verify passes.
func checkReplay(t *testing.T, l *Log, first, last uint64) {
	t.Helper()
	recs := replayAll(t, l)
	if want := int(last + 1 - first); len(recs) != want {
		t.Fatalf("replayed %d records, want %d (seq %d..%d)", len(recs), want, first, last)
	}
	for i, r := range recs {
		seq := first + uint64(i)
		if !equalRecord(r, Record{Seq: seq, Synced: r.Synced, Gen: r.Gen, IDs: idsFor(seq)}) || r.Synced >= seq {
			t.Fatalf("record %d = %+v, want seq %d IDs %v", i, r, seq, idsFor(seq))
		}
	}
	wantFirst := first
	if last < first {
		wantFirst = 0
	}
	if l.FirstSeq() != wantFirst || l.LastSeq() != last {
		t.Fatalf("FirstSeq, LastSeq = %d, %d; want %d, %d", l.FirstSeq(), l.LastSeq(), wantFirst, last)
	}
	if err := l.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := l.Size(), dirSize(t, l.dir); got != want {
		t.Fatalf("Size = %d, files hold %d", got, want)
	}
	// The Log's own segment list (kept up to date on cycles, used to name
	// files in errors) must match the directory.
	files := segmentFiles(t, l.dir)
	if len(files) != len(l.segs) {
		t.Fatalf("Log tracks %d segments, directory holds %d", len(l.segs), len(files))
	}
	for i, s := range l.segs {
		if s.path != files[i] {
			t.Fatalf("Log's segment %d is %s, want %s", i, s.path, files[i])
		}
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	st, err := scanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range st.segs {
		n += s.size
	}
	return n
}

// segmentFiles lists the log's segment file paths in order.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	st, err := scanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range st.segs {
		paths = append(paths, filepath.Join(dir, segmentName(s.first)))
	}
	return paths
}

// entryBounds returns the start offset of every tidwall entry in the file at
// path, followed by the file length.
func entryBounds(t *testing.T, path string) []int {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bounds []int
	for off := 0; off < len(buf); {
		bounds = append(bounds, off)
		_, n, ok := nextEntry(buf[off:])
		if !ok {
			t.Fatalf("%s: bad entry at offset %d", path, off)
		}
		off += n
	}
	return append(bounds, len(buf))
}

// copyDir copies the flat directory src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editFile applies edit to the contents of the file at path.
func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hashDir returns the SHA-256 of every file in the flat directory dir, by
// name.
func hashDir(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums := make(map[string][32]byte, len(entries))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sums[e.Name()] = sha256.Sum256(b)
	}
	return sums
}

// closeLog closes l, failing the test on an error.
func closeLog(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopenLog closes l and opens the log in dir again with opts.
func reopenLog(t *testing.T, l *Log, dir string, opts Options) *Log {
	t.Helper()
	closeLog(t, l)
	return openLog(t, dir, opts)
}

// syncedLog opens a log with opts in a fresh directory, appends records
// 1..syncAt and calls Sync, so that with NoSync the records appended next
// carry Synced == syncAt. It returns the directory and the open log.
func syncedLog(t *testing.T, opts Options, syncAt uint64) (string, *Log) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	appendRange(t, l, 1, syncAt)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	return dir, l
}
