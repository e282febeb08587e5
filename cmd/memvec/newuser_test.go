package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Bugs a new user met (issue 11), one test each.

// TestBenchFloor: the floor bench reports is the faster of a heap and a
// mapped read, as BenchmarkSearchVsFloor takes it, and the JSON says
// which one and gives both (it read the heap only, and printed a floor
// slower than the search).
func TestBenchFloor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var res struct {
		Floor struct {
			Source   string
			HeapMs   float64 `json:"heap_ms"`
			MappedMs float64 `json:"mapped_ms"`
		}
		Rows []struct {
			Name     string
			Op       string
			MedianMs float64 `json:"median_ms"`
			VsFloor  float64 `json:"vs_floor"`
		}
	}
	r := runCLI(t, dir, "bench", "--n", "3000", "--dim", "32", "--queries", "6", "--batch", "4", "--in", "50", "--dir", dir, "--json")
	if r.code != 0 {
		t.Fatalf("bench: exit %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, r.stdout)
	}
	f := res.Floor
	if f.HeapMs <= 0 || f.MappedMs <= 0 {
		t.Fatalf("floor figures: %+v", f)
	}
	want, source := f.HeapMs, "heap"
	if f.MappedMs < f.HeapMs {
		want, source = f.MappedMs, "mapped"
	}
	fl := res.Rows[0]
	if fl.Name != "floor" || fl.MedianMs != want || f.Source != source || !strings.Contains(fl.Op, "("+source+")") {
		t.Fatalf("floor row %+v from %+v: want median %v from %s", fl, f, want, source)
	}
	out := ok(t, dir, "bench", "--n", "500", "--dim", "8", "--queries", "2", "--dir", dir)
	if !strings.Contains(out, "faster of a read from the heap") {
		t.Errorf("bench does not say how the floor was taken:\n%s", out)
	}
}
