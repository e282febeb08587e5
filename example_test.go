package memvec_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/memvec/memvec"
)

func Example() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)

	db, err := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 3})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := db.Add([][]float32{{1, 0, 0}, {0.9, 0.1, 0}, {0, 0, 1}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added", ids)

	res, err := db.Search(context.Background(), []float32{1, 0, 0}, memvec.SearchOptions{TopK: 2})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Printf("id %d score %.3f\n", r.ID, r.Score)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// added [0 1 2]
	// id 0 score 1.000
	// id 1 score 0.994
}

// Example_quickStart runs the README's quick start: IDs move only when
// the application compacts, it applies each map to the IDs it keeps and
// saves the map's epoch with them, and after a restart it catches up
// with the maps it had not applied.
func Example_quickStart() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "vectors.db")
	ctx := context.Background()

	// The application's own data under the store's IDs, and the epoch of
	// the last map applied to it, saved together in one write (here, in
	// memory).
	names := map[uint64]string{}
	var lastEpochApplied uint64
	applyAndSave := func(m memvec.IDMap) {
		moved := map[uint64]string{}
		for old, name := range names {
			if newID, ok := m.Lookup(old); ok {
				moved[newID] = name
			} else {
				moved[old] = name // not in a compacted segment: unchanged
			}
		}
		names, lastEpochApplied = moved, m.Epoch
	}

	db, err := memvec.Open(path, memvec.Options{Dimension: 3, DisableAutoCompaction: true})
	if err != nil {
		log.Fatal(err)
	}
	ids, _ := db.Add([][]float32{{1, 0, 0}, {0.9, 0.1, 0}, {0, 0, 1}})
	names[ids[0]], names[ids[1]], names[ids[2]] = "a", "b", "c"
	res, _ := db.Search(ctx, []float32{1, 0, 0}, memvec.SearchOptions{TopK: 10})
	fmt.Println("search:", res[0].ID, res[1].ID)
	res, _ = db.SearchIn(ctx, []float32{1, 0, 0}, []uint64{ids[2]}, memvec.SearchOptions{TopK: 5, MinScore: -1})
	fmt.Println("search in:", res[0].ID)
	v, _ := db.Get(ids[0])
	n, _ := db.Delete([]uint64{ids[0]})
	delete(names, ids[0])
	st := db.Stats()
	fmt.Println("get:", v, "deleted:", n, "live:", st.Live)

	m, err := db.Compact(ctx)
	if err != nil {
		log.Fatal(err)
	}
	newID, moved := m.Lookup(ids[1])
	fmt.Println("compaction", m.Epoch, "moved", ids[1], "to", newID, moved)
	applyAndSave(m)
	if err := db.ReleaseIDMaps(m.Epoch); err != nil {
		log.Fatal(err)
	}
	fmt.Println("names:", names, "epoch applied:", lastEpochApplied)

	// A second compaction, and the application stops before applying it.
	db.Delete([]uint64{newID})
	delete(names, newID)
	db.Compact(ctx)
	db.Close()

	db, err = memvec.Open(path, memvec.Options{DisableAutoCompaction: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for round := 0; round < 2; round++ { // the second time, no map is pending
		maps, err := db.IDMapsSince(lastEpochApplied)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range maps {
			applyAndSave(m)
		}
		if err := db.ReleaseIDMaps(lastEpochApplied); err != nil {
			log.Fatal(err)
		}
		fmt.Println("caught up with", len(maps), "maps:", names, "epoch applied:", lastEpochApplied)
	}
	// Output:
	// search: 0 1
	// search in: 2
	// get: [1 0 0] deleted: 1 live: 2
	// compaction 1 moved 1 to 3 true
	// names: map[3:b 4:c] epoch applied: 1
	// caught up with 1 maps: map[5:c] epoch applied: 2
	// caught up with 0 maps: map[5:c] epoch applied: 2
}

func ExampleDB_SearchIn() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	db, err := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Add([][]float32{{1, 0}, {0.7, 0.7}, {0, 1}})
	// Only IDs 1 and 2 compete; 7 does not exist and is ignored.
	res, _ := db.SearchIn(context.Background(), []float32{1, 0}, []uint64{1, 2, 7}, memvec.SearchOptions{MinScore: -1})
	for _, r := range res {
		fmt.Printf("id %d score %.3f\n", r.ID, r.Score)
	}
	// Output:
	// id 1 score 0.707
	// id 2 score 0.000
}

func ExampleDB_Delete() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "store")
	db, _ := memvec.Open(path, memvec.Options{Dimension: 2})
	db.Add([][]float32{{1, 0}, {0, 1}})
	n, _ := db.Delete([]uint64{0, 0, 42})
	fmt.Println("deleted", n)
	db.Close()

	// Reopen: Dimension 0 means "use the stored one"; the delete survived.
	db, _ = memvec.Open(path, memvec.Options{})
	defer db.Close()
	_, err := db.Get(0)
	fmt.Println(err != nil, db.Stats().Live)
	// Output:
	// deleted 1
	// true 1
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "store")

	// Creating a store needs its dimension.
	db, err := memvec.Open(path, memvec.Options{Dimension: 4})
	if err != nil {
		log.Fatal(err)
	}
	ids, _ := db.Add([][]float32{{1, 2, 3, 4}, {4, 3, 2, 1}})
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopening (after a clean Close or a crash): Dimension 0 means "the
	// stored one"; every acknowledged write is there.
	db, err = memvec.Open(path, memvec.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	v, _ := db.Get(ids[1])
	st := db.Stats()
	fmt.Println("dimension", db.Dimension(), "live", st.Live, "vector", v)
	// Output:
	// dimension 4 live 2 vector [4 3 2 1]
}

func ExampleDB_Compact() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := memvec.Open(filepath.Join(dir, "store"), memvec.Options{
		Dimension:             2,
		DisableAutoCompaction: true, // IDs move only when we call Compact
	})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ids, _ := db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}, {1, 2}})
	// The application keeps its own data under the store's IDs.
	names := map[uint64]string{ids[0]: "a", ids[1]: "b", ids[2]: "c", ids[3]: "d"}

	db.Delete([]uint64{ids[1]})
	fmt.Println("reclaimable bytes:", db.Stats().ReclaimableBytes)

	m, err := db.Compact(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Live vectors moved to fresh IDs; apply the map to the application's
	// data, then tell the store the map may be dropped.
	moved := map[uint64]string{}
	for old, name := range names {
		if newID, ok := m.Lookup(old); ok {
			moved[newID] = name
		}
	}
	fmt.Println("epoch", m.Epoch, "runs", m.Runs)
	fmt.Println(moved)
	if err := db.ReleaseIDMaps(m.Epoch); err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted after compaction:", db.Stats().Deleted)
	// Output:
	// reclaimable bytes: 12
	// epoch 1 runs [{0 4 1} {2 5 2}]
	// map[4:a 5:c 6:d]
	// deleted after compaction: 0
}

func ExampleDB_IDMapsSince() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "store")
	db, _ := memvec.Open(path, memvec.Options{Dimension: 2, DisableAutoCompaction: true})
	db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}})
	db.Delete([]uint64{0})
	db.Compact(context.Background())
	db.Close() // say the application stopped before applying the map

	// On restart it catches up with every map newer than the last epoch
	// it applied (here none: 0), oldest first.
	db, _ = memvec.Open(path, memvec.Options{})
	defer db.Close()
	maps, err := db.IDMapsSince(0)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range maps {
		newID, _ := m.Lookup(2)
		fmt.Println("epoch", m.Epoch, "moves ID 2 to", newID)
	}
	if len(maps) > 0 { // maps[len(maps)-1] panics when no map is pending
		db.ReleaseIDMaps(maps[len(maps)-1].Epoch)
	}
	maps, _ = db.IDMapsSince(0)
	fmt.Println(len(maps), "maps left")
	// Output:
	// epoch 1 moves ID 2 to 4
	// 0 maps left
}

func ExampleDB_SearchBatch() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	db, _ := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 2})
	defer db.Close()
	db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}})
	// One pass over the data for both queries; results[i] is exactly
	// Search(queries[i]).
	results, _ := db.SearchBatch(context.Background(), [][]float32{{1, 0.1}, {0.1, 1}}, memvec.SearchOptions{TopK: 1})
	for i, res := range results {
		fmt.Printf("query %d: id %d score %.3f\n", i, res[0].ID, res[0].Score)
	}
	// Output:
	// query 0: id 0 score 0.995
	// query 1: id 1 score 0.995
}

func ExampleDB_Range() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	db, _ := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 2})
	defer db.Close()
	db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}})
	db.Delete([]uint64{1})
	// Every live vector, by ascending ID, from one snapshot. vec is only
	// valid during the call: copy it to keep it.
	err := db.Range(context.Background(), func(id uint64, vec []float32) error {
		fmt.Println(id, vec)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 0 [1 0]
	// 2 [1 1]
}

func ExampleDB_SegmentInfo() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	db, _ := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 2})
	defer db.Close()
	db.Add([][]float32{{1, 0}, {0, 1}, {1, 1}})
	db.Delete([]uint64{1})
	segs, err := db.SegmentInfo()
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range segs {
		fmt.Printf("segment %d: IDs %d-%d, %d rows, %d deleted, sealed %v\n",
			s.Number, s.FirstID, s.LastID, s.Rows, s.Deleted, s.Sealed)
	}
	// Output:
	// segment 0: IDs 0-2, 3 rows, 1 deleted, sealed false
}

// ExampleDB_Put names records with the application's own keys: Put inserts
// or replaces by key, and keys stay with their records through every
// compaction.
func ExampleDB_Put() {
	dir, _ := os.MkdirTemp("", "memvec-example-")
	defer os.RemoveAll(dir)
	db, err := memvec.Open(filepath.Join(dir, "store"), memvec.Options{Dimension: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Put([]memvec.Record{
		{Key: "east", Vector: []float32{1, 0}, Payload: []byte("first")},
		{Key: "north", Vector: []float32{0, 1}},
	}); err != nil {
		log.Fatal(err)
	}
	// Replacing a key deletes its old row in the same durable step.
	if _, err := db.Put([]memvec.Record{{Key: "east", Vector: []float32{1, 0.1}, Payload: []byte("second")}}); err != nil {
		log.Fatal(err)
	}
	if _, err := db.Compact(context.Background()); err != nil {
		log.Fatal(err)
	}
	r, err := db.GetRecord("east")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %v %s\n", r.Key, r.Vector, r.Payload)
	res, err := db.Search(context.Background(), []float32{0, 1}, memvec.SearchOptions{TopK: 1, WithPayload: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("nearest to north: %s (payload %q)\n", res[0].Key, res[0].Payload)
	fmt.Println("live:", db.Stats().Live)
	// Output:
	// east: [1 0.1] second
	// nearest to north: north (payload "")
	// live: 2
}
