package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Fadvise goes through a Fault like every file operation: the hook sees it
// (OpAdvise, with its range) and can fail it, and it reaches the base.
func TestFaultFadvise(t *testing.T) {
	f := NewFault(OS, 1)
	var seen []Event
	f.SetHook(func(ev Event) Decision {
		if ev.Kind == OpAdvise {
			seen = append(seen, ev)
			if len(seen) == 2 {
				return Decision{Err: syscall.EIO}
			}
		}
		return Decision{}
	})
	h, err := f.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WriteAt(make([]byte, 8192), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Fadvise(4096, 4096, AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if err := h.Fadvise(0, 0, AdviseWillNeed); !errors.Is(err, syscall.EIO) {
		t.Fatalf("injected failure: %v", err)
	}
	if len(seen) != 2 || seen[0].Off != 4096 || seen[0].Len != 4096 || seen[0].Path != h.Name() {
		t.Fatalf("events %+v", seen)
	}
	if n := f.Count(OpAdvise); n != 2 {
		t.Fatalf("Count(OpAdvise) = %d", n)
	}
	h.Close()
	if err := h.Fadvise(0, 0, AdviseDontNeed); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Fadvise on a closed file: %v", err)
	}
}
