package wal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	tidwall "github.com/tidwall/wal"
)

// outcome is what opening a log and replaying it gives.
type outcome struct {
	recs        []Record
	first, last uint64
	err         error
}

func (o outcome) String() string {
	return fmt.Sprintf("%d records, seqs %d..%d, err %v", len(o.recs), o.first, o.last, o.err)
}

// openOutcome opens dir with opts, replays and verifies it, and closes it.
func openOutcome(dir string, opts Options) outcome {
	l, err := Open(dir, opts)
	if err != nil {
		return outcome{err: err}
	}
	defer l.Close()
	var o outcome
	o.err = l.Replay(func(r Record) error { o.recs = append(o.recs, r); return nil })
	if o.err == nil {
		o.err = l.Verify()
	}
	o.first, o.last = l.FirstSeq(), l.LastSeq()
	return o
}

// tailedLog writes records to a new log, calling Sync after syncAt, until
// it spans several segment files and the last holds at least 3 records; it
// returns the directory and the last Seq.
func tailedLog(t *testing.T, opts Options, syncAt uint64) (string, uint64) {
	t.Helper()
	dir, l := syncedLog(t, opts, syncAt)
	for {
		segs := segmentFiles(t, dir)
		if len(segs) >= 3 && len(entryBounds(t, segs[len(segs)-1])) > 3 {
			break
		}
		appendRange(t, l, l.LastSeq()+1, l.LastSeq()+1)
	}
	closeLog(t, l)
	return dir, l.LastSeq()
}

// checkReadOnlyAgrees opens a copy of src read-only and checks that it
// changed no byte and saw exactly what a writable Open (which repairs the
// tail on disk) of another copy sees, failures included.
func checkReadOnlyAgrees(t *testing.T, what, src string, opts Options) {
	t.Helper()
	roDir := copyDir(t, src)
	before := hashDir(t, roDir)
	opts.ReadOnly = true
	ro := openOutcome(roDir, opts)
	if after := hashDir(t, roDir); !maps.Equal(before, after) {
		t.Fatalf("%s: a read-only open changed the directory", what)
	}
	opts.ReadOnly = false
	rw := openOutcome(copyDir(t, src), opts)
	same := ro.first == rw.first && ro.last == rw.last && len(ro.recs) == len(rw.recs) &&
		(ro.err == nil) == (rw.err == nil) &&
		errors.Is(ro.err, errs.ErrCorrupt) == errors.Is(rw.err, errs.ErrCorrupt) &&
		errors.Is(ro.err, errs.ErrVersion) == errors.Is(rw.err, errs.ErrVersion)
	for i := 0; same && i < len(ro.recs); i++ {
		same = equalRecord(ro.recs[i], rw.recs[i])
	}
	if !same {
		t.Fatalf("%s: read-only open saw %v, writable open %v", what, ro, rw)
	}
}

// TestReadOnlyTornTail damages the last segment file in every way the
// torn-tail tests do: a read-only open ignores in memory exactly what a
// writable open cuts, reports the same corruption, and writes nothing.
func TestReadOnlyTornTail(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		opts := Options{NoSync: noSync, SegmentSize: 512}
		src, lastSeq := tailedLog(t, opts, 12)
		segs := segmentFiles(t, src)
		last := filepath.Base(segs[len(segs)-1])
		bounds := entryBounds(t, segs[len(segs)-1])
		size := bounds[len(bounds)-1]
		type damage struct {
			name string
			edit func([]byte) []byte
		}
		damages := []damage{
			{"zero-filled tail", func(b []byte) []byte { return append(b, make([]byte, 100)...) }},
			{"zeroed file", func(b []byte) []byte { return make([]byte, len(b)) }},
		}
		for cut := 0; cut < size; cut++ {
			damages = append(damages, damage{fmt.Sprintf("cut at %d", cut), func(b []byte) []byte { return b[:cut] }})
		}
		for i := 0; i < size; i++ {
			damages = append(damages, damage{fmt.Sprintf("byte %d flipped", i), func(b []byte) []byte { b[i] ^= 0x40; return b }})
		}
		for i, d := range damages {
			dir := copyDir(t, src)
			editFile(t, filepath.Join(dir, last), d.edit)
			name := d.name
			checkReadOnlyAgrees(t, fmt.Sprintf("noSync=%v, %s", noSync, name), dir, opts)
			if i%8 == 0 {
				// With the damage at or below Durable the same bytes
				// are corruption in both modes (a sample: each check
				// opens twice).
				durable := opts
				durable.Durable = lastSeq
				checkReadOnlyAgrees(t, fmt.Sprintf("noSync=%v, %s, durable %d", noSync, name, lastSeq), dir, durable)
			}
		}
	}
}

// TestReadOnlyPendingTruncation leaves the files of an interrupted
// TruncateFront (.START) or TruncateBack (.END), or both: a read-only open
// applies them in memory as tidwall's load would on disk.
func TestReadOnlyPendingTruncation(t *testing.T) {
	opts := Options{SegmentSize: smallSegments}
	src := buildLog(t, opts, 40, 0)
	segs := segmentFiles(t, src)
	// TruncateBack into the file before the last: its .END copy holds
	// the first record, and the load drops the last file.
	mid, tail := segs[len(segs)/2], segs[len(segs)-2]
	midFirst, tailFirst := firstOf(mid), firstOf(tail)
	write := func(t *testing.T, dir, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	midBuf, _ := os.ReadFile(mid)
	tailBuf, _ := os.ReadFile(tail)
	midBounds, tailBounds := entryBounds(t, mid), entryBounds(t, tail)
	start := func(t *testing.T, dir string) {
		write(t, dir, segmentName(midFirst+1)+startSuffix, midBuf[midBounds[1]:])
	}
	end := func(t *testing.T, dir string) {
		write(t, dir, segmentName(tailFirst)+endSuffix, tailBuf[:tailBounds[1]])
	}
	cases := map[string][]func(*testing.T, string){
		"start": {start}, "end": {end}, "both": {start, end},
	}
	for name, edits := range cases {
		dir := copyDir(t, src)
		for _, e := range edits {
			e(t, dir)
		}
		checkReadOnlyAgrees(t, name, dir, opts)

		// The view must be tidwall's own: its load finishes the
		// truncation on disk the way finishTruncation does.
		twDir, ourDir := copyDir(t, dir), copyDir(t, dir)
		tw, twErr := tidwall.Open(twDir, &tidwall.Options{LogFormat: tidwall.Binary, AllowEmpty: true, NoSync: true})
		ours := openOutcome(ourDir, opts)
		if twErr != nil {
			if !errors.Is(ours.err, errs.ErrCorrupt) {
				t.Fatalf("%s: tidwall's load fails (%v), ours gives %v", name, twErr, ours)
			}
			continue
		}
		first, _ := tw.FirstIndex()
		last, _ := tw.LastIndex()
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if ours.err != nil || ours.first != first || ours.last != last {
			t.Fatalf("%s: tidwall's load gives seqs %d..%d, ours %v", name, first, last, ours)
		}
		if a, b := slices.Collect(maps.Keys(hashDir(t, twDir))), slices.Collect(maps.Keys(hashDir(t, ourDir))); !equalSorted(a, b) {
			t.Fatalf("%s: tidwall leaves files %v, finishTruncation %v", name, a, b)
		}
	}
}

func equalSorted(a, b []string) bool {
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestReadOnlyMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if _, err := Open(dir, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only Open created the directory: %v", err)
	}
}

// TestReadOnlyEmptyDir: an empty directory is an empty log, as tidwall
// would create it, but nothing is created.
func TestReadOnlyEmptyDir(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{ReadOnly: true})
	checkReplay(t, l, 1, 0)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("read-only Open created %d files", len(entries))
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	dir := buildLog(t, Options{SegmentSize: smallSegments}, 30, 0)
	before := hashDir(t, dir)
	l := openLog(t, dir, Options{ReadOnly: true})
	l.SetGen(3)
	_, appendErr := l.Append([]uint64{1})
	for name, err := range map[string]error{
		"Append":        appendErr,
		"Sync":          l.Sync(),
		"TruncateFront": l.TruncateFront(10),
	} {
		if !errors.Is(err, errs.ErrReadOnly) {
			t.Errorf("%s: err = %v, want ErrReadOnly", name, err)
		}
	}
	checkReplay(t, l, 1, 30)
	closeLog(t, l)
	if err := l.Close(); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Replay(func(Record) error { return nil }); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("Replay after Close: %v", err)
	}
	if !maps.Equal(before, hashDir(t, dir)) {
		t.Fatal("the directory changed")
	}
}

// TestReadOnlyMount opens a log with a torn tail through a read-only bind
// mount, where any write, create or fsync of a directory opened for
// writing would fail. Skipped where mount is not allowed.
func TestReadOnlyMount(t *testing.T) {
	opts := Options{NoSync: true, SegmentSize: smallSegments}
	src, last := tailedLog(t, opts, 12)
	segs := segmentFiles(t, src)
	editFile(t, segs[len(segs)-1], func(b []byte) []byte { return append(b[:len(b)-3], make([]byte, 50)...) })
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "--bind", src, mnt).CombinedOutput(); err != nil {
		t.Skipf("bind mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); err == nil {
		t.Fatal("the read-only mount accepted a write")
	}
	before := hashDir(t, src)
	if _, err := Open(mnt, opts); err == nil {
		t.Fatal("a writable Open succeeded on a read-only mount")
	}
	opts.ReadOnly = true
	l, err := Open(mnt, opts)
	if err != nil {
		t.Fatalf("read-only Open on a read-only mount: %v", err)
	}
	recs := replayAll(t, l)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Seq != l.LastSeq() || l.LastSeq() >= last {
		t.Fatalf("replayed %d records up to seq %d; want the torn record and later ones dropped", len(recs), l.LastSeq())
	}
	closeLog(t, l)
	if left := fdsIn(t, mnt); len(left) != 0 {
		t.Fatalf("descriptors %v left open on the mount", left)
	}
	if !maps.Equal(before, hashDir(t, src)) {
		t.Fatal("the directory changed")
	}
	// A writable open of the same bytes cuts exactly what was ignored.
	checkReadOnlyAgrees(t, "torn tail", src, Options{NoSync: true, SegmentSize: smallSegments})
}
