package memvec

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// The torn-and-flipped-bytes test: a cleanly closed store is copied, one
// byte of one file is flipped (or the file is cut short), and the copy is
// opened, verified and read. Damage must be reported as ErrCorrupt, naming
// the file, or be harmless (the byte was not in use); it must never be
// served as data.

const (
	corruptDim = 8
	// Layout of an 8 KiB segment of dimension 8 (see segment/doc.go):
	// capacity (8192-4096-133)/(8*4+4+8+16+64) = 31 rows (segment format
	// 4: 133 bytes of alignment slack, 8 code and 16 meta bytes a row).
	corruptCap       = 31
	corruptHeader    = 4096
	corruptHeaderUse = 64 // 48 header bytes and a little padding
	corruptRecSize   = 64
	corruptMetaSize  = 16 // quant.MetaSize
	corruptVecOff    = corruptHeader
	corruptNormsOff  = corruptVecOff + corruptCap*corruptDim*4
	corruptNormsEnd  = corruptNormsOff + corruptCap*4
	corruptCodeOff   = (corruptNormsEnd + 63) / 64 * 64
	corruptCodeEnd   = corruptCodeOff + corruptCap*corruptDim
	corruptMetaOff   = (corruptCodeEnd + 63) / 64 * 64
	corruptMetaEnd   = corruptMetaOff + corruptCap*corruptMetaSize
	corruptRecOff    = (corruptMetaEnd + 7) / 8 * 8
	corruptRecEnd    = corruptRecOff + corruptCap*corruptRecSize
	corruptSegSize   = (corruptRecEnd + 4095) / 4096 * 4096
)

// corruptStore is the pristine store every trial starts from.
type corruptStore struct {
	files map[string][]byte // path relative to the store dir -> contents
	o     *oracle           // live vectors; next bounds every ID handed out
	dead  []uint64
	man   *manifest.Manifest
	total uint64  // Stats().Total: o.next unless a compaction removed rows
	maps  []IDMap // IDMapsSince(0), checked when not nil
	// searches: what the pristine store answers to searchQuery (its
	// middle live vector), prefiltered and exhaustive; nil: not checked.
	searches [][]Result
}

// searchOptions are the searches readFirst compares with the pristine
// store's answers (corruptStore.searches).
var searchOptions = []SearchOptions{{TopK: 5}, {TopK: 5, Exhaustive: true}}

// searchQuery is the query of those searches: the middle live vector.
func (o *oracle) searchQuery() []float32 {
	ids := make([]uint64, 0, len(o.vecs))
	for id := range o.vecs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return o.vecs[ids[len(ids)/2]]
}

func buildCorruptStore(t *testing.T) *corruptStore {
	t.Helper()
	if c, size := segment.Capacity(corruptDim, testSegmentBytes), segment.FileSize(corruptDim, corruptCap); c != corruptCap || size != corruptSegSize {
		t.Fatalf("segments of %d rows, %d bytes; this test's layout says %d, %d", c, size, corruptCap, corruptSegSize)
	}
	dir := filepath.Join(t.TempDir(), "src")
	db, err := openT(t, dir, Options{Dimension: corruptDim, SegmentBytes: testSegmentBytes, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(11))
	o := newOracle(corruptDim)
	add, del := modelOps(t, db, o, rng)
	add(corruptCap)       // a full sealed segment
	add(2*corruptCap + 4) // two more sealed ones and the start of a fourth
	add(20)
	del(3, 50, 51, 110)
	add(5)
	add(15) // does not fit: the fourth is sealed part-full, a fifth begins
	del(1, 2, 130, 121)
	add(5)
	add(6)
	for i := 0; i < 10; i++ {
		del(uint64(rng.Intn(int(o.next))), uint64(rng.Intn(int(o.next))), o.next-1-uint64(rng.Intn(20)))
	}
	del(3, 50) // already deleted: no record
	add(3)
	del(o.next-2, o.next-40, 7)
	del(o.next - 1)
	var searches [][]Result
	for _, opts := range searchOptions {
		res, err := db.Search(context.Background(), o.searchQuery(), opts)
		if err != nil {
			t.Fatal(err)
		}
		searches = append(searches, res)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cs := snapshotCorruptStore(t, dir, o)
	cs.searches = searches
	cs.total = o.next
	sealed := 0
	for _, s := range cs.man.Segments {
		if s.Sealed {
			sealed++
		}
	}
	active := cs.man.Segments[len(cs.man.Segments)-1]
	batches := len(segBatches(cs.files[fmt.Sprintf("%06d.seg", active.Number)]))
	if sealed < 3 || active.Sealed || len(cs.man.Segments) != sealed+1 || batches < 3 || cs.man.WALDurable < 5 || len(cs.dead) < 20 {
		t.Fatalf("store shape: %d segments, %d sealed, %d batches in the active one, %d WAL records, %d deleted",
			len(cs.man.Segments), sealed, batches, cs.man.WALDurable, len(cs.dead))
	}
	return cs
}

// snapshotCorruptStore reads every file of the closed store in dir; o is
// what it holds, and every ID below o.next that o does not hold is dead.
func snapshotCorruptStore(t *testing.T, dir string, o *oracle) *corruptStore {
	t.Helper()
	cs := &corruptStore{files: map[string][]byte{}, o: o}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		cs.files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if cs.man, err = manifest.Decode(cs.files["MANIFEST"]); err != nil {
		t.Fatal(err)
	}
	for id := uint64(0); id < o.next; id++ {
		if _, ok := o.vecs[id]; !ok {
			cs.dead = append(cs.dead, id)
		}
	}
	return cs
}

// fileKind classifies a store file for the counts and message checks.
func fileKind(rel string) string {
	switch {
	case rel == "MANIFEST":
		return "manifest"
	case strings.HasSuffix(rel, ".seg"):
		return "segment"
	case strings.HasPrefix(rel, "wal"+string(filepath.Separator)):
		return "wal"
	case strings.HasSuffix(rel, ".tombs"):
		return "tombs" // tombstone checkpoint
	case strings.HasSuffix(rel, ".idmap"):
		return "idmap"
	case rel == "LOCK":
		return "" // its contents mean nothing
	}
	return "other" // a file kind this test does not know: damaged all the same
}

// segBatch is one batch record of a segment file, decoded from its bytes.
type segBatch struct {
	index, firstRow, rows int
}

func segBatches(b []byte) []segBatch {
	var out []segBatch
	for i := 0; i < corruptCap; i++ {
		r := b[corruptRecOff+i*corruptRecSize:]
		if binary.LittleEndian.Uint32(r) != 0x5442564d { // "MVBT"
			break
		}
		out = append(out, segBatch{i, int(binary.LittleEndian.Uint64(r[8:])), int(binary.LittleEndian.Uint32(r[4:]))})
	}
	return out
}

// damage is one trial: a file with one byte flipped, or cut short.
type damage struct {
	rel    string
	off    int  // byte flipped, or new length
	mask   byte // 0: truncate at off
	region string
	// must: the byte is checksummed and in use, so the flip must be
	// detected; harmless would mean it was never checked.
	must bool
}

func (d damage) String() string {
	if d.mask == 0 {
		return fmt.Sprintf("%s truncated to %d bytes", d.rel, d.off)
	}
	return fmt.Sprintf("%s offset %d (%s) ^= %#02x", d.rel, d.off, d.region, d.mask)
}

// sample returns up to n distinct offsets of [from, to), all of them when
// full is set or the range is small.
func sample(rng *rand.Rand, from, to, n int, full bool) []int {
	if to <= from {
		return nil
	}
	if full || to-from <= n {
		out := make([]int, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		if o := from + rng.Intn(to-from); !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	sort.Ints(out)
	return out
}

// flipsFor lists the flips to try on one file; sealed tells whether a
// segment file is sealed (its batch records are then no longer used).
func flipsFor(rng *rand.Rand, rel string, b []byte, sealed, full bool) []damage {
	type span struct {
		region   string
		from, to int
		n        int
		must     bool
	}
	var spans []span
	switch fileKind(rel) {
	case "manifest":
		spans = append(spans, span{"manifest", 0, len(b), len(b), true})
	case "tombs", "idmap": // framed like the manifest: every byte is checksummed
		spans = append(spans, span{fileKind(rel), 0, len(b), 160, true})
	case "wal":
		tail := max(0, len(b)-200)
		spans = append(spans, span{"wal tail", tail, len(b), 200, true}, span{"wal body", 0, tail, 60, true})
	case "other":
		tail := max(0, len(b)-200)
		spans = append(spans, span{"head", 0, min(64, len(b)), 64, false}, span{"tail", tail, len(b), 200, false}, span{"body", 0, len(b), 100, false})
	case "segment":
		// A sealed segment of format 5 ends with its sum table (no
		// blobs and no key tables here: the rows have no keys).
		if len(b) != corruptSegSize && !(sealed && len(b) > corruptSegSize) {
			panic(fmt.Sprintf("segment %s is %d bytes, want %d", rel, len(b), corruptSegSize))
		}
		if sealed {
			// Derived data: a reader recomputes it, Verify reports it.
			spans = append(spans, span{"seal trailer", 128, 128 + 112, 40, true},
				span{"sum table", corruptSegSize, len(b), 60, true})
		}
		spans = append(spans,
			span{"header", 0, 48, 48, true},
			span{"header padding", 48, corruptHeaderUse, 16, false},
			span{"header padding", corruptHeaderUse, corruptHeader, 10, false},
			span{"vectors", corruptVecOff, corruptNormsOff, 30, false},
			span{"norms", corruptNormsOff, corruptNormsEnd, 25, false},
			span{"alignment", corruptNormsEnd, corruptCodeOff, 4, false},
			span{"codes", corruptCodeOff, corruptCodeEnd, 25, false},
			span{"alignment", corruptCodeEnd, corruptMetaOff, 4, false},
			span{"metas", corruptMetaOff, corruptMetaEnd, 25, false},
			span{"alignment", corruptMetaEnd, corruptRecOff, 4, false},
			span{"records", corruptRecOff, corruptRecEnd, 30, false},
			span{"padding", corruptRecEnd, corruptSegSize, 10, false})
		if bs := segBatches(b); len(bs) > 0 {
			last := bs[len(bs)-1]
			vo := corruptVecOff + last.firstRow*corruptDim*4
			no := corruptNormsOff + last.firstRow*4
			ro := corruptRecOff + last.index*corruptRecSize
			co := corruptCodeOff + last.firstRow*corruptDim
			mo := corruptMetaOff + last.firstRow*corruptMetaSize
			spans = append(spans,
				span{"last batch vectors", vo, vo + last.rows*corruptDim*4, 96, true},
				span{"last batch norms", no, no + last.rows*4, 24, true},
				span{"last batch codes", co, co + last.rows*corruptDim, 48, true},
				span{"last batch metas", mo, mo + last.rows*corruptMetaSize, 48, true},
				span{"last batch record", ro, ro + corruptRecSize, corruptRecSize, !sealed})
		}
	}
	var out []damage
	seen := map[int]bool{}
	for _, s := range spans {
		for _, off := range sample(rng, s.from, s.to, s.n, full) {
			if seen[off] && !s.must {
				continue
			}
			if seen[off] { // listed by a general region first: now a must
				for i := range out {
					if out[i].off == off {
						out[i].must, out[i].region = true, s.region
					}
				}
				continue
			}
			seen[off] = true
			mask := byte(1)
			if rng.Intn(2) == 0 {
				mask = byte(1 + rng.Intn(255))
			}
			out = append(out, damage{rel: rel, off: off, mask: mask, region: s.region, must: s.must})
		}
	}
	return out
}

// truncationsFor lists the lengths to cut one file to: 0, and a sample of
// its last 4 KiB.
func truncationsFor(rng *rand.Rand, rel string, b []byte, full bool) []damage {
	offs := append([]int{0, len(b) - 1}, sample(rng, max(0, len(b)-4096), len(b), 25, full)...)
	var out []damage
	seen := map[int]bool{}
	for _, off := range offs {
		if off >= 0 && !seen[off] {
			seen[off] = true
			out = append(out, damage{rel: rel, off: off, region: "truncate"})
		}
	}
	return out
}

type corruptOutcome int

const (
	detected corruptOutcome = iota
	harmless
	wrong
)

// write copies the store to dir with d applied and returns the damaged
// file's new contents.
func (cs *corruptStore) write(dir string, d damage) ([]byte, error) {
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o755); err != nil {
		return nil, err
	}
	var damaged []byte
	for rel, b := range cs.files {
		if rel == d.rel {
			b = append([]byte(nil), b...)
			if d.mask == 0 {
				b = b[:d.off]
			} else {
				b[d.off] ^= d.mask
			}
			damaged = b
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			return nil, err
		}
	}
	return damaged, nil
}

// tryDamage applies d to a fresh copy of the store in dir and classifies
// what the store makes of it. A wrong outcome comes with its reason.
func (cs *corruptStore) tryDamage(dir string, d damage) (corruptOutcome, string) {
	defer os.RemoveAll(dir)
	if _, err := cs.write(dir, d); err != nil {
		return wrong, err.Error()
	}
	kind := fileKind(d.rel)
	// checkMsg: a detected corruption names the file, and for segments
	// and Verify the offset too.
	checkMsg := func(err error, verify bool) string {
		msg := err.Error()
		name := filepath.Base(d.rel)
		switch kind {
		case "manifest":
			name = "MANIFEST"
		case "wal":
			name = "wal"
		}
		if !strings.Contains(msg, name) {
			return fmt.Sprintf("error does not name %q: %v", name, err)
		}
		// One checksum covers a whole framed file (manifest, tombstone
		// checkpoint, ID map): there is no offset of a mismatch to give.
		framed := kind == "manifest" || kind == "tombs" || kind == "idmap"
		if d.mask != 0 && (kind == "segment" || verify && !framed) && !strings.Contains(msg, "offset") {
			return fmt.Sprintf("error does not give an offset: %v", err)
		}
		return ""
	}
	// caught classifies the error err of the operation op: detected if
	// it is ErrCorrupt and its message passes checkMsg, wrong otherwise.
	caught := func(op string, err error, verify bool) (corruptOutcome, string) {
		if !errors.Is(err, ErrCorrupt) {
			return wrong, fmt.Sprintf("%s: %v", op, err)
		}
		if why := checkMsg(err, verify); why != "" {
			return wrong, op + ": " + why
		}
		return detected, ""
	}
	db, err := Open(dir, Options{SegmentBytes: testSegmentBytes, DisableAutoCompaction: true})
	if err != nil {
		return caught("Open", err, false)
	}
	out, why := cs.readFirst(db, caught)
	if out == harmless {
		out, why = cs.readBack(db, caught)
	}
	if err := db.Close(); err != nil && out != wrong {
		return wrong, fmt.Sprintf("Close: %v", err)
	}
	return out, why
}

// readFirst reads every live vector before any Verify, as a store just
// opened serves them (format 5: each read checks its own rows and code
// blocks, nothing else): each read returns the original bytes or
// ErrCorrupt naming the file and offset, never damaged bytes. It returns
// harmless when nothing was reported.
func (cs *corruptStore) readFirst(db *DB, caught func(op string, err error, verify bool) (corruptOutcome, string)) (corruptOutcome, string) {
	ids := make([]uint64, 0, len(cs.o.vecs))
	for id := range cs.o.vecs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		got, err := db.Get(id)
		if err != nil {
			return caught(fmt.Sprintf("Get(%d) before Verify", id), err, false)
		}
		if want := cs.o.vecs[id]; !bitsEqual(got, want) {
			return wrong, fmt.Sprintf("served damaged bytes: Get(%d) = %v before Verify; want %v", id, got, want)
		}
	}
	for i, want := range cs.searches {
		res, err := db.Search(context.Background(), cs.o.searchQuery(), searchOptions[i])
		if err != nil {
			return caught("Search before Verify", err, false)
		}
		if fmt.Sprint(res) != fmt.Sprint(want) {
			return wrong, fmt.Sprintf("served damaged bytes: Search %+v before Verify = %v; want %v", searchOptions[i], res, want)
		}
	}
	return harmless, ""
}

// readBack classifies what the open store db serves; caught classifies
// an error (tryDamage's).
func (cs *corruptStore) readBack(db *DB, caught func(op string, err error, verify bool) (corruptOutcome, string)) (corruptOutcome, string) {
	if err := db.Verify(context.Background()); err != nil {
		return caught("Verify", err, true)
	}
	// Opened and verified: then every byte served must be the original.
	for id, want := range cs.o.vecs {
		got, err := db.Get(id)
		if err != nil || !bitsEqual(got, want) {
			return wrong, fmt.Sprintf("undetected: Get(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
	unknown := []uint64{cs.o.next, cs.o.next + 1, 1 << 40}
	for _, id := range append(append([]uint64(nil), cs.dead...), unknown...) {
		if got, err := db.Get(id); !errors.Is(err, ErrNotFound) {
			return wrong, fmt.Sprintf("undetected: Get(%d) of a deleted or unknown ID = %v, %v", id, got, err)
		}
	}
	if s := db.Stats(); s.Live != uint64(len(cs.o.vecs)) || s.Total != cs.total {
		return wrong, fmt.Sprintf("undetected: stats %+v, want %d live of %d", s, len(cs.o.vecs), cs.total)
	}
	if cs.maps != nil {
		got, err := db.IDMapsSince(0)
		if err != nil {
			return caught("IDMapsSince", err, false)
		}
		if !idMapsEqual(got, cs.maps) {
			return wrong, fmt.Sprintf("undetected: IDMapsSince(0) = %+v, want %+v", got, cs.maps)
		}
	}
	return harmless, ""
}

// scratchDir returns a directory for the trials' copies of the store: on
// tmpfs when there is one, since thousands of Opens and Closes fsync, and
// the damage found does not depend on the file system.
func scratchDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "memvec-corrupt-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func TestCorruptFlipsAndTruncations(t *testing.T) {
	full := os.Getenv("MEMVEC_CORRUPT_FULL") == "1"
	cs := buildCorruptStore(t)
	rng := rand.New(rand.NewSource(12))
	var rels []string
	for rel := range cs.files {
		if fileKind(rel) != "" {
			rels = append(rels, rel)
		}
	}
	sort.Strings(rels)
	var trials []damage
	sealed := map[string]bool{}
	for _, s := range cs.man.Segments {
		sealed[fmt.Sprintf("%06d.seg", s.Number)] = s.Sealed
	}
	for _, rel := range rels {
		trials = append(trials, flipsFor(rng, rel, cs.files[rel], sealed[rel], full)...)
		trials = append(trials, truncationsFor(rng, rel, cs.files[rel], full)...)
	}
	if testing.Short() {
		rng.Shuffle(len(trials), func(i, j int) { trials[i], trials[j] = trials[j], trials[i] })
		trials = trials[:len(trials)/8]
	}
	runCorruptSweep(t, cs, trials)
	t.Logf("%d files, full sweep: %v", len(rels), full)
}

// runCorruptSweep tries every damage on its own copy of cs, four at a
// time, and reports every wrong outcome: an error that is not ErrCorrupt or
// does not name the file, damage served as data, or damage to checksummed
// bytes in use that went unnoticed.
func runCorruptSweep(t *testing.T, cs *corruptStore, trials []damage) {
	t.Helper()
	type key struct{ kind, what string }
	counts := map[key]*[3]int{}
	harmlessBy := map[string]int{} // region -> harmless flips
	var mu sync.Mutex
	var wrongs []string
	work := make(chan damage)
	var wg sync.WaitGroup
	root := scratchDir(t)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				d, ok := <-work
				if !ok {
					return
				}
				out, why := cs.tryDamage(filepath.Join(root, fmt.Sprintf("w%d-%d", w, i)), d)
				if out == harmless && d.must {
					out, why = wrong, "damage to checksummed bytes in use went unnoticed"
				}
				what := "flip"
				if d.mask == 0 {
					what = "truncate"
				}
				mu.Lock()
				k := key{fileKind(d.rel), what}
				if counts[k] == nil {
					counts[k] = new([3]int)
				}
				counts[k][out]++
				if out == wrong {
					wrongs = append(wrongs, fmt.Sprintf("%v: %s", d, why))
				}
				if out == harmless {
					harmlessBy[d.region]++
				}
				mu.Unlock()
			}
		}(w)
	}
	for _, d := range trials {
		work <- d
	}
	close(work)
	wg.Wait()

	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].kind < keys[j].kind || keys[i].kind == keys[j].kind && keys[i].what < keys[j].what
	})
	for _, k := range keys {
		c := counts[k]
		t.Logf("%-8s %-8s: %4d detected, %4d harmless, %d wrong", k.kind, k.what, c[detected], c[harmless], c[wrong])
	}
	t.Logf("%d trials; harmless by region: %v", len(trials), harmlessBy)
	sort.Strings(wrongs)
	for i, w := range wrongs {
		if i == 30 {
			t.Errorf("... and %d more", len(wrongs)-i)
			break
		}
		t.Errorf("wrong: %s", w)
	}
}

// openLeavesDamageAlone applies each damage to a fresh copy of the store
// and checks that an Open that fails has not changed any file first (cut,
// zeroed or removed anything), so that the damage can still be inspected
// and the data salvaged. An Open that succeeds must be followed by a Verify
// that reports the damage.
func openLeavesDamageAlone(t *testing.T, cs *corruptStore, cases []damage) {
	t.Helper()
	for _, d := range cases {
		dir := filepath.Join(t.TempDir(), "store")
		damaged, err := cs.write(dir, d)
		if err != nil {
			t.Fatal(err)
		}
		leftDamaged(t, dir)
		db, err := openT(t, dir, Options{DisableAutoCompaction: true})
		if err == nil {
			verr := db.Verify(context.Background())
			db.Close()
			if !errors.Is(verr, ErrCorrupt) {
				t.Errorf("%v: Open and Verify succeeded: %v", d, verr)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v: Open: %v", d, err)
		}
		for rel, want := range cs.files {
			if rel == d.rel {
				want = damaged
			}
			if rel == "LOCK" {
				continue
			}
			got, rerr := os.ReadFile(filepath.Join(dir, rel))
			if rerr != nil || string(got) != string(want) {
				t.Errorf("%v: Open failed (%v) but first changed %s: %d bytes, was %d (%v)", d, err, rel, len(got), len(want), rerr)
			}
		}
	}
}

// corruptNames returns the names of the store's active segment, one sealed
// segment and the WAL file, and the active segment's last batch.
func (cs *corruptStore) names(t *testing.T) (active, sealed, walFile string, last segBatch) {
	for _, s := range cs.man.Segments {
		name := fmt.Sprintf("%06d.seg", s.Number)
		if s.Sealed {
			sealed = name
		} else {
			active = name
		}
	}
	for rel := range cs.files {
		if fileKind(rel) == "wal" {
			walFile = rel
		}
	}
	if active == "" || sealed == "" || walFile == "" {
		t.Fatalf("store files: %v", cs.man)
	}
	bs := segBatches(cs.files[active])
	return active, sealed, walFile, bs[len(bs)-1]
}

func TestCorruptOpenLeavesDamageAlone(t *testing.T) {
	cs := buildCorruptStore(t)
	active, sealed, walFile, last := cs.names(t)
	openLeavesDamageAlone(t, cs, []damage{
		{rel: "MANIFEST", off: 40, mask: 1},
		{rel: "MANIFEST", off: 30},
		{rel: sealed, off: 20, mask: 1},
		{rel: sealed, off: corruptVecOff + 7, mask: 1},
		{rel: sealed, off: corruptSegSize - 1},
		{rel: active, off: corruptVecOff + last.firstRow*corruptDim*4 + 5, mask: 1},
		{rel: active, off: corruptRecOff + last.index*corruptRecSize + 9, mask: 1},
		{rel: sealed, off: corruptCodeOff + 3, mask: 1},
		{rel: sealed, off: corruptMetaOff + 5, mask: 0x80},
		{rel: active, off: corruptCodeOff + last.firstRow*corruptDim + 1, mask: 1},
		{rel: active, off: corruptMetaOff + last.firstRow*corruptMetaSize + 2, mask: 1},
		{rel: active, off: corruptRecOff + 4, mask: 1},
		{rel: active, off: corruptSegSize - 100},
		{rel: walFile, off: 10, mask: 1}, // the first record
	})
}

// TestCorruptOpenKeepsDamagedWALTail: the last tombstone record of a
// cleanly closed store is damaged. Open must report it without cutting it
// off: the manifest's WAL durable mark says it is not a torn tail.
func TestCorruptOpenKeepsDamagedWALTail(t *testing.T) {
	cs := buildCorruptStore(t)
	_, _, walFile, _ := cs.names(t)
	n := len(cs.files[walFile])
	openLeavesDamageAlone(t, cs, []damage{
		{rel: walFile, off: n - 20, mask: 1}, // an ID of the last record
		{rel: walFile, off: n - 3},           // the last record cut short
		{rel: walFile, off: 0},               // every record cut off
	})
}

// TestCorruptTruncatedSegmentErrorGivesOffset: ErrCorrupt's doc promises
// a message naming the file and the offset; a segment file cut short is
// reported with its name and size only.
func TestCorruptTruncatedSegmentErrorGivesOffset(t *testing.T) {
	cs := buildCorruptStore(t)
	active, sealed, _, _ := cs.names(t)
	for _, d := range []damage{{rel: active, off: 5000}, {rel: sealed, off: 0}} {
		dir := filepath.Join(t.TempDir(), "store")
		if _, err := cs.write(dir, d); err != nil {
			t.Fatal(err)
		}
		db, err := openT(t, dir, Options{})
		if err == nil {
			db.Close()
			t.Fatalf("%v: Open succeeded", d)
		}
		if msg := err.Error(); !errors.Is(err, ErrCorrupt) || !strings.Contains(msg, filepath.Base(d.rel)) || !strings.Contains(msg, "offset") {
			t.Errorf("%v: Open: %v; want ErrCorrupt naming the file and an offset", d, err)
		}
	}
}

func idMapsEqual(a, b []IDMap) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Epoch != b[i].Epoch || !runsEqual(a[i].Runs, b[i].Runs) {
			return false
		}
	}
	return true
}

// buildCompactedCorruptStore builds a store that went through one
// committed compaction: the background compactor (garbage ratio 0.5)
// rewrites the two segments over half of whose rows one Delete removes
// into one segment, so the store holds an ID map, and a tombstone checkpoint
// with the deletes of the two segments it kept. More batches and deletes
// follow, so the active segment has several batches and the WAL records
// past the checkpoint.
func buildCompactedCorruptStore(t *testing.T) *corruptStore {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	done := make(chan IDMap, 4)
	db, err := openT(t, dir, Options{
		Dimension: corruptDim, SegmentBytes: testSegmentBytes, CompactionGarbageRatio: 0.5,
		OnCompact: func(m IDMap) { done <- m },
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(13))
	o := newOracle(corruptDim)
	add, del := modelOps(t, db, o, rng)
	add(corruptCap) // A
	add(corruptCap) // B
	add(corruptCap) // C
	add(15)         // D, the active segment
	add(5)
	var half []uint64 // every other row of A and B, the first included: over half of each
	for i := 0; i < corruptCap; i += 2 {
		half = append(half, uint64(i), uint64(corruptCap+i))
	}
	del(append(half, 2*corruptCap+3, 2*corruptCap+40, 3*corruptCap+2)...) // one call: one compaction
	var m IDMap
	select {
	case m = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no background compaction within 30 s")
	}
	o.applyMap(t, m)
	add(3)
	add(4)
	out := m.Runs[0].New // the first row of the compaction's output segment
	del(o.next-1, out+5, 2*corruptCap+7)
	st := db.Stats()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(done) != 0 {
		t.Fatalf("%d more compactions ran", len(done))
	}
	cs := snapshotCorruptStore(t, dir, o)
	cs.total, cs.maps = st.Total, []IDMap{m}

	man := cs.man
	tombs, terr := manifest.ReadTombs(nil, dir, man.Tombs)
	runs, merr := manifest.ReadIDMap(nil, dir, 1)
	var sealed, outputs int
	var active manifest.Segment
	for _, s := range man.Segments {
		if !s.Sealed {
			active = s
			continue
		}
		sealed++
		if s.Runs[0].FirstID == out {
			outputs++
		}
	}
	batches := len(segBatches(cs.files[fmt.Sprintf("%06d.seg", active.Number)]))
	if m.Epoch != 1 || len(m.Runs) < corruptCap-2 || man.Epoch != 1 || len(man.IDMaps) != 1 || man.Tombs == 0 ||
		terr != nil || len(tombs) != 2 || merr != nil || len(runs) != len(m.Runs) ||
		len(man.Segments) != 3 || sealed != 2 || outputs != 1 || active.Capacity == 0 || batches < 3 || man.WALDurable < man.WALCheckpoint {
		t.Fatalf("store shape: map %d runs, manifest %+v, tombs %v (%v), ID map %v, %d batches in the active segment",
			len(m.Runs), man, tombs, terr, merr, batches)
	}
	return cs
}

// TestCorruptCompactedFlipsAndTruncations runs the byte sweep on a store
// after a compaction: the tombstone checkpoint and the ID map (each byte of
// both), the manifest that names them, the compaction's output segment,
// the active segment and the WAL past the checkpoint. A flip or a cut must
// be reported as ErrCorrupt by Open, Verify or IDMapsSince, or be harmless.
func TestCorruptCompactedFlipsAndTruncations(t *testing.T) {
	full := os.Getenv("MEMVEC_CORRUPT_FULL") == "1"
	cs := buildCompactedCorruptStore(t)
	rng := rand.New(rand.NewSource(14))
	var rels []string
	sealed := map[string]bool{}
	for _, s := range cs.man.Segments {
		name := fmt.Sprintf("%06d.seg", s.Number)
		sealed[name] = s.Sealed
		// The output segment (its first ID is a new one) and the active
		// one; the other sealed one is like those of the plain sweep.
		if !s.Sealed || s.Runs[0].FirstID == cs.maps[0].Runs[0].New {
			rels = append(rels, name)
		}
	}
	for rel := range cs.files {
		if k := fileKind(rel); k != "" && k != "segment" {
			rels = append(rels, rel)
		}
	}
	sort.Strings(rels)
	var trials []damage
	counts := map[string]int{}
	for _, rel := range rels {
		k := fileKind(rel)
		counts[k]++
		trials = append(trials, flipsFor(rng, rel, cs.files[rel], sealed[rel], full)...)
		for _, d := range truncationsFor(rng, rel, cs.files[rel], full) {
			d.must = k == "tombs" || k == "idmap" // a shorter framed file fails its length check
			trials = append(trials, d)
		}
	}
	if counts["tombs"] != 1 || counts["idmap"] != 1 || counts["segment"] != 2 || counts["manifest"] != 1 {
		t.Fatalf("files swept: %v (%v)", counts, rels)
	}
	if testing.Short() {
		rng.Shuffle(len(trials), func(i, j int) { trials[i], trials[j] = trials[j], trials[i] })
		trials = trials[:len(trials)/8]
	}
	runCorruptSweep(t, cs, trials)
	t.Logf("files: %v", rels)
}

// TestCorruptCompactedOpenLeavesDamageAlone: a damaged tombstone checkpoint
// fails Open with ErrCorrupt, and Open changes nothing first; a damaged ID
// map opens, and Verify reports it.
func TestCorruptCompactedOpenLeavesDamageAlone(t *testing.T) {
	cs := buildCompactedCorruptStore(t)
	tombs, idmap := manifest.TombsFileName(cs.man.Tombs), manifest.IDMapFileName(1)
	nt, ni := len(cs.files[tombs]), len(cs.files[idmap])
	openLeavesDamageAlone(t, cs, []damage{
		{rel: tombs, off: 3, mask: 1},       // magic
		{rel: tombs, off: 17, mask: 0x80},   // generation
		{rel: tombs, off: nt - 20, mask: 1}, // a bitset word
		{rel: tombs, off: nt - 1, mask: 1},  // checksum
		{rel: tombs, off: nt - 8},           // checksum cut off
		{rel: tombs, off: 0},
		{rel: idmap, off: 9, mask: 1},       // version
		{rel: idmap, off: 40, mask: 4},      // a run
		{rel: idmap, off: ni - 30, mask: 1}, // the last run's length
		{rel: idmap, off: ni - 24},
		{rel: idmap, off: 0},
	})
}

// TestCorruptCompactedIDMapDamage: a damaged ID map leaves the data
// readable and the file as it was (recovery must not drop a file the
// manifest names); IDMapsSince reports ErrCorrupt naming the file, and
// ReleaseIDMaps of its epoch, the application's way out, drops it.
func TestCorruptCompactedIDMapDamage(t *testing.T) {
	cs := buildCompactedCorruptStore(t)
	name := manifest.IDMapFileName(1)
	n := len(cs.files[name])
	for _, d := range []damage{
		{rel: name, off: 20, mask: 1},
		{rel: name, off: n / 2, mask: 0x10},
		{rel: name, off: n - 1},
	} {
		dir := filepath.Join(t.TempDir(), "store")
		damaged, err := cs.write(dir, d)
		if err != nil {
			t.Fatal(err)
		}
		db, err := openT(t, dir, Options{DisableAutoCompaction: true})
		if err != nil {
			t.Fatalf("%v: Open: %v (Open does not need the ID maps)", d, err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, damaged) {
			t.Errorf("%v: Open changed or removed the damaged ID map: %v", d, err)
		}
		if maps, err := db.IDMapsSince(0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: IDMapsSince(0) = %+v, %v; want ErrCorrupt naming %s", d, maps, err, name)
		}
		if maps, err := db.IDMapsSince(1); err != nil || len(maps) != 0 {
			t.Errorf("%v: IDMapsSince(1) = %+v, %v; it need not read the damaged map", d, maps, err)
		}
		for id, want := range cs.o.vecs {
			if got, err := db.Get(id); err != nil || !bitsEqual(got, want) {
				t.Fatalf("%v: Get(%d) = %v, %v", d, id, got, err)
			}
		}
		if err := db.ReleaseIDMaps(1); err != nil {
			t.Fatalf("%v: ReleaseIDMaps(1): %v", d, err)
		}
		if maps, err := db.IDMapsSince(0); err != nil || len(maps) != 0 {
			t.Errorf("%v: after ReleaseIDMaps(1): %+v, %v", d, maps, err)
		}
		if err := db.Verify(context.Background()); err != nil {
			t.Errorf("%v: Verify after the damaged map was released: %v", d, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: released ID map still on disk: %v", d, err)
		}
	}
}
