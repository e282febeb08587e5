package main

import (
	"encoding/json"
	"path/filepath"
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

// TestFormatHint: a file whose extension names no format gets a hint
// that names only flags the command takes (export suggested --dim, which
// it rejects; get and search take no raw files at all).
func TestFormatHint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(1, 4, 3)))
	for _, c := range []struct {
		args     []string
		say, not string
	}{
		{[]string{"export", "store", "out.txt"}, "or --raw for raw float32 rows", "--dim"},
		{[]string{"get", "store", "0", "--out", "out.txt"}, "use a .npy or .fvecs file", "--raw"},
		{[]string{"search", "store", "--query", "q.txt"}, "use a .npy or .fvecs file", "--raw"},
		{[]string{"import", "store", "in.txt"}, "or --raw --dim N for raw float32 rows", ""},
	} {
		msg, _, _ := strings.Cut(fails(t, dir, 2, []string{c.say}, c.args...), "\n")
		if c.not != "" && strings.Contains(msg, c.not) {
			t.Errorf("memvec %s: %q suggests %s", strings.Join(c.args, " "), msg, c.not)
		}
	}
	// The hint works: export takes --raw alone.
	ok(t, dir, "export", "store", "out.txt", "--raw")
}

// TestMapsReleaseAboveEpoch: --release of an epoch no compaction has yet
// is a usage error that changes nothing (it reported "released through
// epoch 99" on a store at epoch 1); a release says how many maps it
// dropped.
func TestMapsReleaseAboveEpoch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(2, 20, 4)))
	fails(t, dir, 2, []string{"--release 1: the store is at epoch 0"}, "maps", "store", "--release", "1")
	ok(t, dir, "delete", "store", "3")
	ok(t, dir, "compact", "store")
	stderr := fails(t, dir, 2, []string{"--release 99: the store is at epoch 1"}, "maps", "store", "--release", "99")
	if strings.Contains(stderr, "released") {
		t.Fatalf("refused release says released: %q", stderr)
	}
	if out := ok(t, dir, "maps", "store"); !strings.Contains(out, "epoch 1: ") {
		t.Fatalf("the refused release dropped the map: %q", out)
	}
	if out := ok(t, dir, "maps", "store", "--release", "1"); !strings.Contains(out, "released the ID maps through epoch 1 (1 map)") {
		t.Fatalf("maps --release 1: %q", out)
	}
	if out := ok(t, dir, "maps", "store", "--release", "1"); !strings.Contains(out, "(0 maps)") {
		t.Fatalf("maps --release 1 again: %q", out)
	}
}
