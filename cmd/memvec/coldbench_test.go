package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// coldRes is the part of coldbench's JSON the tests read.
type coldRes struct {
	N, Dim     int
	Command    string
	Cores      int
	Segments   int
	DiskBytes  int64 `json:"disk_bytes"`
	FileBytes  int64 `json:"file_bytes"`
	Dropped    bool
	Reused     bool
	Identical  bool
	RAMBytes   int64   `json:"ram_bytes"`
	GoVersion  string  `json:"go_version"`
	TotalSecs  float64 `json:"total_seconds"`
	WarmReason string  `json:"warm_reason"`
	Phases     []struct {
		Name, Op string
		Calls    int
		MedianMs float64 `json:"median_ms"`
		P90Ms    float64 `json:"p90_ms"`
		Bytes    int64
		Mallocs  uint64
		Note     string
	}
}

// coldArgsTiny runs in well under a second and never drops the page cache
// (the tests may run as root, and the machine is shared).
var coldArgsTiny = []string{"--n", "3000", "--dim", "32", "--segment-bytes", "65536", "--gets", "10", "--in", "50", "--searches", "3", "--drop=false"}

// TestColdBench runs a tiny coldbench: every phase is reported, Search
// equals Exhaustive, and without --keep the store is gone afterwards.
func TestColdBench(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	var res coldRes
	okJSON(t, dir, &res, append([]string{"coldbench", store}, coldArgsTiny...)...)
	if res.N != 3000 || res.Dim != 32 || res.Dropped || res.Reused || !res.Identical || res.Cores <= 0 || res.Segments < 2 ||
		res.DiskBytes <= 0 || res.FileBytes <= 0 || !strings.Contains(res.Command, "coldbench "+store) {
		t.Fatalf("coldbench: %+v", res)
	}
	want := []string{"build", "open", "heap", "get", "search_in", "first_search", "search", "alloc", "exhaustive"}
	if len(res.Phases) != len(want) {
		t.Fatalf("phases: %+v", res.Phases)
	}
	for i, p := range res.Phases {
		if p.Name != want[i] || p.Calls <= 0 || (p.MedianMs <= 0 && p.Bytes <= 0) {
			t.Errorf("phase %d: %+v, want %s", i, p, want[i])
		}
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("store left behind without --keep: %v", err)
	}
	out := ok(t, dir, append([]string{"coldbench", store, "--exhaustive", "0"}, coldArgsTiny...)...)
	for _, s := range []string{"cold Open", "heap in use after Open", "cold Get", "SearchIn of 50", "first Search", "later Searches",
		"allocation per Search", "skipped", "page cache NOT dropped (--drop=false)", "cores", "command: "} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

// TestColdBenchReuse: --keep keeps the store, a second run reuses it
// (no build), and a store of another shape is refused and left alone.
func TestColdBenchReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	var res coldRes
	okJSON(t, dir, &res, append([]string{"coldbench", store, "--keep"}, coldArgsTiny...)...)
	if res.Reused {
		t.Fatalf("first run reused: %+v", res)
	}
	okJSON(t, dir, &res, append([]string{"coldbench", store, "--keep"}, coldArgsTiny...)...)
	if !res.Reused || res.Phases[0].Name != "open" || !res.Identical {
		t.Fatalf("second run: %+v", res)
	}
	fails(t, dir, 1, []string{"holds a store of 3000 vectors", "not 2000 x 32"},
		append([]string{"coldbench", store}, append(coldArgsTiny, "--n", "2000")...)...)
	ok(t, dir, "stats", store)
	// Without --keep the reused store is removed at the end.
	okJSON(t, dir, &res, append([]string{"coldbench", store}, coldArgsTiny...)...)
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("store left behind without --keep: %v", err)
	}
}
