//go:build linux

package memvec

import (
	"math/rand"
	"path/filepath"
	"testing"
)

// Stats.DiskBytes counts the blocks the files take, not their sizes: a
// store of 5 vectors in a 64 MiB segment (sparse) reports what du does,
// within the lock file and directories it leaves out.
func TestStatsDiskBytesAllocated(t *testing.T) {
	const dim = 512
	dir := filepath.Join(t.TempDir(), "s")
	db, err := openT(t, dir, Options{Dimension: dim, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Add(randVecs(rand.New(rand.NewSource(5)), 5, dim)); err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	if du := diskUsage(t, dir); st.DiskBytes > 512<<10 || st.DiskBytes > du {
		t.Fatalf("5 vectors: Stats.DiskBytes %d (du %d)", st.DiskBytes, du)
	}
	if st.DiskBytes < st.WALBytes+4096 {
		t.Fatalf("Stats.DiskBytes %d leaves out the segment", st.DiskBytes)
	}
}
