package memvec

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestSearchInKeysAndRangeRecords: SearchInKeys searches only the records
// of its keys (absent ones ignored, bad ones refused), and RangeRecords
// gives every live row with its key and payload, rows added without a key
// included, in ID order.
func TestSearchInKeysAndRangeRecords(t *testing.T) {
	db, err := openT(t, filepath.Join(t.TempDir(), "s"), Options{Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Put([]Record{
		{Key: "east", Vector: []float32{1, 0}, Payload: []byte("E")},
		{Key: "north", Vector: []float32{0, 1}},
		{Key: "west", Vector: []float32{-1, 0}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add([][]float32{{1, 0.01}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteKeys([]string{"west"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := db.SearchInKeys(ctx, []float32{1, 0}, []string{"north", "west", "absent", "north"}, SearchOptions{MinScore: -1})
	if err != nil || len(res) != 1 || res[0].Key != "north" {
		t.Fatalf("SearchInKeys = %+v, %v; want north alone", res, err)
	}
	res, err = db.SearchInKeys(ctx, []float32{1, 0}, []string{"east"}, SearchOptions{WithPayload: true})
	if err != nil || len(res) != 1 || res[0].Key != "east" || string(res[0].Payload) != "E" {
		t.Fatalf("SearchInKeys with payload = %+v, %v", res, err)
	}
	if _, err := db.SearchInKeys(ctx, []float32{1, 0}, []string{""}, SearchOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SearchInKeys of an empty key: %v, want ErrInvalidArgument", err)
	}
	type row struct {
		id      uint64
		key     string
		payload string
		vec     []float32
	}
	var got []row
	if err := db.RangeRecords(ctx, func(r Record) error {
		got = append(got, row{r.ID, r.Key, string(r.Payload), slices.Clone(r.Vector)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []row{{0, "east", "E", []float32{1, 0}}, {1, "north", "", []float32{0, 1}}, {3, "", "", []float32{1, 0.01}}}
	if len(got) != len(want) {
		t.Fatalf("RangeRecords gave %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].id != want[i].id || got[i].key != want[i].key || got[i].payload != want[i].payload || !slices.Equal(got[i].vec, want[i].vec) {
			t.Fatalf("RangeRecords row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	stop := errors.New("stop")
	if err := db.RangeRecords(ctx, func(Record) error { return stop }); err != stop {
		t.Fatalf("RangeRecords returned %v, want fn's error as is", err)
	}
}
