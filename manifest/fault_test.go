package manifest

import (
	"errors"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// A Store that fails at any of its operations returns an error wrapping the
// injected one, and the manifest on disk is then the old one or the new
// one, whole. After a power cut at any sync point of Store it is the old one
// until the directory sync, and the new one from then on.
func TestStoreFaultsAndCuts(t *testing.T) {
	old := sample()
	next := old.Clone()
	next.Generation++
	next.Segments = next.Segments[:1]
	counter := vfs.NewFault(nil, 0)
	if err := Store(counter, t.TempDir(), next); err != nil {
		t.Fatal(err)
	}
	counts := counter.Counts()
	gen := func(dir string) uint64 {
		t.Helper()
		m, err := Load(nil, dir)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return m.Generation
	}
	faults, cuts := 0, 0
	for k, n := range counts {
		for i := 1; i <= n; i++ {
			for _, d := range []vfs.Decision{
				{Err: syscall.EIO},
				{Err: syscall.ENOSPC, Short: 9},
				{Err: syscall.EIO, After: true},
				{Crash: true},
				{Crash: true, Torn: true},
			} {
				dir := t.TempDir()
				if err := Store(nil, dir, old); err != nil {
					t.Fatal(err)
				}
				f := vfs.NewFault(nil, uint64(i))
				f.SetHook(vfs.Nth(k, "", i, d))
				err := Store(f, dir, next)
				want := d.Err
				if d.Crash {
					want = vfs.ErrCrashed
					cuts++
				} else {
					faults++
				}
				if !errors.Is(err, want) {
					t.Fatalf("%v #%d %+v: Store returned %v", k, i, d, err)
				}
				switch g := gen(dir); {
				case d.Crash && k == vfs.OpSyncDir && g != next.Generation:
					t.Fatalf("%v #%d: cut after the directory sync, generation %d", k, i, g)
				case d.Crash && k != vfs.OpSyncDir && g != old.Generation:
					t.Fatalf("%v #%d: cut before the directory sync, generation %d", k, i, g)
				case g != old.Generation && g != next.Generation:
					t.Fatalf("%v #%d: generation %d", k, i, g)
				}
			}
		}
	}
	t.Logf("Store %v: %d faults and %d power cuts", counts, faults, cuts)
}

// WriteTombs and WriteIDMap fail with the injected error.
func TestWriteFramedFaults(t *testing.T) {
	for _, k := range []vfs.Kind{vfs.OpOpen, vfs.OpWrite, vfs.OpSync} {
		f := vfs.NewFault(nil, 0)
		f.SetHook(vfs.Nth(k, "", 1, vfs.Decision{Err: syscall.ENOSPC}))
		if err := WriteTombs(f, t.TempDir(), 1, nil); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("WriteTombs with a failed %v: %v", k, err)
		}
		f = vfs.NewFault(nil, 0)
		f.SetHook(vfs.Nth(k, "", 1, vfs.Decision{Err: syscall.EIO}))
		if err := WriteIDMap(f, t.TempDir(), 1, nil); !errors.Is(err, syscall.EIO) {
			t.Fatalf("WriteIDMap with a failed %v: %v", k, err)
		}
	}
}
