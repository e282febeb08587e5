//go:build linux

package memvec

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Options.LockCodes: off by default (nothing locked); on, the first
// search locks the codes of the sealed segments and Stats shows it;
// Open never fails for it.
func TestLockCodes(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil || (unix.Geteuid() != 0 && lim.Cur < 64<<20) {
		t.Skip("this process may not lock memory")
	}
	dir := filepath.Join(t.TempDir(), "s")
	const dim = 32
	db, err := Open(dir, Options{Dimension: dim, SegmentBytes: 64 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	vecs := make([][]float32, 3000)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64())
		}
	}
	if _, err := db.Add(vecs); err != nil {
		t.Fatal(err)
	}
	search := func(db *DB) Stats {
		t.Helper()
		if _, err := db.Search(context.Background(), vecs[7], SearchOptions{TopK: 5}); err != nil {
			t.Fatal(err)
		}
		return db.Stats()
	}
	if st := search(db); st.LockedCodeBytes != 0 {
		t.Fatalf("LockedCodeBytes %d without LockCodes", st.LockedCodeBytes)
	}
	db.Close()
	db, err = Open(dir, Options{LockCodes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st := db.Stats(); st.LockedCodeBytes != 0 {
		t.Fatalf("LockedCodeBytes %d before the first search", st.LockedCodeBytes)
	}
	st := search(db)
	if st.Segments < 3 || st.LockedCodeBytes < st.CodeBytes/2 {
		t.Fatalf("%d segments: %d of %d code bytes locked after a search", st.Segments, st.LockedCodeBytes, st.CodeBytes)
	}
}
