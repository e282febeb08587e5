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
