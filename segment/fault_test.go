package segment

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// Every operation of Create, failed in turn, fails Create with an error
// wrapping the injected one and leaves no file behind.
func TestCreateFaults(t *testing.T) {
	count := vfs.NewFault(nil, 0)
	s, err := Create(count, t.TempDir(), 1, 4, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	counts := count.Counts()
	cases := 0
	for k, n := range counts {
		for i := 1; i <= n; i++ {
			dir := t.TempDir()
			f := vfs.NewFault(nil, 0)
			f.SetHook(vfs.Nth(k, "", i, vfs.Decision{Err: syscall.ENOSPC, Short: 7}))
			s, err := Create(f, dir, 1, 4, 8, 0)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("%v #%d: Create returned %v, %v", k, i, s, err)
			}
			if _, err := os.Stat(segPath(dir, 1)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%v #%d: a failed Create left its file: %v", k, i, err)
			}
			cases++
		}
	}
	t.Logf("%d faults in Create (%v)", cases, counts)
}

// A failed write or sync poisons the segment: every later Append, Sync and
// Seal returns the same error, and a failed fdatasync is never retried
// (fsyncgate: the kernel may have dropped the pages it failed to write).
func TestAppendFaultsStick(t *testing.T) {
	for _, tc := range []struct {
		kind vfs.Kind
		d    vfs.Decision
	}{
		{vfs.OpWrite, vfs.Decision{Err: syscall.EIO}},
		{vfs.OpWrite, vfs.Decision{Err: syscall.ENOSPC, Short: 5}},
		{vfs.OpDatasync, vfs.Decision{Err: syscall.EIO}},
		{vfs.OpDatasync, vfs.Decision{Err: syscall.EIO, After: true}},
	} {
		dir := t.TempDir()
		f := vfs.NewFault(nil, 0)
		s, err := Create(f, dir, 1, 2, 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(0, [][]float32{{1, 2}}, []float32{1}, true); err != nil {
			t.Fatal(err)
		}
		f.SetHook(vfs.Nth(tc.kind, "", 1, tc.d))
		err = s.Append(1, [][]float32{{3, 4}}, []float32{1}, true)
		if !errors.Is(err, tc.d.Err) {
			t.Fatalf("%v %+v: Append returned %v", tc.kind, tc.d, err)
		}
		if s.Rows() != 1 {
			t.Fatalf("%v: a failed Append made its rows visible: %d rows", tc.kind, s.Rows())
		}
		syncs := f.Count(vfs.OpDatasync)
		for what, e := range map[string]error{
			"Append": s.Append(1, [][]float32{{3, 4}}, []float32{1}, true),
			"Sync":   s.Sync(),
		} {
			if e != err {
				t.Fatalf("%v: %s after the failure returned %v, not the sticky %v", tc.kind, what, e, err)
			}
		}
		if _, e := s.Seal(); e != err {
			t.Fatalf("%v: Seal after the failure returned %v", tc.kind, e)
		}
		if n := f.Count(vfs.OpDatasync); n != syncs {
			t.Fatalf("%v: %d more fdatasyncs after a failure", tc.kind, n-syncs)
		}
		s.Close()
		// What was durable before the failure reads back.
		r := mustOpenActive(t, dir, 1, 2, 8)
		if r.Rows() < 1 {
			t.Fatalf("%v: the acknowledged row is gone", tc.kind)
		}
		r.Close()
	}
}

func mustOpenActive(t *testing.T, dir string, n uint64, dim int, capacity uint64) *Segment {
	t.Helper()
	s, err := OpenActive(nil, dir, n, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Open fails cleanly (error wrapping the injected one, nothing left open)
// whichever of its operations fails, and a later Open succeeds.
func TestOpenFaults(t *testing.T) {
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, 2, 8)
	if err := s.Append(0, [][]float32{{1, 2}}, []float32{1}, true); err != nil {
		t.Fatal(err)
	}
	// A stale record past the last batch, for the tail repair to zero.
	var stale [recordSize]byte
	stale[0] = 1
	if _, err := s.f.WriteAt(stale[:], s.lay.recordOff+recordSize); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for i := 1; ; i++ {
		f := vfs.NewFault(nil, 0)
		f.SetHook(vfs.Nth(vfs.AnyKind, "", i, vfs.Decision{Err: syscall.EIO}))
		s, err := OpenActive(f, dir, 1, 2, 8, 0)
		if err == nil {
			if f.Injected() != 0 {
				t.Fatalf("operation %d failed and OpenActive succeeded", i)
			}
			s.Close()
			t.Logf("%d operations in OpenActive, each failed once", i-1)
			break
		}
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("operation %d: OpenActive returned %v", i, err)
		}
	}
	r := mustOpenActive(t, dir, 1, 2, 8)
	if r.Rows() != 1 {
		t.Fatalf("%d rows after the faults", r.Rows())
	}
	r.Close()
}
