package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// TestCloseReleasesFDAfterFailedSync makes the final fsync fail: the
// descriptor tidwall holds is replaced (dup3) by the write end of a pipe,
// on which fsync fails with EINVAL. tidwall's Close then returns before
// closing it; Log.Close must still release it and report the failure.
func TestCloseReleasesFDAfterFailedSync(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		l, err := Open(dir, Options{NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		appendRange(t, l, 1, 3) // unsynced with NoSync: Close's own sync fails first
		fds := fdsIn(t, dir)
		if len(fds) != 1 {
			t.Fatalf("noSync=%v: %d descriptors in the log directory, want tidwall's one", noSync, len(fds))
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := syscall.Dup3(int(w.Fd()), fds[0], syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		err = l.Close()
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("noSync=%v: Close err = %v, want the failed fsync (EINVAL)", noSync, err)
		}
		if left := fdsIn(t, dir); len(left) != 0 {
			t.Fatalf("noSync=%v: descriptors %v still open in the log directory", noSync, left)
		}
		// The read end sees EOF only once every write end is closed: ours,
		// and the one tidwall held.
		w.Close()
		if n, err := readNonBlocking(t, r); n != 0 || err != nil {
			t.Fatalf("noSync=%v: pipe read = %d, %v; want EOF: tidwall's descriptor was not released", noSync, n, err)
		}
	}
}

// readNonBlocking reads once from r without waiting: EAGAIN means a
// writer is still open, (0, nil) is end of file.
func readNonBlocking(t *testing.T, r *os.File) (int, error) {
	t.Helper()
	raw, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var rerr error
	buf := make([]byte, 1)
	if err := raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // never wait for readiness
	}); err != nil {
		t.Fatal(err)
	}
	return n, rerr
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
