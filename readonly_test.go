package memvec

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// dirDigest hashes every name, mode and byte under dir.
func dirDigest(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// readOnlyStore builds a store with sealed and active segments, deletes in
// the log, a compaction's files, an orphan and a stale MANIFEST.tmp (both
// of which a writable Open removes), closed without a clean Close (so the
// active tail must be recovered).
func readOnlyStore(t *testing.T) (dir string, live map[uint64][]float32) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "s")
	db, err := openT(t, dir, Options{Dimension: 8, SegmentBytes: 4096 + 64*(8*4+4+48), DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	live = map[uint64][]float32{}
	for i := range 4 {
		vecs := unitVecs(50, 8, 50*i)
		ids, err := db.Add(vecs)
		if err != nil {
			t.Fatal(err)
		}
		for j, id := range ids {
			live[id] = vecs[j]
		}
	}
	if _, err := db.Delete([]uint64{1, 2, 3, 70}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2, 3, 70} {
		delete(live, id)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "MANIFEST.tmp"), []byte("stale"), 0o644)
	os.WriteFile(filepath.Join(dir, "000777.seg"), nil, 0o644)
	return dir, live
}

// TestReadOnly: Options.ReadOnly reads everything, refuses every write
// with ErrReadOnly and writes not one byte, not even at Close (issue 10,
// item 7).
func TestReadOnly(t *testing.T) {
	dir, live := readOnlyStore(t)
	before := dirDigest(t, dir)
	db, err := openT(t, dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Live != uint64(len(live)) {
		t.Fatalf("Live %d, want %d", st.Live, len(live))
	}
	for id, v := range live {
		got, err := db.Get(id)
		if err != nil || got[1] != v[1] {
			t.Fatalf("Get(%d) = %v, %v", id, got, err)
		}
	}
	if res, err := db.Search(context.Background(), live[0], SearchOptions{TopK: 1}); err != nil || len(res) != 1 || res[0].ID != 0 {
		t.Fatalf("Search = %v, %v", res, err)
	}
	if err := db.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(unitVecs(1, 8, 0)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Add: %v", err)
	}
	if _, err := db.Delete([]uint64{0}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := db.Compact(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Compact: %v", err)
	}
	if err := db.ReleaseIDMaps(1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("ReleaseIDMaps: %v", err)
	}
	if err := db.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// Readers share the store; a writer waits for them all to go.
	db2, err := openT(t, dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	wantLocked(t, dir, Options{}, "a writer beside readers")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if after := dirDigest(t, dir); after != before {
		t.Fatal("a read-only open changed the directory")
	}
	w, err := openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantLocked(t, dir, Options{ReadOnly: true}, "a reader beside a writer")
	w.Close()
	if _, err := os.Stat(filepath.Join(dir, "000777.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the writable Open kept the orphan: %v", err)
	}
}

// TestReadOnlyCreatesNothing: a read-only Open of a missing or empty
// directory is ErrNotStore and creates nothing.
func TestReadOnlyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := openT(t, dir, Options{Dimension: 4, ReadOnly: true}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("Open: %v; want ErrNotStore", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only Open created %s", dir)
	}
	empty := t.TempDir()
	if _, err := openT(t, empty, Options{Dimension: 4, ReadOnly: true}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("Open of an empty directory: %v; want ErrNotStore", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("a read-only Open wrote %v", entries)
	}
}

// TestReadOnlyMount opens a store on a read-only bind mount (root only):
// ReadOnly works there and a writable Open fails with an error, not a
// panic and not a half-opened store.
func TestReadOnlyMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a read-only bind mount")
	}
	dir, live := readOnlyStore(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "--bind", dir, mnt).CombinedOutput(); err != nil {
		t.Skipf("mount --bind: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("remount ro: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); err == nil {
		t.Skip("the bind mount is writable")
	}
	db, err := openT(t, mnt, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open on read-only media: %v", err)
	}
	if st := db.Stats(); st.Live != uint64(len(live)) {
		t.Fatalf("Live %d, want %d", st.Live, len(live))
	}
	if err := db.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if db, err := openT(t, mnt, Options{}); err == nil {
		db.Close()
		t.Fatal("a writable Open succeeded on read-only media")
	}
}
