package main

// Tests of the commands on keyed records: import --keys/--payload, get
// --key, delete --key/--keys, search --key/--payload and export
// --keys/--payload, run as a user would (main_test.go).

import (
	"bytes"
	"encoding/base64"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	memvecdb "github.com/memvec/memvec"
	"github.com/memvec/memvec/internal/memvectest"
)

// filesOut is the start of import's and export's --json output.
type filesOut struct {
	Store, File, Format string
	IDsFile             string `json:"ids_file"`
	KeysFile            string `json:"keys_file"`
	PayloadFile         string `json:"payload_file"`
	Dimension           int
	Count               int64
	FirstID             *uint64 `json:"first_id"`
	LastID              *uint64 `json:"last_id"`
}

// importKeysOut is import's --json output with --keys.
type importKeysOut struct {
	filesOut
	Keyed    *int64
	Replaced *int64
	Bytes    int64
	Seconds  float64
	MBPerS   float64 `json:"mb_per_s"`
}

// recordOut is a record of get --key --json.
type recordOut struct {
	ID            uint64    `json:"id"`
	Key           string    `json:"key"`
	KeyBase64     string    `json:"key_base64"`
	Payload       string    `json:"payload"`
	PayloadBase64 string    `json:"payload_base64"`
	Vector        []float32 `json:"vector"`
}

// exportKeysOut is export's --json output.
type exportKeysOut struct {
	filesOut
	Seconds float64
}

// keyedFixture is a vector file with its keys and payloads files: row 3
// has no key (an empty line), row 5 a payload that is not UTF-8, row 6 a
// tab in its payload, row 7 a key with a space and no payload.
type keyedFixture struct {
	rows     [][]float32
	keys     []string
	payloads []string
}

func newKeyedFixture(t *testing.T, dir string, n, dim int) keyedFixture {
	t.Helper()
	f := keyedFixture{rows: randRows(21, n, dim), keys: make([]string, n), payloads: make([]string, n)}
	for i := range f.keys {
		f.keys[i] = "doc-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		f.payloads[i] = `{"row":` + strconv.Itoa(i) + `}`
	}
	f.keys[3], f.payloads[3] = "", ""
	f.payloads[5] = "\xff\xfe bytes"
	f.payloads[6] = "a\tb"
	f.keys[7], f.payloads[7] = "doc seven", ""
	writeNpy32(t, filepath.Join(dir, "v.npy"), f.rows)
	writeFile(t, filepath.Join(dir, "keys.txt"), []byte(strings.Join(f.keys, "\n")+"\n"))
	// CRLF line ends: the "\r" is dropped.
	writeFile(t, filepath.Join(dir, "payloads.txt"), []byte(strings.Join(f.payloads, "\r\n")+"\r\n"))
	return f
}

// getRecord runs get --key k --json and returns the record.
func getRecord(t *testing.T, dir, store, k string) recordOut {
	t.Helper()
	var out struct{ Records []recordOut }
	okJSON(t, dir, &out, "get", store, "--key", k)
	if len(out.Records) != 1 {
		t.Fatalf("get --key %q: %+v", k, out)
	}
	return out.Records[0]
}

// checkRecord checks that store holds row i of f under its key, bit for
// bit, with its payload.
func checkRecord(t *testing.T, dir, store string, f keyedFixture, i int) recordOut {
	t.Helper()
	r := getRecord(t, dir, store, f.keys[i])
	if r.Key != f.keys[i] || r.KeyBase64 != "" || !memvectest.BitsEqual(r.Vector, f.rows[i]) {
		t.Fatalf("get --key %q: %+v, want row %d %v", f.keys[i], r, i, f.rows[i])
	}
	if got := payloadOf(t, r.Payload, r.PayloadBase64); got != f.payloads[i] {
		t.Fatalf("get --key %q: payload %q, want %q", f.keys[i], got, f.payloads[i])
	}
	return r
}

// payloadOf returns the payload of a JSON record or hit.
func payloadOf(t *testing.T, text, b64 string) string {
	t.Helper()
	if b64 == "" {
		return text
	}
	if text != "" {
		t.Fatalf("payload %q and payload_base64 %q both set", text, b64)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("payload_base64 %q: %v", b64, err)
	}
	return string(b)
}

// TestKeysRoundTrip imports keyed rows, reads them back by key and in
// search results, exports the keys and payloads, imports the export into
// a new store and finds the same records there, and after a compaction.
func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, dim = 40, 6
	f := newKeyedFixture(t, dir, n, dim)

	var im importKeysOut
	okJSON(t, dir, &im, "import", "store", "v.npy", "--keys", "keys.txt", "--payload", "payloads.txt", "--batch", "16")
	if im.Count != n || *im.FirstID != 0 || *im.LastID != n-1 || im.Keyed == nil || *im.Keyed != n-1 ||
		im.Replaced == nil || *im.Replaced != 0 || im.KeysFile != "keys.txt" || im.PayloadFile != "payloads.txt" || im.IDsFile != "" {
		t.Fatalf("import: %+v", im)
	}
	for i := range f.keys {
		if f.keys[i] == "" {
			continue
		}
		if r := checkRecord(t, dir, "store", f, i); r.ID != uint64(i) {
			t.Fatalf("row %d has ID %d", i, r.ID)
		}
	}
	// Row 3, imported without a key, is there by ID.
	if out := ok(t, dir, "get", "store", "3"); !strings.HasPrefix(out, "3:") {
		t.Fatalf("get 3: %q", out)
	}

	// get --key, text: a block per record.
	out := ok(t, dir, "get", "store", "--key", "doc-a", "--key", "doc seven", "--key", "doc-g")
	want := "key      doc-a\nid       0\npayload  {\"row\":0}\nvector  "
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "\n\nkey      doc seven\nid       7\npayload  (none)\n") ||
		!strings.Contains(out, "key      doc-g\nid       6\npayload  \"a\\tb\"\n") {
		t.Fatalf("get --key text:\n%s", out)
	}
	// --out writes the vectors in the order of the keys.
	ok(t, dir, "get", "store", "--key", "doc-c", "--key", "doc-b", "--out", "two.npy")
	memvectest.EqualRows(t, "get --key --out", readNpy32(t, filepath.Join(dir, "two.npy")), [][]float32{f.rows[2], f.rows[1]})

	// search --key: the record finds itself first, with its key; its
	// payload only with --payload.
	var sr searchOut
	okJSON(t, dir, &sr, "search", "store", "--key", "doc-f", "-k", "40", "--min-score", "-1", "--payload")
	q := sr.Queries[0]
	if q.QueryKey == nil || *q.QueryKey != "doc-f" || len(q.Results) != n || q.Results[0].Key != "doc-f" || q.Results[0].ID != 5 {
		t.Fatalf("search --key: %+v", sr)
	}
	for _, h := range q.Results {
		i := int(h.ID)
		if h.Key != f.keys[i] || payloadOf(t, h.Payload, h.PayloadBase64) != f.payloads[i] {
			t.Fatalf("hit %+v, want key %q payload %q", h, f.keys[i], f.payloads[i])
		}
	}
	if q.Results[0].PayloadBase64 != base64.StdEncoding.EncodeToString([]byte(f.payloads[5])) {
		t.Fatalf("a payload that is not UTF-8: %+v", q.Results[0])
	}
	sr = searchOut{} // a decode into the old results would keep their payloads
	okJSON(t, dir, &sr, "search", "store", "--id", "0", "-k", "5", "--min-score", "-1")
	for _, h := range sr.Queries[0].Results {
		if h.Key != f.keys[h.ID] || h.Payload != "" || h.PayloadBase64 != "" {
			t.Fatalf("search without --payload: %+v", h)
		}
	}
	// Text: a key column ("" for the row without a key), and a payload
	// column with --payload.
	out = ok(t, dir, "search", "store", "--id", "3", "-k", "2", "--min-score", "-1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "rank id score key" ||
		strings.Fields(lines[1])[3] != `""` || strings.Fields(lines[2])[3] == `""` {
		t.Fatalf("search text with keys:\n%s", out)
	}
	// No key among the results: no key column, as for a store without keys.
	if out := ok(t, dir, "search", "store", "--id", "3", "-k", "1"); strings.Contains(out, "key") {
		t.Fatalf("search text without keys:\n%s", out)
	}
	out = ok(t, dir, "search", "store", "--key", "doc-a", "-k", "1", "--payload")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "rank id score key payload" ||
		strings.Join(strings.Fields(lines[1])[3:], " ") != `doc-a {"row":0}` {
		t.Fatalf("search --payload text:\n%s", out)
	}

	// export --keys --payload writes what import read (the "\r" aside),
	// in FILE's order; a deleted row leaves no line.
	ok(t, dir, "delete", "store", "--key", "doc-c")
	var ex exportKeysOut
	okJSON(t, dir, &ex, "export", "store", "out.npy", "--keys", "out-keys.txt", "--payload", "out-payloads.txt", "--ids", "out-ids.txt")
	if ex.Count != n-1 || ex.KeysFile != "out-keys.txt" || ex.PayloadFile != "out-payloads.txt" {
		t.Fatalf("export: %+v", ex)
	}
	wantKeys := append(append([]string{}, f.keys[:2]...), f.keys[3:]...)
	wantPayloads := append(append([]string{}, f.payloads[:2]...), f.payloads[3:]...)
	if got := readFileT(t, dir, "out-keys.txt"); got != strings.Join(wantKeys, "\n")+"\n" {
		t.Fatalf("export --keys:\n%q\nwant\n%q", got, strings.Join(wantKeys, "\n")+"\n")
	}
	if got := readFileT(t, dir, "out-payloads.txt"); got != strings.Join(wantPayloads, "\n")+"\n" {
		t.Fatalf("export --payload:\n%q", got)
	}

	// The export imports back into the same records.
	okJSON(t, dir, &im, "import", "copy", "out.npy", "--keys", "out-keys.txt", "--payload", "out-payloads.txt")
	if im.Count != n-1 || *im.Keyed != n-2 {
		t.Fatalf("import of the export: %+v", im)
	}
	for i := range f.keys {
		if f.keys[i] != "" && i != 2 {
			checkRecord(t, dir, "copy", f, i)
		}
	}
	fails(t, dir, 1, []string{"not found"}, "get", "copy", "--key", "doc-c")

	// Keys and payloads move with their rows through a compaction.
	ok(t, dir, "delete", "store", "--key", "doc-a", "--key", "doc-b")
	ok(t, dir, "compact", "store")
	if r := checkRecord(t, dir, "store", f, 9); r.ID == 9 {
		t.Fatalf("doc-j did not move: %+v", r)
	}
}

// importKeyed imports a row of random vectors of dimension 4, drawn with
// seed, for each of keys ("" for a row without a key) into dir/store, from
// v.npy and k.txt.
func importKeyed(t *testing.T, dir string, seed int64, keys ...string) {
	t.Helper()
	writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(seed, len(keys), 4))
	writeFile(t, filepath.Join(dir, "k.txt"), []byte(strings.Join(keys, "\n")+"\n"))
	ok(t, dir, "import", "store", "v.npy", "--keys", "k.txt")
}

func readFileT(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImportKeysReplace imports over live keys: each is replaced, record
// and all, and import counts the replacements.
func TestImportKeysReplace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const dim = 4
	writeNpy32(t, filepath.Join(dir, "a.npy"), randRows(1, 3, dim))
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("x\ny\nz\n"))
	writeFile(t, filepath.Join(dir, "ap.txt"), []byte("px\npy\npz\n"))
	ok(t, dir, "import", "store", "a.npy", "--keys", "a.txt", "--payload", "ap.txt")
	b := randRows(2, 3, dim)
	writeNpy32(t, filepath.Join(dir, "b.npy"), b)
	writeFile(t, filepath.Join(dir, "b.txt"), []byte("y\nw\nz")) // no final line break
	out := ok(t, dir, "import", "store", "b.npy", "--keys", "b.txt")
	if !strings.Contains(out, "as IDs 3-5") || !strings.Contains(out, "keys from b.txt: 3 records put, of which 2 replaced a live record; 0 rows without a key") {
		t.Fatalf("import over live keys:\n%s", out)
	}
	if r := getRecord(t, dir, "store", "y"); r.ID != 3 || !memvectest.BitsEqual(r.Vector, b[0]) || r.Payload != "" {
		t.Fatalf("y after the replace: %+v", r)
	}
	if r := getRecord(t, dir, "store", "x"); r.ID != 0 || r.Payload != "px" {
		t.Fatalf("x after the replace: %+v", r)
	}
	if st := statsOf(t, dir, "store"); st.Live != 4 || st.Deleted != 2 {
		t.Fatalf("stats after the replace: %+v", st)
	}
}

// TestImportKeysRefused checks that bad key and payload files are refused
// before anything is written: no store is created, an existing one is
// left as it was.
func TestImportKeysRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(3, 3, 4))
	put := func(name, content string) string { return writeFile(t, filepath.Join(dir, name), []byte(content)) }
	put("k3.txt", "a\nb\nc\n")
	put("k2.txt", "a\nb\n")
	put("k4.txt", "a\nb\nc\n\n") // an empty fourth line is a fourth row
	put("dup.txt", "a\nb\na\n")
	put("long.txt", "a\n"+strings.Repeat("k", memvecdb.MaxKeyLen+1)+"\nc\n")
	put("max.txt", "a\n"+strings.Repeat("k", memvecdb.MaxKeyLen)+"\nc\n")
	put("blank.txt", "a\n\nc\n")
	put("p2.txt", "1\n2\n")
	put("p3.txt", "1\n2\n3\n")
	put("plong.txt", "1\n"+strings.Repeat("p", memvecdb.MaxPayloadLen+1)+"\n3\n")

	cases := []struct {
		code int
		msgs []string
		args []string
	}{
		{2, []string{"k2.txt has 2 lines but v.npy has 3 rows"}, []string{"--keys", "k2.txt"}},
		{2, []string{"k4.txt has 4 lines"}, []string{"--keys", "k4.txt"}},
		{2, []string{"p2.txt has 2 lines but v.npy has 3 rows"}, []string{"--keys", "k3.txt", "--payload", "p2.txt"}},
		{2, []string{"--payload needs --keys"}, []string{"--payload", "p3.txt"}},
		{1, []string{"dup.txt:3", `key a also on line 1`}, []string{"--keys", "dup.txt"}},
		{1, []string{"long.txt:2", "1025 bytes, at most 1024"}, []string{"--keys", "long.txt"}},
		{1, []string{"plong.txt:2", "payload of 65537 bytes, at most 65536"}, []string{"--keys", "k3.txt", "--payload", "plong.txt"}},
		{1, []string{"p3.txt:2", "a payload for a row without a key"}, []string{"--keys", "blank.txt", "--payload", "p3.txt"}},
		{1, []string{"nowhere.txt"}, []string{"--keys", "nowhere.txt"}},
	}
	for _, c := range cases {
		fails(t, dir, c.code, c.msgs, append([]string{"import", "new", "v.npy"}, c.args...)...)
		if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
			t.Fatalf("import %v created the store (%v)", c.args, err)
		}
	}
	// An existing store is not touched either.
	ok(t, dir, "import", "store", "v.npy", "--keys", "max.txt")
	checkLive := func() {
		t.Helper()
		if st := statsOf(t, dir, "store"); st.Total != 3 || st.Live != 3 {
			t.Fatalf("the store changed: %+v", st)
		}
	}
	checkLive()
	for _, c := range cases {
		fails(t, dir, c.code, c.msgs, append([]string{"import", "store", "v.npy"}, c.args...)...)
		checkLive()
	}
	if r := getRecord(t, dir, "store", strings.Repeat("k", memvecdb.MaxKeyLen)); r.ID != 1 {
		t.Fatalf("the longest key: %+v", r)
	}
}

// TestKeyArgs checks bad and absent keys on the command line: the store's
// refusal of an empty or over-long key (ErrInvalidArgument) is a usage
// error, an absent key a failure of get and search but not of delete.
func TestKeyArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	importKeyed(t, dir, 4, "a", "b", "c")
	long := strings.Repeat("k", memvecdb.MaxKeyLen+1)
	for _, args := range [][]string{
		{"get", "store", "--key", ""},
		{"get", "store", "--key", "a", "--key", long},
		{"delete", "store", "--key", "a", "--key", ""},
		{"delete", "store", "--key", long},
		{"search", "store", "--key", ""},
	} {
		fails(t, dir, 2, []string{"bad --key", "want 1 to 1024", "invalid argument"}, args...)
	}
	fails(t, dir, 1, []string{`key "zz"`, "not found"}, "get", "store", "--key", "a", "--key", "zz")
	fails(t, dir, 1, []string{`key "zz"`, "not found"}, "search", "store", "--key", "zz")
	fails(t, dir, 2, []string{"IDs or --key, not both"}, "get", "store", "1", "--key", "a")
	fails(t, dir, 2, []string{"IDs or keys, not both"}, "delete", "store", "1", "--key", "a")
	fails(t, dir, 2, []string{"IDs or keys, not both"}, "delete", "store", "--from", "k.txt", "--keys", "k.txt")
	fails(t, dir, 2, []string{"exactly one of --query FILE, --id N and --key K"}, "search", "store", "--id", "1", "--key", "a")
	fails(t, dir, 2, []string{"--key"}, "get", "store", "--key")
	// Nothing was deleted by the refused deletes.
	if st := statsOf(t, dir, "store"); st.Live != 3 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestDeleteKeys deletes by --key and --keys: absent and repeated keys
// count 0; empty lines of a keys file are skipped.
func TestDeleteKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	importKeyed(t, dir, 5, "a", "b", "c", "", "e", "f")

	if out := ok(t, dir, "delete", "store", "--key", "a", "--key", "nope", "--key", "a"); out != "deleted 1 of 3 keys\n" {
		t.Fatalf("delete --key: %q", out)
	}
	var del struct{ Requested, Deleted int }
	okJSON(t, dir, &del, "delete", "store", "--key", "a", "--key", "nope")
	if del.Requested != 2 || del.Deleted != 0 {
		t.Fatalf("delete of absent keys: %+v", del)
	}
	writeFile(t, filepath.Join(dir, "del.txt"), []byte("b\n\nc\r\nzz\n"))
	okJSON(t, dir, &del, "delete", "store", "--keys", "del.txt", "--key", "e")
	if del.Requested != 4 || del.Deleted != 3 {
		t.Fatalf("delete --keys: %+v", del)
	}
	for _, k := range []string{"a", "b", "c", "e"} {
		fails(t, dir, 1, []string{"not found"}, "get", "store", "--key", k)
	}
	getRecord(t, dir, "store", "f")
	if st := statsOf(t, dir, "store"); st.Live != 2 || st.Deleted != 4 {
		t.Fatalf("stats: %+v", st)
	}
	// The row without a key is still there, by ID.
	ok(t, dir, "get", "store", "3")
	fails(t, dir, 1, []string{"nowhere.txt"}, "delete", "store", "--keys", "nowhere.txt")
}

// TestExportKeysRefused: a key or payload holding a line break cannot be
// written one per line; export fails and leaves no file behind. Keys and
// payloads that are not UTF-8 come out of search --json in base64.
func TestExportKeysRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := memvecdb.Open(filepath.Join(dir, "store"), memvecdb.Options{Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put([]memvecdb.Record{
		{Key: "ok", Vector: []float32{1, 0}},
		{Key: "two\nlines", Vector: []float32{0, 1}},
		{Key: "\xff", Vector: []float32{1, 1}, Payload: []byte("p\r")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fails(t, dir, 1, []string{"the key of ID 1 holds a line break"}, "export", "store", "out.npy", "--keys", "keys.txt")
	fails(t, dir, 1, []string{"the payload of ID 2 holds a line break"}, "export", "store", "out.npy", "--payload", "p.txt")
	for _, name := range []string{"out.npy", "keys.txt", "p.txt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", name, err)
		}
	}
	var sr searchOut
	okJSON(t, dir, &sr, "search", "store", "--id", "2", "-k", "1", "--payload")
	h := sr.Queries[0].Results[0]
	if h.Key != "" || h.KeyBase64 != base64.StdEncoding.EncodeToString([]byte("\xff")) || h.Payload != "p\r" {
		t.Fatalf("search --json of a key that is not UTF-8: %+v", h)
	}
	// In text, keys are quoted when they are not printable.
	out := ok(t, dir, "search", "store", "--id", "1", "-k", "3", "--min-score", "-1")
	if !strings.Contains(out, `"two\nlines"`) || !strings.Contains(out, `"\xff"`) || !bytes.Contains([]byte(out), []byte(" ok\n")) {
		t.Fatalf("search text of odd keys:\n%s", out)
	}
}

// TestImportKeysBadRow: a refused vector in a run of keyed rows stops the
// import there, the runs before it (here two rows without a key) stay
// imported and are reported, and the new store is kept for them.
func TestImportKeysBadRow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := randRows(6, 5, 4)
	rows[3][0] = float32(math.NaN())
	writeNpy32(t, filepath.Join(dir, "v.npy"), rows)
	writeFile(t, filepath.Join(dir, "k.txt"), []byte("\n\nc\nd\ne\n"))
	fails(t, dir, 1, []string{"row 3 of v.npy", "NaN", "the 2 vectors before were imported as IDs 0-1"},
		"import", "store", "v.npy", "--keys", "k.txt")
	if st := statsOf(t, dir, "store"); st.Live != 2 {
		t.Fatalf("stats: %+v", st)
	}
	fails(t, dir, 1, []string{"not found"}, "get", "store", "--key", "c")
}

// FuzzKeyLines feeds arbitrary bytes to the readers of key and payload
// files: they return lines or an error, never panic; the keys they return
// are within the limits, unique (import) or non-empty (delete), and keys
// written back one per line read back the same.
func FuzzKeyLines(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nc"))
	f.Add([]byte("a\na\n"))
	f.Add([]byte("x\r\r\n\xff\n\n"))
	f.Add([]byte(strings.Repeat("k", memvecdb.MaxKeyLen+1) + "\n"))
	f.Add([]byte(strings.Repeat("p", 70000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := writeFile(t, filepath.Join(dir, "in"), data)
		if keys, err := readKeys(path); err == nil {
			for _, k := range keys {
				if k == "" || len(k) > memvecdb.MaxKeyLen || strings.Contains(k, "\n") {
					t.Fatalf("readKeys returned %q", k)
				}
			}
		}
		keys, err := readImportKeys(path)
		if n, perr := checkPayloads(path, "keys", keys); perr == nil && n != bytes.Count(data, []byte("\n"))+btoi(len(data) > 0 && data[len(data)-1] != '\n') {
			t.Fatalf("checkPayloads counted %d lines in %q", n, data)
		}
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if len(k) > memvecdb.MaxKeyLen || strings.Contains(k, "\n") || (k != "" && seen[k]) {
				t.Fatalf("readImportKeys returned %q", k)
			}
			seen[k] = true
		}
		lw, err := createLines(filepath.Join(dir, "out"), "key")
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			if err := lw.write(uint64(i), []byte(k)); err != nil {
				// "x\r\r\n" reads as "x\r", which one line cannot
				// keep: the writer refuses it.
				if !strings.HasSuffix(k, "\r") {
					t.Fatal(err)
				}
				lw.Abort()
				return
			}
		}
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := readImportKeys(filepath.Join(dir, "out"))
		if err != nil || !slices.Equal(again, keys) {
			t.Fatalf("keys %q read back as %q, %v", keys, again, err)
		}
	})
}
