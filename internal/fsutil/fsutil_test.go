package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestTryLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "LOCK")
	a, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second TryLock: %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	b, err := TryLock(p)
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	b.Unlock()
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"one", "two, longer"} {
		if err := WriteFileAtomic(dir, "f", []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != content {
			t.Fatalf("read %q, want %q", b, content)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "f.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temp file left: %v", err)
	}
}
