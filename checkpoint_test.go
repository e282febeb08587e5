package memvec

import (
	"testing"
)

// TestTombstoneCheckpointWithoutCompaction: with auto-compaction off, a
// long run of single deletes must not grow the tombstone log (and Open's
// replay) without bound: the engine folds it into a checkpoint file once
// it passes about 1 MiB (issue 10, item 10).
func TestTombstoneCheckpointWithoutCompaction(t *testing.T) {
	dir := t.TempDir()
	const n = 40_000 // ~42 bytes of log each: 1.7 MB without checkpoints
	db, err := openT(t, dir, Options{Dimension: 2, NoSync: true, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = []float32{1, float32(i)}
	}
	ids, err := db.Add(vecs)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:n-10] {
		if k, err := db.Delete([]uint64{id}); err != nil || k != 1 {
			t.Fatalf("Delete(%d) = %d, %v", id, k, err)
		}
	}
	if st := db.Stats(); st.WALBytes > 3<<19 || st.Live != 10 {
		t.Fatalf("after %d deletes: WALBytes %d (want < 1.5 MiB), Live %d", n-10, st.WALBytes, st.Live)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = openT(t, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st := db.Stats(); st.Live != 10 || st.Deleted != n-10 {
		t.Fatalf("reopened: %+v", st)
	}
	for _, id := range ids[n-10:] {
		if _, err := db.Get(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Get(ids[0]); err == nil {
		t.Fatal("a deleted ID is back")
	}
}
