package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	memvecdb "github.com/memvec/memvec"
	"github.com/memvec/memvec/internal/memvectest"
)

// searchOut is search's --json output; the keys and payloads are there
// for keyed records (keys_test.go).
type searchOut struct {
	K        int     `json:"k"`
	MinScore float32 `json:"min_score"`
	Seconds  float64 `json:"seconds"`
	Queries  []struct {
		Query    int     `json:"query"`
		QueryID  *uint64 `json:"query_id"`
		QueryKey *string `json:"query_key"`
		Results  []struct {
			ID            uint64  `json:"id"`
			Score         float32 `json:"score"`
			Key           string  `json:"key"`
			KeyBase64     string  `json:"key_base64"`
			Payload       string  `json:"payload"`
			PayloadBase64 string  `json:"payload_base64"`
		} `json:"results"`
	} `json:"queries"`
}

type statsOut struct {
	Store            string `json:"store"`
	Dimension        int    `json:"dimension"`
	Total            uint64 `json:"total"`
	Live             uint64 `json:"live"`
	Deleted          uint64 `json:"deleted"`
	Segments         int    `json:"segments"`
	DiskBytes        int64  `json:"disk_bytes"`
	ReclaimableBytes int64  `json:"reclaimable_bytes"`
	WALBytes         int64  `json:"wal_bytes"`
	CodeBytes        int64  `json:"code_bytes"`
	Epoch            uint64 `json:"epoch"`
	NextID           uint64 `json:"next_id"`
	SegmentFiles     []struct {
		Number   uint64 `json:"number"`
		FirstID  uint64 `json:"first_id"`
		LastID   uint64 `json:"last_id"`
		Runs     int    `json:"runs"`
		Rows     uint64 `json:"rows"`
		Deleted  uint64 `json:"deleted"`
		Capacity uint64 `json:"capacity"`
		Sealed   bool   `json:"sealed"`
		Bytes    int64  `json:"bytes"`
	} `json:"segment_files"`
}

// statsOf runs stats --json on store.
func statsOf(t *testing.T, dir, store string) statsOut {
	t.Helper()
	var st statsOut
	okJSON(t, dir, &st, "stats", store)
	return st
}

type mapOut struct {
	Epoch uint64 `json:"epoch"`
	Moved uint64 `json:"moved"`
	Runs  []struct {
		Old uint64 `json:"old"`
		New uint64 `json:"new"`
		Len uint64 `json:"len"`
	} `json:"runs"`
}

func (m mapOut) lookup(old uint64) (uint64, bool) {
	for _, r := range m.Runs {
		if old >= r.Old && old < r.Old+r.Len {
			return r.New + old - r.Old, true
		}
	}
	return 0, false
}

// TestSearch compares search's results with a float64 brute force.
func TestSearch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, dim = 400, 16
	rows := randRows(6, n, dim)
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), rows))
	queries := randRows(7, 3, dim)
	writeNpy32(t, filepath.Join(dir, "q.npy"), queries)
	writeFile(t, filepath.Join(dir, "in.txt"), []byte("# candidates\n1, 2 3\n5\n7\n11 13 17 19 23\n9999\n"))
	in := []uint64{1, 2, 3, 5, 7, 11, 13, 17, 19, 23}

	check := func(res searchOut, q []float32, k int, minScore float64, cands []uint64) {
		t.Helper()
		type hit struct {
			id uint64
			s  float64
		}
		var want []hit
		for id, r := range rows {
			if cands != nil && !slices.Contains(cands, uint64(id)) {
				continue
			}
			if s := memvectest.Cosine64(q, r); s >= minScore {
				want = append(want, hit{uint64(id), s})
			}
		}
		sort.Slice(want, func(a, b int) bool { return want[a].s > want[b].s })
		want = want[:min(k, len(want))]
		var got []hit
		for _, r := range res.Queries[0].Results {
			got = append(got, hit{r.ID, float64(r.Score)})
		}
		if len(got) != len(want) {
			t.Fatalf("%d results, want %d: %+v", len(got), len(want), got)
		}
		// Scores match rank by rank, and each is its ID's true score; IDs
		// may differ only where scores tie within float32 rounding.
		for i := range want {
			if math.Abs(got[i].s-want[i].s) > 1e-5 || math.Abs(got[i].s-memvectest.Cosine64(q, rows[got[i].id])) > 1e-5 ||
				(got[i].id != want[i].id && math.Abs(got[i].s-want[i].s) > 1e-6) {
				t.Fatalf("result %d: %+v, want %+v", i, got[i], want[i])
			}
			if cands != nil && !slices.Contains(cands, got[i].id) {
				t.Fatalf("result %d: ID %d is not a candidate", i, got[i].id)
			}
		}
	}

	var res searchOut
	okJSON(t, dir, &res, "search", "store", "--query", "q.npy", "-k", "7")
	if len(res.Queries) != 3 || res.K != 7 {
		t.Fatalf("%d queries, k %d", len(res.Queries), res.K)
	}
	for i, q := range queries {
		one := res
		one.Queries = res.Queries[i : i+1]
		check(one, q, 7, 0, nil)
	}
	okJSON(t, dir, &res, "search", "store", "--id", "42", "-k", "5", "--min-score", "-1")
	if res.Queries[0].QueryID == nil || *res.Queries[0].QueryID != 42 || res.Queries[0].Results[0].ID != 42 {
		t.Fatalf("search --id 42: %+v", res)
	}
	check(res, rows[42], 5, -1, nil)
	okJSON(t, dir, &res, "search", "store", "--query", "q.npy", "--in", "in.txt", "-k", "4", "--min-score", "-1")
	check(res, queries[0], 4, -1, in)
	okJSON(t, dir, &res, "search", "store", "--id", "3", "--min-score", "0.3")
	check(res, rows[3], 10, 0.3, nil)

	// The text form: a header and one line per result.
	out := ok(t, dir, "search", "store", "--id", "42", "-k", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "rank") || strings.Fields(lines[1])[1] != "42" {
		t.Fatalf("search text output:\n%s", out)
	}
	// Flags may come before the store; "--" ends them.
	ok(t, dir, "search", "-k", "2", "--id", "1", "--", "store")

	fails(t, dir, 1, []string{"id 9999", "not found"}, "search", "store", "--id", "9999")
	writeNpy32(t, filepath.Join(dir, "q5.npy"), randRows(8, 1, 5))
	fails(t, dir, 1, []string{"dimension"}, "search", "store", "--query", "q5.npy")
	fails(t, dir, 2, []string{"exactly one of --query"}, "search", "store")
	fails(t, dir, 2, []string{"exactly one of --query"}, "search", "store", "--id", "1", "--query", "q.npy")
	fails(t, dir, 2, []string{"-k must be positive"}, "search", "store", "--id", "1", "-k", "0")
	fails(t, dir, 2, []string{"bad ID"}, "search", "store", "--id", "x")
}

// TestDeleteCompactMaps deletes, compacts with a map file, checks that the
// map says where every live vector went, then lists and releases maps.
func TestDeleteCompactMaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, dim = 600, 8
	rows := randRows(9, n, dim)
	// Small segments: several files, so the compaction leaves some alone.
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), rows), "--segment-bytes", "8192", "--batch", "50")

	var del struct{ Requested, Deleted int }
	okJSON(t, dir, &del, "delete", "store", "1", "2", "2", "700")
	if del.Requested != 4 || del.Deleted != 2 {
		t.Fatalf("delete: %+v", del)
	}
	writeFile(t, filepath.Join(dir, "del.txt"), []byte("10\n11\n12\n1\n"))
	if out := ok(t, dir, "delete", "store", "--from", "del.txt"); !strings.Contains(out, "deleted 3 of 4") {
		t.Fatalf("delete --from: %q", out)
	}
	var st statsOut
	okJSON(t, dir, &st, "stats", "store")
	if st.Deleted != 5 || st.Live != n-5 || st.Total != n || st.Epoch != 0 || st.ReclaimableBytes != 5*(dim*4+4) {
		t.Fatalf("stats: %+v", st)
	}

	var res struct {
		Store            string  `json:"store"`
		Compacted        bool    `json:"compacted"`
		ReclaimedBytes   int64   `json:"reclaimed_bytes"`
		DiskBytesBefore  int64   `json:"disk_bytes_before"`
		DiskBytesAfter   int64   `json:"disk_bytes_after"`
		SegmentsBefore   int     `json:"segments_before"`
		SegmentsAfter    int     `json:"segments_after"`
		Seconds          float64 `json:"seconds"`
		MapFile          string  `json:"map_file"`
		Map              mapOut  `json:"map"`
		DeletedRemaining uint64  `json:"deleted_remaining"`
	}
	okJSON(t, dir, &res, "compact", "store", "--map-out", "map.json")
	if !res.Compacted || res.Map.Epoch != 1 || res.DeletedRemaining != 0 || len(res.Map.Runs) == 0 {
		t.Fatalf("compact: %+v", res)
	}
	var file mapOut
	b, _ := os.ReadFile(filepath.Join(dir, "map.json"))
	if err := json.Unmarshal(b, &file); err != nil || file.Epoch != 1 || len(file.Runs) != len(res.Map.Runs) {
		t.Fatalf("map.json: %v %s", err, b)
	}
	// Every live vector is where the map says; the rest did not move.
	deleted := map[uint64]bool{1: true, 2: true, 10: true, 11: true, 12: true}
	var moved uint64
	for old := uint64(0); old < n; old++ {
		if deleted[old] {
			continue
		}
		id := old
		if newID, ok := res.Map.lookup(old); ok {
			id = newID
			moved++
		}
		if old%37 != 0 && !(old >= 9 && old <= 13) {
			continue
		}
		line := ok(t, dir, "get", "store", strconv.FormatUint(id, 10))
		if f := strings.Fields(line); len(f) != dim+1 || f[1] != strconv.FormatFloat(float64(rows[old][0]), 'g', -1, 32) {
			t.Fatalf("old ID %d at %d: %q", old, id, line)
		}
	}
	if moved != res.Map.Moved || moved == 0 || moved >= n-5 {
		t.Fatalf("%d IDs moved, map says %d", moved, res.Map.Moved)
	}
	fails(t, dir, 1, []string{"not found"}, "get", "store", "0")

	// CSV map of a compaction with nothing to do: the header only.
	out := ok(t, dir, "compact", "store", "--map-out", "map.csv")
	if !strings.Contains(out, "nothing to compact") {
		t.Fatalf("second compact: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "map.csv")); string(b) != "old,new,len\n" {
		t.Fatalf("empty map.csv: %q", b)
	}
	ok(t, dir, "delete", "store", fmt.Sprint(res.Map.Runs[0].New))
	ok(t, dir, "compact", "store", "--map-out", "map2.csv")
	b, _ = os.ReadFile(filepath.Join(dir, "map2.csv"))
	csv := strings.Split(strings.TrimSpace(string(b)), "\n")
	if csv[0] != "old,new,len" || len(csv) < 2 || len(strings.Split(csv[1], ",")) != 3 {
		t.Fatalf("map2.csv: %q", b)
	}

	var maps struct {
		Maps     []mapOut `json:"maps"`
		Released *uint64  `json:"released_through"`
	}
	okJSON(t, dir, &maps, "maps", "store")
	if len(maps.Maps) != 2 || maps.Maps[0].Epoch != 1 || maps.Maps[1].Epoch != 2 || maps.Released != nil {
		t.Fatalf("maps: %+v", maps)
	}
	okJSON(t, dir, &maps, "maps", "store", "--since", "1")
	if len(maps.Maps) != 1 || maps.Maps[0].Epoch != 2 {
		t.Fatalf("maps --since 1: %+v", maps)
	}
	text := ok(t, dir, "maps", "store", "-v")
	if !strings.Contains(text, "epoch 1: ") || !strings.Contains(text, " -> ") {
		t.Fatalf("maps -v: %q", text)
	}
	if out := ok(t, dir, "maps", "store", "--release", "1"); !strings.Contains(out, "released the ID maps through epoch 1") || strings.Contains(out, "epoch 2:") {
		t.Fatalf("maps --release 1: %q", out)
	}
	okJSON(t, dir, &maps, "maps", "store")
	if len(maps.Maps) != 1 || maps.Maps[0].Epoch != 2 {
		t.Fatalf("maps after release: %+v", maps)
	}
	fails(t, dir, 2, []string{"--release"}, "maps", "store", "--release", "0")
	fails(t, dir, 2, []string{".csv or .json"}, "compact", "store", "--map-out", "map.txt")
}

// TestStats checks stats --json against the text form and the segments.
func TestStats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(10, 500, 8)), "--segment-bytes", "8192")
	ok(t, dir, "delete", "store", "0", "1", "499")
	var st statsOut
	okJSON(t, dir, &st, "stats", "store")
	if st.Dimension != 8 || st.Total != 500 || st.NextID != 500 || st.Live != 497 || st.Deleted != 3 || st.Segments < 3 ||
		len(st.SegmentFiles) != st.Segments || st.DiskBytes <= 0 || st.ReclaimableBytes != 3*36 || st.WALBytes <= 0 {
		t.Fatalf("stats: %+v", st)
	}
	var rows, deleted uint64
	next := uint64(0)
	for i, s := range st.SegmentFiles {
		rows += s.Rows
		deleted += s.Deleted
		if s.FirstID != next || s.LastID != s.FirstID+s.Rows-1 || s.Runs != 1 || s.Bytes <= 0 || s.Sealed != (i < len(st.SegmentFiles)-1) {
			t.Fatalf("segment %d: %+v", i, s)
		}
		next = s.LastID + 1
	}
	if rows != st.Total || deleted != st.Deleted {
		t.Fatalf("segments hold %d rows, %d deleted", rows, deleted)
	}
	out := ok(t, dir, "stats", "store")
	for _, want := range []string{"dimension", "total", "live", "deleted", "segments", "disk", "reclaimable", "wal", "epoch", "next ID",
		"000000", "0-", "active", "sealed", "deleted %"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
}

// TestVerifyAndBrokenStores covers verify, missing stores and corruption.
func TestVerifyAndBrokenStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(11, 200, 8)))
	if out := ok(t, dir, "verify", "store"); !strings.HasPrefix(out, "ok: 1 segments") {
		t.Fatalf("verify: %q", out)
	}
	var v struct {
		Store    string
		OK       bool `json:"ok"`
		Segments int
		Bytes    int64
		Seconds  float64
	}
	okJSON(t, dir, &v, "verify", "store")
	if !v.OK || v.Segments != 1 || v.Bytes <= 0 {
		t.Fatalf("verify --json: %+v", v)
	}

	// Every command that reads a store fails cleanly without one.
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	writeFile(t, filepath.Join(dir, "file"), []byte("x"))
	for _, args := range [][]string{
		{"stats"}, {"verify"}, {"export", "", "x.npy"}, {"search", "", "--id", "1"}, {"get", "", "1"},
		{"delete", "", "1"}, {"compact"}, {"maps"},
	} {
		for store, msg := range map[string]string{
			"nosuch": "no such store", "empty": "not a store (empty directory)", "file": "not a store (not a directory)"} {
			a := slices.Clone(args)
			if len(a) == 1 {
				a = append(a, store)
			} else {
				a[1] = store
			}
			fails(t, dir, 1, []string{store + ": " + msg}, a...)
		}
	}
	// A directory of other files is not taken for a store.
	os.Mkdir(filepath.Join(dir, "other"), 0o755)
	writeFile(t, filepath.Join(dir, "other", "notes.txt"), []byte("hello"))
	fails(t, dir, 1, []string{"other"}, "stats", "other")
	if b, _ := os.ReadFile(filepath.Join(dir, "other", "notes.txt")); string(b) != "hello" {
		t.Fatal("a foreign directory was touched")
	}

	// A flipped byte in the vectors: verify names the file and the offset.
	seg := filepath.Join(dir, "store", "000000.seg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[4096+100] ^= 0x40
	writeFile(t, seg, b)
	msg := fails(t, dir, 1, []string{"000000.seg", "corrupt"}, "verify", "store")
	if !strings.Contains(msg, "offset") {
		t.Errorf("verify does not name the offset: %q", msg)
	}
	// A damaged manifest fails every command that opens the store.
	ok(t, dir, "import", "store2", "v.npy")
	man := filepath.Join(dir, "store2", "MANIFEST")
	b, err = os.ReadFile(man)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	writeFile(t, man, b)
	fails(t, dir, 1, []string{"MANIFEST"}, "stats", "store2")
	fails(t, dir, 1, []string{"MANIFEST"}, "verify", "store2")
}

// TestLocked: a store another process has open is refused.
func TestLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(12, 5, 4)))
	db, err := memvecdb.Open(filepath.Join(dir, "store"), memvecdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fails(t, dir, 1, []string{"lock"}, "stats", "store")
}

// TestUsage: bad invocations exit 2 with the usage; -h exits 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runCLI(t, dir); r.code != 2 || !strings.Contains(r.stderr, "Commands:") {
		t.Fatalf("no arguments: %+v", r)
	}
	if out := ok(t, dir, "-h"); !strings.Contains(out, "Commands:") {
		t.Fatalf("-h: %q", out)
	}
	fails(t, dir, 2, []string{`unknown command "frobnicate"`}, "frobnicate")
	names := []string{"demo", "import", "export", "search", "get", "delete", "compact", "maps", "stats", "verify", "bench", "coldbench"}
	top := ok(t, dir, "help")
	for _, name := range names {
		if !strings.Contains(top, "  "+name+" ") {
			t.Errorf("memvec -h does not list %s", name)
		}
		out := ok(t, dir, name, "-h")
		if !strings.HasPrefix(out, "Usage: memvec "+name) {
			t.Errorf("%s -h: %q", name, out)
		}
		fails(t, dir, 2, []string{"flag provided but not defined"}, name, "--no-such-flag")
		if h := ok(t, dir, "help", name); h != out {
			t.Errorf("help %s differs from %s -h", name, name)
		}
	}
	for _, args := range [][]string{
		{"import"}, {"import", "s"}, {"import", "s", "a.npy", "extra"}, {"export", "s"}, {"search"},
		{"get", "s"}, {"get", "s", "-1"}, {"delete", "s"}, {"delete", "s", "1", "--from", "f"}, {"compact"},
		{"compact", "s", "t"}, {"maps"}, {"stats"}, {"stats", "a", "b"}, {"verify"}, {"demo", "extra"},
		{"demo", "--train", "0"}, {"bench", "--n", "0"}, {"bench", "extra"}, {"coldbench"}, {"coldbench", "s", "--n", "0"}, {"coldbench", "s", "--exhaustive", "9"}, {"import", "s", "a.npy", "--batch", "0"},
		{"search", "s", "-k", "x"}, {"search", "s", "--id", "1", "--min-score", "2"}, {"export", "s", "out.txt"},
	} {
		fails(t, dir, 2, nil, args...)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("usage errors created files: %v", entries)
	}
}

// benchJSON is bench --json's output, every field (okJSON refuses unknown
// ones).
type benchJSON struct {
	N, Dim        int
	ScanBytes     int64   `json:"scan_bytes"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	Kernel        string  `json:"kernel"`
	BuildSeconds  float64 `json:"build_seconds"`
	BuildMBPerS   float64 `json:"build_mb_per_s"`
	OpenMs        float64 `json:"open_ms"`
	FirstSearchMs float64 `json:"first_search_ms"`
	DiskBytes     int64   `json:"disk_bytes"`
	TotalSeconds  float64 `json:"total_seconds"`
	Floor         any     // checked by TestBenchFloor
	Rows          []struct {
		Name, Op    string
		Calls       int
		MedianMs    float64 `json:"median_ms"`
		P99Ms       float64 `json:"p99_ms"`
		PerQueryMs  float64 `json:"per_query_ms"`
		QueriesPerS float64 `json:"queries_per_s"`
		VsFloor     float64 `json:"vs_floor"`
	}
}

// TestBench runs a tiny benchmark and parses its JSON.
func TestBench(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var res benchJSON
	okJSON(t, dir, &res, "bench", "--n", "3000", "--dim", "32", "--queries", "6", "--batch", "4", "--in", "50", "--dir", dir)
	if res.N != 3000 || res.Dim != 32 || res.ScanBytes != 3000*132 || res.Kernel == "" || len(res.Rows) != 6 {
		t.Fatalf("bench: %+v", res)
	}
	for i, name := range []string{"floor", "search", "search_exhaustive", "search_batch", "search_batch_exhaustive", "search_in"} {
		r := res.Rows[i]
		if r.Name != name || r.MedianMs <= 0 || r.Calls <= 0 {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if res.Rows[3].Calls != 2 || res.Rows[4].Calls != 2 || res.Rows[1].Calls != 6 || res.Rows[2].Calls != 6 {
		t.Errorf("calls: %+v", res.Rows)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bench left %v behind", entries)
	}
	out := ok(t, dir, "bench", "--n", "500", "--dim", "8", "--queries", "2", "--dir", dir)
	for _, want := range []string{"floor", "Search, top 10", "Search, top 10, Exhaustive", "SearchBatch of 32", "SearchIn 1000 IDs", "vs floor", "median"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "goroutines") {
		t.Errorf("bench without --clients timed concurrent Searches:\n%s", out)
	}
}

// bench --clients N adds Search from N goroutines (at least 20 calls
// each, with a p99) and SearchBatch of N queries.
func TestBenchClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var res benchJSON
	okJSON(t, dir, &res, "bench", "--n", "2000", "--dim", "16", "--queries", "6", "--batch", "4", "--in", "50", "--clients", "3", "--dir", dir)
	if len(res.Rows) != 8 {
		t.Fatalf("bench --clients: %d rows: %+v", len(res.Rows), res.Rows)
	}
	c, b := res.Rows[6], res.Rows[7]
	if c.Name != "search_clients" || c.Calls != 60 || c.MedianMs <= 0 || c.P99Ms < c.MedianMs || c.QueriesPerS <= 0 || !strings.Contains(c.Op, "3 goroutines") {
		t.Errorf("clients row: %+v", c)
	}
	if b.Name != "search_batch_clients" || b.Calls < 20 || b.MedianMs <= 0 || b.QueriesPerS <= 0 || !strings.Contains(b.Op, "SearchBatch of 3") {
		t.Errorf("batch row: %+v", b)
	}
	out := ok(t, dir, "bench", "--n", "500", "--dim", "8", "--queries", "2", "--clients", "2", "--dir", dir)
	for _, want := range []string{"Search from 2 goroutines", "SearchBatch of 2", "p99", "2 goroutines get"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench --clients output lacks %q:\n%s", want, out)
		}
	}
	fails(t, dir, 2, []string{"--clients"}, "bench", "--clients", "-1")
}

// TestDemo runs the demo on a slice of MNIST.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo reads MNIST; skipped with -short")
	}
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "kept")
	out := ok(t, dir, "demo", "--train", "4000", "--test", "300", "--single", "5", "--dir", store)
	i := strings.Index(out, "accuracy ")
	var acc float64
	if i < 0 {
		t.Fatalf("no accuracy in:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i:], "accuracy %f%%", &acc); err != nil || acc < 85 || acc > 100 {
		t.Fatalf("accuracy %v (%v) in:\n%s", acc, err, out)
	}
	for _, want := range []string{"1. load", "MB/s", "2. classify", "queries/s", "3. delete", "compact", "epoch 1", "IDs moved",
		`GetRecord("400"): ID 400 -> 4000`,
		"4. reopen", "5. stats", "demo done"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// --dir keeps the store, which the other commands can open.
	var st statsOut
	okJSON(t, dir, &st, "stats", store)
	if st.Dimension != 784 || st.Live != 3600 || st.Epoch != 1 {
		t.Fatalf("the demo's store: %+v", st)
	}
	// Its records are keyed by image index with the label as payload; the
	// compaction moved them, keys and labels with them.
	if r := getRecord(t, dir, store, "3999"); r.ID != 7599 || len(r.Payload) != 1 || r.Payload[0] < '0' || r.Payload[0] > '9' {
		t.Fatalf("the demo's record 3999: %+v", r)
	}
	fails(t, dir, 1, []string{"not found"}, "get", store, "--key", "399")
	fails(t, dir, 1, []string{"not empty"}, "demo", "--train", "10", "--test", "10", "--dir", store)
	fails(t, dir, 1, []string{"--mnist", "nowhere"}, "demo", "--mnist", filepath.Join(dir, "nowhere"))
}
