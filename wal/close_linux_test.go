package wal

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestCloseReleasesFDAfterFailedSync makes the final fsync fail: the
// descriptor tidwall holds is replaced (dup3) by the write end of a pipe,
// on which fsync fails with EINVAL. tidwall's Close then returns before
// closing it; Log.Close must still release it and report the failure.
func TestCloseReleasesFDAfterFailedSync(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, Options{NoSync: noSync})
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
