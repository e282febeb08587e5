package wal

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fdsIn returns this process's open descriptors that refer to files in
// dir, by number.
func fdsIn(t *testing.T, dir string) []int {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var fds []int
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(target, abs+string(filepath.Separator)) {
			continue // closed since the listing, or elsewhere
		}
		fd, _ := strconv.Atoi(e.Name())
		fds = append(fds, fd)
	}
	return fds
}

// TestCloseReleasesFDs: a clean Close, a Close after a failed write and a
// read-only Log leave no descriptor in the directory.
func TestCloseReleasesFDs(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: smallSegments})
	if err != nil {
		t.Fatal(err)
	}
	appendRange(t, l, 1, 30)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if left := fdsIn(t, dir); len(left) != 0 {
		t.Fatalf("descriptors %v open after Close", left)
	}

	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	replayAll(t, ro)
	if err := ro.Verify(); err != nil {
		t.Fatal(err)
	}
	if left := fdsIn(t, dir); len(left) != 0 {
		t.Fatalf("read-only Log holds descriptors %v", left)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTidwallFileField pins the tidwall internals Close relies on
// (tidwallFile): if an upgrade renames or retypes tidwall.Log's tail file
// field, this fails rather than leaving descriptors behind.
func TestTidwallFileField(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, Options{SegmentSize: smallSegments})
	for _, last := range []uint64{0, 30} {
		appendRange(t, l, l.LastSeq()+1, last)
		f, err := tidwallFile(l.tw)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(abs, filepath.Base(l.segs[len(l.segs)-1].path))
		if f == nil || f.Name() != want {
			t.Fatalf("tidwall's file = %v, want the last segment %s", f, want)
		}
		fds := fdsIn(t, dir)
		if len(fds) != 1 || uintptr(fds[0]) != f.Fd() {
			t.Fatalf("descriptors in the directory %v, tidwall's file has %d", fds, f.Fd())
		}
	}
}
