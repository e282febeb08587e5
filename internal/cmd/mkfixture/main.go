// Command mkfixture writes a small store with the current code, for the
// format-compatibility tests: every later build must open, read, write and
// compact the stores earlier builds wrote (see testdata/README.md).
//
//	go run ./internal/cmd/mkfixture -out testdata/store-v1
//
// The store has sealed segments, an active segment with a tail, deletes in
// the tombstone log both before and after a compaction (so a tombstone
// checkpoint and an ID-map file exist), records with keys (some with
// payloads, one replaced, one deleted by key) in sealed segments and in
// the active one beside rows without keys, and it is closed cleanly.
// Beside it, expect.json lists every live ID with its vector, and every
// live record with its key, ID, vector and payload.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/memvec/memvec"
)

// Vector returns the i-th vector the fixture adds (dimension 8).
func vector(i int) []float32 {
	v := make([]float32, 8)
	for j := range v {
		v[j] = float32(math.Sin(float64(i*8+j+1))) + 0.01*float32(j)
	}
	return v
}

func main() {
	out := flag.String("out", "", "directory to create (must not exist)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if _, err := os.Stat(*out); err == nil {
		log.Fatalf("%s exists", *out)
	}
	dir := filepath.Join(*out, "store")
	db, err := memvec.Open(dir, memvec.Options{Dimension: 8, SegmentBytes: 4096 + 20*(8*4+4+48), DisableAutoCompaction: true})
	if err != nil {
		log.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	live := map[uint64][]float32{}
	n := 0
	add := func(k int) {
		batch := make([][]float32, k)
		for i := range batch {
			batch[i] = vector(n)
			n++
		}
		ids, err := db.Add(batch)
		must(err)
		for i, id := range ids {
			live[id] = batch[i]
		}
	}
	del := func(ids ...uint64) {
		_, err := db.Delete(ids)
		must(err)
		for _, id := range ids {
			delete(live, id)
		}
	}
	for range 5 {
		add(13)
	}
	del(0, 1, 2, 3, 4, 5, 6, 7, 20, 21)
	m, err := db.Compact(context.Background())
	must(err)
	moved := map[uint64][]float32{}
	for id, v := range live {
		if nid, ok := m.Lookup(id); ok {
			moved[nid] = v
		} else {
			moved[id] = v
		}
	}
	live = moved
	add(7)
	add(3)
	var some []uint64
	for id := range live {
		if id%5 == 0 {
			some = append(some, id)
		}
	}
	del(some...)

	// Records with keys: a batch that fills segments (sealed with their
	// key tables), a replacement and a new key, a delete by key, and rows
	// without keys after them in the active segment.
	type record struct {
		Key     string    `json:"key"`
		ID      uint64    `json:"id"`
		Vector  []float32 `json:"vector"`
		Payload []byte    `json:"payload,omitempty"`
	}
	records := map[string]record{}
	put := func(recs []memvec.Record) {
		ids, err := db.Put(recs)
		must(err)
		for i, r := range recs {
			if old, ok := records[r.Key]; ok {
				delete(live, old.ID)
			}
			records[r.Key] = record{Key: r.Key, ID: ids[i], Vector: r.Vector, Payload: r.Payload}
			live[ids[i]] = r.Vector
		}
	}
	rec := func(k int) memvec.Record {
		r := memvec.Record{Key: fmt.Sprintf("fx-%d", k), Vector: vector(n)}
		n++
		if k%2 == 0 {
			r.Payload = []byte(fmt.Sprintf("payload of fx-%d", k))
		}
		return r
	}
	var batch []memvec.Record
	for k := range 20 {
		batch = append(batch, rec(k))
	}
	put(batch)
	put([]memvec.Record{rec(1), rec(17), rec(20)})
	_, err = db.DeleteKeys([]string{"fx-3"})
	must(err)
	delete(live, records["fx-3"].ID)
	delete(records, "fx-3")
	add(2)
	must(db.Close())

	type row struct {
		ID     uint64    `json:"id"`
		Vector []float32 `json:"vector"`
	}
	var rows []row
	for id, v := range live {
		rows = append(rows, row{id, v})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.ID, b.ID) })
	var recs []record
	for _, r := range records {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b record) int { return strings.Compare(a.Key, b.Key) })
	b, err := json.MarshalIndent(map[string]any{"dimension": 8, "live": rows, "records": recs}, "", " ")
	must(err)
	must(os.WriteFile(filepath.Join(*out, "expect.json"), b, 0o644))
	fmt.Printf("%s: %d live vectors, %d records\n", dir, len(live), len(records))
}
