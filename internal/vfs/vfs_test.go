package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLockExcludes(t *testing.T) {
	for _, fsys := range []FS{OS, NewFault(OS, 1)} {
		p := filepath.Join(t.TempDir(), "LOCK")
		a, err := fsys.Lock(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Lock(p); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("second Lock: %v", err)
		}
		if err := a.Unlock(); err != nil {
			t.Fatal(err)
		}
		b, err := fsys.Lock(p)
		if err != nil {
			t.Fatalf("Lock after Unlock: %v", err)
		}
		b.Unlock()
	}
}

func TestWriteFileAtomic(t *testing.T) {
	for _, fsys := range []FS{OS, NewFault(OS, 1)} {
		dir := t.TempDir()
		for _, content := range []string{"one", "two, longer"} {
			if err := WriteFileAtomic(fsys, dir, "f", "f.tmp", []byte(content)); err != nil {
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
}

func TestMapSeesWrites(t *testing.T) {
	for _, fsys := range []FS{OS, NewFault(OS, 1)} {
		p := filepath.Join(t.TempDir(), "m")
		f, err := fsys.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(8192); err != nil {
			t.Fatal(err)
		}
		if err := f.Preallocate(0, 8192); err != nil {
			t.Fatal(err)
		}
		m, err := fsys.Map(f, 8192)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("hello"), 4096); err != nil {
			t.Fatal(err)
		}
		if string(m[4096:4101]) != "hello" {
			t.Fatalf("mapping reads %q", m[4096:4101])
		}
		if err := fsys.Unmap(m); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func TestFaultNth(t *testing.T) {
	dir := t.TempDir()
	f := NewFault(OS, 1)
	f.SetHook(Nth(OpWrite, "b", 2, Decision{Err: syscall.ENOSPC, Short: 3}))
	h, err := f.OpenFile(filepath.Join(dir, "b"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("aaaaaa"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := h.WriteAt([]byte("bbbbbb"), 0)
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %d, %v", n, err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "write" {
		t.Fatalf("error %v is not a write PathError", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != "bbbaaa" {
		t.Fatalf("after the short write the file holds %q", b)
	}
	if _, err := h.WriteAt([]byte("c"), 0); err != nil {
		t.Fatalf("third write: %v", err)
	}
	if got := f.Count(OpWrite); got != 3 {
		t.Fatalf("Count(OpWrite) = %d", got)
	}
	if got := f.Injected(); got != 1 {
		t.Fatalf("Injected = %d", got)
	}
	h.Close()
}

func TestFaultAfter(t *testing.T) {
	dir := t.TempDir()
	f := NewFault(OS, 1)
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.SetHook(Nth(OpRename, "", 1, Decision{Err: syscall.EIO, After: true}))
	err := f.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); err != nil {
		t.Fatalf("an After failure did not rename: %v", err)
	}
}

// faultFile opens path on f and writes data at 0.
func writeThrough(t *testing.T, f *Fault, path string, data []byte, sync bool) File {
	t.Helper()
	h, err := f.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func readOr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCrashRollsBack(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(p("old"), []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("gone"), []byte("removed, not synced"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := NewFault(OS, 1)

	// synced and dir-synced, then overwritten without a sync
	h := writeThrough(t, f, p("kept"), []byte("durable"), true)
	if err := f.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("DUR"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Truncate(3); err != nil {
		t.Fatal(err)
	}
	// dir-synced but never synced: comes back empty
	writeThrough(t, f, p("empty"), []byte("unsynced data"), false)
	if err := f.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	// synced but never dir-synced: vanishes
	writeThrough(t, f, p("new"), []byte("no dir sync"), true)
	// an unsynced rename over an existing file, and a removal
	writeThrough(t, f, p("old.tmp"), []byte("replacement"), true)
	if err := f.Rename(p("old.tmp"), p("old")); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(p("gone")); err != nil {
		t.Fatal(err)
	}
	// a directory whose parent was never synced
	if err := f.MkdirAll(p("sub/deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeThrough(t, f, p("sub/deeper/file"), []byte("x"), true)
	if err := f.SyncDir(p("sub/deeper")); err != nil {
		t.Fatal(err)
	}
	lock, err := f.Lock(p("LOCK"))
	if err != nil {
		t.Fatal(err)
	}

	if err := f.Crash(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kept":    "durable",
		"empty":   "",
		"old":     "old contents",
		"gone":    "removed, not synced",
		"new":     "<open " + p("new") + ": no such file or directory>",
		"old.tmp": "<open " + p("old.tmp") + ": no such file or directory>",
		"sub":     "<open " + p("sub") + ": no such file or directory>",
	}
	for name, w := range want {
		if got := readOr(p(name)); got != w {
			t.Errorf("%s after crash: %q, want %q", name, got, w)
		}
	}
	if _, err := h.WriteAt([]byte("x"), 0); !errors.Is(err, ErrCrashed) {
		t.Errorf("write after crash: %v", err)
	}
	if _, err := f.OpenFile(p("kept"), os.O_RDONLY, 0); !errors.Is(err, ErrCrashed) {
		t.Errorf("open after crash: %v", err)
	}
	if err := lock.Unlock(); err != nil {
		t.Errorf("Unlock after crash: %v", err)
	}
	// The crash released the lock: a fresh FS can take it.
	l2, err := NewFault(OS, 2).Lock(p("LOCK"))
	if err != nil {
		t.Fatalf("lock after crash: %v", err)
	}
	l2.Unlock()
}

func TestCrashOnDecision(t *testing.T) {
	dir := t.TempDir()
	f := NewFault(OS, 1)
	// Cut the power right after the second sync: the first write is
	// durable, the second too (its sync completed), the third is not.
	f.SetHook(Nth(AnySync, "", 2, Decision{Crash: true}))
	h := writeThrough(t, f, filepath.Join(dir, "f"), []byte("1111"), true)
	if err := f.SyncDir(dir); !errors.Is(err, ErrCrashed) {
		t.Fatalf("the crashing sync returned %v", err)
	}
	if !f.Crashed() {
		t.Fatal("not crashed")
	}
	if _, err := h.WriteAt([]byte("2"), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write after crash: %v", err)
	}
	if got := readOr(filepath.Join(dir, "f")); got != "1111" {
		t.Fatalf("after crash: %q", got)
	}
}

func TestCrashTornKeepsSectorsWhole(t *testing.T) {
	const sector = 512
	for seed := uint64(0); seed < 20; seed++ {
		dir := t.TempDir()
		f := NewFault(OS, seed)
		oldB := bytes.Repeat([]byte{'o'}, 8*sector)
		newB := bytes.Repeat([]byte{'n'}, 8*sector)
		h := writeThrough(t, f, filepath.Join(dir, "f"), oldB, true)
		if err := f.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(newB, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.CrashTorn(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "f"))
		if err != nil || len(got) != len(oldB) {
			t.Fatalf("seed %d: %d bytes, %v", seed, len(got), err)
		}
		for s := 0; s < len(got); s += sector {
			sec := got[s : s+sector]
			if !bytes.Equal(sec, oldB[:sector]) && !bytes.Equal(sec, newB[:sector]) {
				t.Fatalf("seed %d: sector %d is a mix", seed, s/sector)
			}
		}
	}
}

func TestCrashKeepsUntrackedFiles(t *testing.T) {
	dir := t.TempDir()
	f := NewFault(OS, 1)
	writeThrough(t, f, filepath.Join(dir, "tracked"), []byte("t"), true)
	// A file written behind Fault's back (as tidwall writes the WAL).
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wal", "x"), []byte("wal"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Crash(); err != nil {
		t.Fatal(err)
	}
	if got := readOr(filepath.Join(dir, "wal", "x")); got != "wal" {
		t.Fatalf("untracked file after crash: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "tracked")); !os.IsNotExist(err) {
		t.Fatalf("a file whose directory was never synced survived: %v", err)
	}
}

// script does one of every operation of an FS, stopping at the first error.
func script(fsys FS, dir string) error {
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := fsys.MkdirAll(p("d"), 0o755); err != nil {
		return err
	}
	f, err := fsys.OpenFile(p("d/f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	steps := []func() error{
		func() error { return f.Preallocate(0, 4096) },
		func() error { return f.Fadvise(0, 4096, AdviseWillNeed) },
		func() error { _, err := f.WriteAt([]byte("abc"), 10); return err },
		func() error { _, err := f.Write([]byte("xyz")); return err },
		func() error { _, err := f.ReadAt(make([]byte, 3), 10); return err },
		func() error { _, err := f.Stat(); return err },
		func() error { return f.Datasync() },
		func() error { return f.Truncate(100) },
		func() error { return f.Sync() },
		func() error {
			m, err := fsys.Map(f, 100)
			if err == nil {
				fsys.Unmap(m)
			}
			return err
		},
		func() error { return fsys.SyncDir(p("d")) },
		func() error { _, err := fsys.ReadFile(p("d/f")); return err },
		func() error { _, err := fsys.Stat(p("d/f")); return err },
		func() error { _, err := fsys.ReadDir(p("d")); return err },
		func() error { return fsys.Rename(p("d/f"), p("d/g")) },
		func() error {
			l, err := fsys.Lock(p("d/LOCK"))
			if err == nil {
				l.Unlock()
			}
			return err
		},
		func() error { return fsys.Remove(p("d/g")) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Failing each operation of the script in turn fails the script with the
// injected error, in a PathError naming the operation's kind.
func TestFaultEveryKind(t *testing.T) {
	if err := script(OS, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	counter := NewFault(OS, 1)
	if err := script(counter, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	total := counter.Count(AnyKind)
	counts := counter.Counts()
	if len(counts) != 16 {
		t.Fatalf("the script does %d kinds of operation (%v), want all 16", len(counts), counts)
	}
	for i := 1; i <= total; i++ {
		f := NewFault(OS, 1)
		var kind Kind
		f.SetHook(func(ev Event) Decision {
			if ev.Seq == i {
				kind = ev.Kind
				return Decision{Err: syscall.EIO}
			}
			return Decision{}
		})
		err := script(f, t.TempDir())
		var pe *fs.PathError
		if !errors.Is(err, syscall.EIO) || !errors.As(err, &pe) || pe.Op != kind.String() {
			t.Fatalf("operation %d (%v) failed: the script returned %v", i, kind, err)
		}
	}
	if s := (OpWrite | OpSync).String(); s != "write|sync" {
		t.Fatalf("String of a set: %q", s)
	}
}

// PassSyncs passes the syncs on to the base; a crash still rolls back.
func TestFaultPassSyncs(t *testing.T) {
	dir := t.TempDir()
	f := NewFault(OS, 1)
	f.PassSyncs = true
	if err := script(f, dir); err != nil {
		t.Fatal(err)
	}
	if err := f.Crash(); err != nil {
		t.Fatal(err)
	}
	// d's own entry was never synced in dir: it goes with everything in it.
	if _, err := os.Stat(filepath.Join(dir, "d")); !os.IsNotExist(err) {
		t.Fatalf("d after the crash: %v", err)
	}
}

// A file renamed over, then torn by a crash, comes back with its durable
// contents; a file removed comes back whole.
func TestCrashTornBringsBackReplacedFiles(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		dir := t.TempDir()
		f := NewFault(OS, seed)
		h := writeThrough(t, f, filepath.Join(dir, "a"), bytes.Repeat([]byte{'a'}, 2048), true)
		if _, err := h.WriteAt(bytes.Repeat([]byte{'A'}, 1024), 0); err != nil {
			t.Fatal(err)
		}
		h.Close()
		writeThrough(t, f, filepath.Join(dir, "b"), []byte("b"), true).Close()
		if err := f.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		writeThrough(t, f, filepath.Join(dir, "c"), []byte("c"), true).Close()
		if err := f.Rename(filepath.Join(dir, "c"), filepath.Join(dir, "a")); err != nil {
			t.Fatal(err)
		}
		if err := f.Remove(filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if err := f.CrashTorn(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "a"))
		if len(got) != 2048 {
			t.Fatalf("seed %d: a has %d bytes", seed, len(got))
		}
		for s := 0; s < 2048; s += 512 {
			if c := got[s]; (c != 'a' && c != 'A') || !bytes.Equal(got[s:s+512], bytes.Repeat([]byte{c}, 512)) {
				t.Fatalf("seed %d: sector %d of a is torn inside", seed, s/512)
			}
			if s >= 1024 && got[s] != 'a' {
				t.Fatalf("seed %d: sector %d was never rewritten", seed, s/512)
			}
		}
		if got := readOr(filepath.Join(dir, "b")); got != "b" {
			t.Fatalf("seed %d: b = %q", seed, got)
		}
		if _, err := os.Stat(filepath.Join(dir, "c")); !os.IsNotExist(err) {
			t.Fatalf("seed %d: c survived: %v", seed, err)
		}
	}
}

// TestCrashTornWritePastCutEnd: a torn cut that keeps a file at the size
// of an earlier unsynced write undoes a later write past that size (in
// the same sector) by the truncation alone. (Segment format 3 writes its
// blobs past the end of the file; the revert of such a write once built
// a slice of negative length and panicked.)
func TestCrashTornWritePastCutEnd(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		dir := t.TempDir()
		f := NewFault(OS, seed)
		h := writeThrough(t, f, filepath.Join(dir, "f"), bytes.Repeat([]byte{'o'}, 1000), true)
		if err := f.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		// 1000..1540, then 1560..1600: the second starts past the end
		// of the first, in the same 512-byte sector.
		if _, err := h.WriteAt(bytes.Repeat([]byte{'a'}, 540), 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt(bytes.Repeat([]byte{'b'}, 40), 1560); err != nil {
			t.Fatal(err)
		}
		if err := f.CrashTorn(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "f"))
		if err != nil || (len(got) != 1000 && len(got) != 1540 && len(got) != 1600) {
			t.Fatalf("seed %d: %d bytes, %v", seed, len(got), err)
		}
	}
}
