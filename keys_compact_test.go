package memvec

import (
	"fmt"
	"testing"
	"time"
)

// TestKeysPutWakesCompactor: a Put that replaces records of a sealed
// segment deletes their rows as Delete does, and wakes the background
// compactor as Delete does. (Found by TestKeysProperty: a Put appended to
// the active segment did not, so the garbage it left waited for the next
// write that made a new segment, and the property test's wait for the
// compactor timed out.)
func TestKeysPutWakesCompactor(t *testing.T) {
	const dim = 4
	watch := newCompactWatch()
	db, err := openT(t, t.TempDir(), Options{
		Dimension: dim, SegmentBytes: segmentBytesFor(dim, matrixTinyRows),
		CompactionGarbageRatio: matrixGarbageRatio, OnCompact: watch.onCompact,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := func(k string, x float32) Record { return Record{Key: k, Vector: []float32{x, 1, 2, 3}} }
	put := func(recs ...Record) {
		t.Helper()
		if _, err := db.Put(recs); err != nil {
			t.Fatal(err)
		}
	}
	var first []Record
	for i := range 2 * matrixTinyRows {
		first = append(first, rec(fmt.Sprintf("k%d", i), float32(i+1)))
	}
	put(first...)    // two full segments, sealed
	put(rec("x", 1)) // a new active segment
	if due, err := autoCompactionDue(db); err != nil || due {
		t.Fatalf("a compaction is due before the replacing Put (%v): the test's setup is wrong", err)
	}
	put(rec("k0", 9)) // into the active segment; supersedes a row of the first sealed one
	if due, err := autoCompactionDue(db); err != nil || !due {
		t.Fatalf("no compaction due after a quarter of a sealed segment was replaced (%v)", err)
	}
	select {
	case <-watch.wake:
	case <-time.After(10 * time.Second):
		t.Fatal("the background compactor did not run after a Put replaced a quarter of a sealed segment")
	}
	if r, err := db.GetRecord("k0"); err != nil || r.Vector[0] != 9 {
		t.Fatalf("GetRecord(k0) after the compaction = %+v, %v", r, err)
	}
}
