package memvec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// The fault-injection test. A base store is built once; every case copies
// it, opens the copy through a vfs.Fault, runs one phase of work (Open, a
// few Adds, a Delete, a Compact, Close, ReleaseIDMaps) with one operation
// failed (the n-th write, sync, rename, ... of the phase, with EIO or
// ENOSPC, as a short write or as a failure reported after the operation
// took effect), and checks that
//
//   - the failing call returns an error wrapping the injected errno;
//   - the store is then either usable (the rest of a workload succeeds) or
//     read-only with one sticky error that every later write returns, and
//     it must be read-only after a failed sync of the manifest or of a
//     segment that held acknowledged rows (fsyncgate);
//   - reads still serve every acknowledged vector;
//   - a failed compaction leaves no file behind;
//   - reopened on the real file system, the store passes Verify and holds
//     exactly the acknowledged state (checkFaultModel), the failed call
//     being wholly applied or wholly absent.
//
// Every n of every kind of operation each phase performs is tried (a dry
// run counts them first). MEMVEC_FAULT_FULL=1 tries every variant of each,
// not one per n.

// ------------------------------------------------------------ the model --

// faultModel is the acknowledged state of a store and what may or may not
// have happened to the calls that failed (or were cut by a crash).
type faultModel struct {
	live  map[uint64][]float32
	epoch uint64 // compactions acknowledged
	// acked is one past the highest ID ever acknowledged (by Add or by
	// Compact's map); bound is above every ID the store may have handed out.
	acked, bound uint64
	// Calls that returned an error or never returned: each one is wholly
	// applied or wholly absent after a reopen.
	pendAdds     [][][]float32
	pendDels     [][]uint64
	pendCompacts int
	// With Options.NoSync, acknowledged calls are durable only once a
	// later Sync or Close returns: until then a power cut may undo each of
	// them wholly. unsynced holds the IDs of such Adds, unsyncedDels the
	// vectors of such Deletes; unsyncedHi is one past their highest ID.
	noSync       bool
	unsynced     [][]uint64
	unsyncedDels []map[uint64][]float32
	unsyncedHi   uint64
}

func newFaultModel() *faultModel { return &faultModel{live: map[uint64][]float32{}} }

func (m *faultModel) clone() *faultModel {
	c := *m
	c.live = make(map[uint64][]float32, len(m.live))
	for id, v := range m.live {
		c.live[id] = v
	}
	c.pendAdds = append([][][]float32(nil), m.pendAdds...)
	c.pendDels = append([][]uint64(nil), m.pendDels...)
	c.unsynced = append([][]uint64(nil), m.unsynced...)
	c.unsyncedDels = append([]map[uint64][]float32(nil), m.unsyncedDels...)
	return &c
}

// synced records that a Sync or Close returned: every acknowledged call
// is durable.
func (m *faultModel) synced() {
	m.acked = max(m.acked, m.unsyncedHi)
	m.unsynced, m.unsyncedDels = nil, nil
}

func (m *faultModel) pending() bool {
	return len(m.pendAdds) > 0 || len(m.pendDels) > 0 || m.pendCompacts > 0
}

func (m *faultModel) liveIDs() []uint64 {
	ids := make([]uint64, 0, len(m.live))
	for id := range m.live {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// add runs db.Add(vecs) and records its outcome.
func (m *faultModel) add(db *DB, vecs [][]float32) error {
	m.bound += uint64(len(vecs))
	ids, err := db.Add(vecs)
	if err != nil {
		m.pendAdds = append(m.pendAdds, vecs)
		return err
	}
	for i, id := range ids {
		m.live[id] = vecs[i]
	}
	if m.noSync {
		m.unsynced = append(m.unsynced, ids)
		m.unsyncedHi = max(m.unsyncedHi, ids[len(ids)-1]+1)
	} else {
		m.acked = max(m.acked, ids[len(ids)-1]+1)
	}
	return nil
}

// del runs db.Delete(ids) and records its outcome.
func (m *faultModel) del(db *DB, ids []uint64) error {
	n, err := db.Delete(ids)
	if err != nil {
		m.pendDels = append(m.pendDels, ids)
		return err
	}
	want := 0
	gone := map[uint64][]float32{}
	for _, id := range ids {
		if v, ok := m.live[id]; ok {
			gone[id] = v
			delete(m.live, id)
			want++
		}
	}
	if m.noSync && len(gone) > 0 {
		m.unsyncedDels = append(m.unsyncedDels, gone)
	}
	if n != want {
		return fmt.Errorf("Delete(%v) = %d, the model says %d were live", ids, n, want)
	}
	return nil
}

// compact runs db.Compact and records its outcome.
func (m *faultModel) compact(db *DB) error {
	m.bound += uint64(len(m.live))
	for _, b := range m.pendAdds {
		m.bound += uint64(len(b))
	}
	mp, err := db.Compact(context.Background())
	if err != nil {
		m.pendCompacts++
		return err
	}
	if mp.Epoch == 0 {
		return nil
	}
	if mp.Epoch != m.epoch+1 {
		return fmt.Errorf("Compact: epoch %d after %d", mp.Epoch, m.epoch)
	}
	m.epoch = mp.Epoch
	return m.apply(mp)
}

// apply moves the model's IDs as map mp says.
func (m *faultModel) apply(mp IDMap) error {
	moved := map[uint64][]float32{}
	for id, v := range m.live {
		if nid, ok := mp.Lookup(id); ok {
			moved[nid] = v
			delete(m.live, id)
			m.acked = max(m.acked, nid+1)
		}
	}
	for id, v := range moved {
		if _, ok := m.live[id]; ok {
			return fmt.Errorf("epoch %d moves an ID onto live ID %d", mp.Epoch, id)
		}
		m.live[id] = v
	}
	// Pending deletes and unsynced batches follow their IDs. (A compaction
	// syncs what it moves, but keeping a moved batch "unsynced" only
	// makes the check more lenient.)
	remap := func(ids []uint64) []uint64 {
		out := make([]uint64, len(ids))
		for j, id := range ids {
			out[j] = id
			if nid, ok := mp.Lookup(id); ok {
				out[j] = nid
			}
		}
		return out
	}
	for i, ids := range m.pendDels {
		m.pendDels[i] = remap(ids)
	}
	for i, ids := range m.unsynced {
		m.unsynced[i] = remap(ids)
		for _, id := range m.unsynced[i] {
			m.unsyncedHi = max(m.unsyncedHi, id+1)
		}
	}
	return nil
}

// checkFaultModel reopens the store in dir on the real file system and
// returns every way it differs from m (none: it holds exactly the
// acknowledged state, each pending call wholly applied or wholly absent).
// It also checks that a new Add gets an ID above every acknowledged one,
// even, with NoSync, the IDs of acknowledged Adds that a power cut lost
// before any Sync (Options.NoSync: they are reserved in the manifest).
func checkFaultModel(dir string, m *faultModel, rng *rand.Rand) (bad []string) {
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	db, err := Open(dir, Options{SegmentBytes: testSegmentBytes, DisableAutoCompaction: true})
	if err != nil {
		fail("reopen: %v", err)
		return bad
	}
	if err := checkStore(db, dir, nil, true); err != nil {
		fail("structural check: %v", err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Verify(ctx); err != nil {
		fail("Verify: %v", err)
	}
	m = m.clone()
	st := db.Stats()
	if st.Epoch < m.epoch || st.Epoch > m.epoch+uint64(m.pendCompacts) {
		fail("epoch %d; acknowledged %d with %d compactions pending", st.Epoch, m.epoch, m.pendCompacts)
	} else if st.Epoch > m.epoch {
		maps, err := db.IDMapsSince(m.epoch)
		if err != nil {
			fail("IDMapsSince(%d): %v", m.epoch, err)
		}
		for _, mp := range maps {
			if err := m.apply(mp); err != nil {
				fail("%v", err)
			}
			m.bound += uint64(len(m.live))
		}
	}
	found := map[uint64][]float32{}
	for id := uint64(0); id < m.bound+8; id++ {
		v, err := db.Get(id)
		switch {
		case err == nil:
			found[id] = v
		case !errors.Is(err, ErrNotFound):
			fail("Get(%d): %v", id, err)
		}
	}
	// Acknowledged vectors: there, bit for bit, unless a pending delete
	// took them (all of its IDs, then).
	var missing []uint64
	for id, want := range m.live {
		got, ok := found[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case !bitsEqual(got, want):
			fail("ID %d reads back %v, acknowledged %v", id, got, want)
		}
	}
	// wholly checks that the IDs of ids the model holds live are all
	// still in the store or all gone (then no longer missing); format
	// reports the failure, of ids, the gone and the live.
	wholly := func(format string, ids []uint64) {
		gone, live := 0, 0
		for _, id := range ids {
			if _, ok := m.live[id]; !ok {
				continue
			}
			live++
			if _, ok := found[id]; !ok {
				gone++
			}
		}
		if gone != 0 && gone != live {
			fail(format, ids, gone, live)
		}
		if gone == live {
			for _, id := range ids {
				missing = slicesDelete(missing, id) // missing holds only live IDs
			}
		}
	}
	// NoSync: an acknowledged but unsynced batch may be lost, wholly.
	for _, ids := range m.unsynced {
		wholly("unsynced batch %v lost %d of its %d live IDs", ids)
	}
	for _, ids := range m.pendDels {
		wholly("pending delete %v applied to %d of its %d live IDs", ids)
	}
	if len(missing) > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
		fail("acknowledged IDs lost: %v", missing)
	}
	// Anything else must be an unsynced Delete undone, or a pending Add,
	// whole.
	extra := map[uint64]bool{}
	for id := range found {
		if _, ok := m.live[id]; !ok {
			extra[id] = true
		}
	}
	for _, gone := range m.unsyncedDels {
		back := 0
		for id, v := range gone {
			if extra[id] && bitsEqual(found[id], v) {
				back++
			}
		}
		if back == 0 {
			continue
		}
		if back != len(gone) {
			fail("unsynced delete of %d IDs undone for %d of them", len(gone), back)
		}
		for id := range gone {
			delete(extra, id)
		}
	}
	for _, vecs := range m.pendAdds {
		for id := range extra {
			j := -1
			for k, v := range vecs {
				if bitsEqual(found[id], v) {
					j = k
				}
			}
			if j < 0 || id < uint64(j) {
				continue
			}
			first := id - uint64(j)
			for k, v := range vecs {
				if got, ok := found[first+uint64(k)]; !ok || !bitsEqual(got, v) {
					fail("pending add of %d vectors partly applied: row %d is not at ID %d", len(vecs), k, first+uint64(k))
				}
				delete(extra, first+uint64(k))
			}
			break
		}
	}
	if len(extra) > 0 {
		var ids []uint64
		for id := range extra {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		fail("IDs %v read back but were never acknowledged (deleted, moved or never added)", ids)
	}
	if st.Live != uint64(len(found)) || st.Total != st.Live+st.Deleted {
		fail("stats %+v, %d IDs found", st, len(found))
	}
	// No file outside the manifest.
	if man, err := manifest.Load(nil, dir); err == nil {
		listed := man.Files()
		listed[manifest.FileName], listed["LOCK"], listed["wal"] = true, true, true
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !listed[e.Name()] {
				fail("file %s lies outside the manifest after a reopen", e.Name())
			}
		}
	}
	// A new ID is above every one acknowledged (and made durable, under
	// NoSync) or found.
	hi := m.acked
	for id := range found {
		hi = max(hi, id+1)
	}
	ids, err := db.Add(randVecs(rng, 1, crashDim))
	if err != nil {
		fail("Add after reopen: %v", err)
	} else if ids[0] < hi {
		fail("Add after reopen got ID %d; ID %d was acknowledged or is live", ids[0], hi-1)
	} else if ids[0] < m.unsyncedHi {
		// NoSync reserves IDs durably before handing them out, so even
		// the IDs of an acknowledged batch that the cut took are skipped.
		fail("Add after reopen got ID %d; acknowledged (unsynced, lost) IDs reached %d: handed out again", ids[0], m.unsyncedHi-1)
	}
	return bad
}

func slicesDelete(s []uint64, v uint64) []uint64 {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// copyStore copies the directory tree src to dst.
func copyStore(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func faultOptions(fsys vfs.FS) Options {
	return Options{Dimension: crashDim, SegmentBytes: testSegmentBytes, DisableAutoCompaction: true, fs: fsys}
}

// ---------------------------------------------------------- the phases --

// faultCase is one run: a copy of the base store, its Fault and model.
type faultCase struct {
	dir string
	f   *vfs.Fault
	db  *DB
	m   *faultModel
	rng *rand.Rand
}

// faultPhase is a piece of work to inject faults into. pre runs without
// faults after the store is open (unless the phase is the Open itself);
// run is the work under test and returns the first error.
type faultPhase struct {
	name string
	open bool // run opens the store (c.db is nil before)
	pre  func(c *faultCase) error
	run  func(c *faultCase) error
}

func faultPhases() []faultPhase {
	return []faultPhase{
		{name: "Open", open: true, run: func(c *faultCase) error {
			db, err := Open(c.dir, faultOptions(c.f))
			c.db = db
			return err
		}},
		{name: "Add", run: func(c *faultCase) error {
			// fits the active segment; needs a new one; needs two
			for _, n := range []int{3, 30, 50} {
				if err := c.m.add(c.db, randVecs(c.rng, n, crashDim)); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "Delete", run: func(c *faultCase) error {
			ids := c.m.liveIDs()
			return c.m.del(c.db, []uint64{ids[0], ids[len(ids)/2], ids[len(ids)/2], 1 << 40})
		}},
		{name: "Compact", pre: func(c *faultCase) error {
			ids := c.m.liveIDs()
			return c.m.del(c.db, []uint64{ids[1], ids[len(ids)-2]})
		}, run: func(c *faultCase) error {
			return c.m.compact(c.db)
		}},
		{name: "Close", pre: func(c *faultCase) error {
			return c.m.add(c.db, randVecs(c.rng, 2, crashDim))
		}, run: func(c *faultCase) error {
			err := c.db.Close()
			c.db = nil
			return err
		}},
		{name: "ReleaseIDMaps", run: func(c *faultCase) error {
			return c.db.ReleaseIDMaps(c.m.epoch)
		}},
	}
}

// buildFaultBase makes the store every case starts from: sealed and active
// segments, deletes, one compaction (a tombstone checkpoint and an ID map),
// more deletes in the WAL, and the leftovers of a crash for Open to remove
// (a stale MANIFEST.tmp and an orphan segment).
func buildFaultBase(t *testing.T) (string, *faultModel) {
	dir := filepath.Join(t.TempDir(), "base")
	rng := rand.New(rand.NewSource(1))
	db, err := openT(t, dir, faultOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	m := newFaultModel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{20, 20, 20, 10} {
		must(m.add(db, randVecs(rng, n, crashDim)))
	}
	ids := m.liveIDs()
	must(m.del(db, []uint64{ids[2], ids[25], ids[26], ids[44]}))
	must(m.compact(db))
	must(m.add(db, randVecs(rng, 4, crashDim)))
	ids = m.liveIDs()
	must(m.del(db, []uint64{ids[3], ids[len(ids)-1]}))
	must(db.Close())
	// A torn batch at the end of the active segment: its record is cut
	// short, so Open must cut it off (zeroing it) and sync.
	f := vfs.NewFault(nil, 1)
	f.SetHook(vfs.Nth(vfs.OpWrite, ".seg", 3, vfs.Decision{Err: syscall.EIO, Short: 20}))
	if db, err = openT(t, dir, faultOptions(f)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(randVecs(rng, 2, crashDim)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the torn Add returned %v", err)
	}
	db.Close()
	m.bound += 2
	must(os.WriteFile(filepath.Join(dir, manifest.FileName+".tmp"), []byte("stale"), 0o644))
	must(os.WriteFile(filepath.Join(dir, segment.FileName(999)), []byte("orphan"), 0o644))
	m.bound = max(m.bound, 999) // the orphan's number is no ID, but keep the scan generous
	return dir, m
}

// faultVariant is one way to fail an operation.
type faultVariant struct {
	err   syscall.Errno
	short bool // writes: half the bytes, then the error
	after bool // the operation takes effect, then the error
}

func (v faultVariant) String() string {
	s := v.err.Error()
	if v.short {
		s += ", short"
	}
	if v.after {
		s += ", after"
	}
	return s
}

func faultVariants(k vfs.Kind) []faultVariant {
	switch k {
	case vfs.OpWrite:
		return []faultVariant{{err: syscall.EIO}, {err: syscall.ENOSPC, short: true}, {err: syscall.ENOSPC}}
	case vfs.OpSync, vfs.OpDatasync, vfs.OpSyncDir, vfs.OpRename:
		return []faultVariant{{err: syscall.EIO}, {err: syscall.EIO, after: true}}
	case vfs.OpOpen, vfs.OpPreallocate, vfs.OpMkdir:
		return []faultVariant{{err: syscall.ENOSPC}, {err: syscall.EIO}}
	}
	return []faultVariant{{err: syscall.EIO}}
}

// eachFault calls try once for every fault to inject into a phase that
// performed counts operations of each kind (its run without faults): the
// n-th operation of every kind k, failed in one of k's variants (chosen by
// n), or in every variant with MEMVEC_FAULT_FULL=1.
func eachFault(counts map[vfs.Kind]int, try func(k vfs.Kind, n int, v faultVariant)) {
	full := os.Getenv("MEMVEC_FAULT_FULL") != ""
	for i := 0; i < 32; i++ {
		k := vfs.Kind(1) << i
		for n := 1; n <= counts[k]; n++ {
			vs := faultVariants(k)
			if !full {
				vs = vs[(n-1)%len(vs) : (n-1)%len(vs)+1]
			}
			for _, v := range vs {
				try(k, n, v)
			}
		}
	}
}

// faultInjector is the hook of a fault case: while armed, it counts the
// operations of each kind and fails the n-th of kind k as v (k == 0:
// none), recording it in hit. The hook runs on the goroutine of each
// operation, and Open opens sealed segments on several at once: mu
// guards the counts.
type faultInjector struct {
	mu     sync.Mutex
	counts map[vfs.Kind]int
	armed  bool
	hit    *vfs.Event
}

// injectFault sets f's hook to a new faultInjector, disarmed.
func injectFault(f *vfs.Fault, k vfs.Kind, n int, v faultVariant) *faultInjector {
	in := &faultInjector{counts: map[vfs.Kind]int{}}
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		if !in.armed {
			return vfs.Decision{}
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		in.counts[ev.Kind]++
		if ev.Kind != k || in.counts[k] != n {
			return vfs.Decision{}
		}
		in.hit = &ev
		d := vfs.Decision{Err: v.err, After: v.after}
		if v.short {
			d.Short = ev.Len / 2
		}
		return d
	})
	return in
}

// faultStats are the figures the test logs.
type faultStats struct {
	cases, injected, survived, sticky, usable, tolerated int
}

func TestFaultInjection(t *testing.T) {
	base, baseModel := buildFaultBase(t)
	var total faultStats
	start := time.Now()
	for _, ph := range faultPhases() {
		t.Run(ph.name, func(t *testing.T) {
			counts := runFaultPhase(t, base, baseModel, ph, 0, 0, faultVariant{}, nil)
			var st faultStats
			eachFault(counts, func(k vfs.Kind, n int, v faultVariant) {
				runFaultPhase(t, base, baseModel, ph, k, n, v, &st)
			})
			t.Logf("%s: operations per run %v; %d cases, %d faults injected, %d survived (%d left the store read-only, %d usable, %d tolerated without an error)",
				ph.name, formatCounts(counts), st.cases, st.injected, st.survived, st.sticky, st.usable, st.tolerated)
			total.cases += st.cases
			total.injected += st.injected
			total.survived += st.survived
			total.sticky += st.sticky
			total.usable += st.usable
			total.tolerated += st.tolerated
		})
	}
	t.Logf("total: %d cases, %d faults injected, %d survived (%d read-only, %d usable, %d tolerated) in %v",
		total.cases, total.injected, total.survived, total.sticky, total.usable, total.tolerated, time.Since(start).Round(time.Millisecond))
}

func formatCounts(c map[vfs.Kind]int) string {
	var parts []string
	for i := 0; i < 32; i++ {
		if n := c[vfs.Kind(1)<<i]; n > 0 {
			parts = append(parts, fmt.Sprintf("%v:%d", vfs.Kind(1)<<i, n))
		}
	}
	return strings.Join(parts, " ")
}

// runFaultPhase runs phase ph on a fresh copy of the base store with the
// n-th operation of kind k failed as v (k == 0: no fault; it then returns
// how many operations of each kind the phase did), checks the outcome and
// adds to st.
func runFaultPhase(t *testing.T, base string, baseModel *faultModel, ph faultPhase, k vfs.Kind, n int, v faultVariant, st *faultStats) map[vfs.Kind]int {
	t.Helper()
	name := fmt.Sprintf("%s: %v #%d (%v)", ph.name, k, n, v)
	c := &faultCase{
		dir: filepath.Join(t.TempDir(), "s"),
		f:   vfs.NewFault(nil, uint64(n)),
		m:   baseModel.clone(),
		rng: rand.New(rand.NewSource(int64(n)*31 + int64(k))),
	}
	copyStore(t, base, c.dir)
	in := injectFault(c.f, k, n, v)
	counts := in.counts
	var bad []string
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	defer func() {
		if c.db != nil {
			c.db.Close()
		}
		if k == 0 {
			if len(bad) > 0 {
				t.Fatalf("%s: the run without faults failed:\n  %s", name, strings.Join(bad, "\n  "))
			}
			return
		}
		st.cases++
		if in.hit != nil {
			st.injected++
		}
		if len(bad) > 0 {
			t.Errorf("%s:\n  %s", name, strings.Join(bad, "\n  "))
			return
		}
		st.survived++
	}()

	// Files that held acknowledged rows before the phase: a failed sync
	// of one of them (or of the manifest) must leave the store read-only.
	old := map[string]bool{}
	if entries, err := os.ReadDir(base); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".seg") && e.Name() != segment.FileName(999) {
				old[e.Name()] = true
			}
		}
	}
	if !ph.open {
		db, err := openT(t, c.dir, faultOptions(c.f))
		if err != nil {
			fail("open: %v", err)
			return counts
		}
		c.db = db
		if ph.pre != nil {
			if err := ph.pre(c); err != nil {
				fail("before the phase: %v", err)
				return counts
			}
		}
	}
	in.armed = true
	err := ph.run(c)
	in.armed = false
	if k == 0 {
		if err != nil {
			fail("%v", err)
		}
	} else if in.hit == nil {
		return counts // the phase took another path this time
	} else if err != nil && !errors.Is(err, v.err) {
		fail("the phase failed with %v, which does not wrap the injected %v", err, v.err)
	}
	hit := in.hit
	mustStick := err != nil && hit != nil && (hit.Kind&(vfs.OpSync|vfs.OpDatasync|vfs.OpRename) != 0) &&
		(strings.Contains(filepath.Base(hit.Path), manifest.FileName) || old[filepath.Base(hit.Path)])
	if k != 0 && err == nil {
		st.tolerated++
	}

	if c.db != nil {
		// Reads serve every acknowledged vector whatever happened.
		for id, want := range c.m.live {
			if got, err := c.db.Get(id); err != nil || !bitsEqual(got, want) {
				fail("after the phase, Get(%d) = %v, %v", id, got, err)
				break
			}
		}
		// Read-only (one sticky error for every write), or usable.
		probe := c.m.add(c.db, randVecs(c.rng, 1, crashDim))
		if probe != nil {
			if k != 0 {
				st.sticky++
			}
			if !errors.Is(probe, v.err) {
				fail("read-only with %v, which does not wrap the injected %v", probe, v.err)
			}
			ids := c.m.liveIDs()
			for what, e := range map[string]error{
				"Add":           c.m.add(c.db, randVecs(c.rng, 40, crashDim)),
				"Delete":        c.m.del(c.db, ids[:1]),
				"Sync":          c.db.Sync(),
				"ReleaseIDMaps": c.db.ReleaseIDMaps(c.m.epoch + 1),
			} {
				if !errors.Is(e, probe) {
					fail("read-only store: %s returned %v, not the sticky %v", what, e, probe)
				}
			}
			if _, e := c.db.Compact(context.Background()); !errors.Is(e, probe) && e != nil {
				fail("read-only store: Compact returned %v, not the sticky %v", e, probe)
			}
		} else {
			if k != 0 {
				st.usable++
			}
			if mustStick {
				fail("a failed %v of %s left the store writable", hit.Kind, hit.Path)
			}
			if ph.name == "Compact" && err != nil {
				if stray := strayFiles(c.dir); len(stray) > 0 {
					fail("the failed compaction left %v", stray)
				}
			}
			ids := c.m.liveIDs()
			for _, e := range []error{
				c.m.add(c.db, randVecs(c.rng, 37, crashDim)),
				c.m.del(c.db, []uint64{ids[0], ids[len(ids)/3], ids[len(ids)-1]}),
				c.m.compact(c.db),
				c.m.add(c.db, randVecs(c.rng, 2, crashDim)),
			} {
				if e != nil {
					fail("usable store: %v", e)
				}
			}
		}
		cerr := c.db.Close()
		c.db = nil
		if probe == nil && cerr != nil {
			fail("Close of a usable store: %v", cerr)
		}
	}
	// (A failed Open must have released the lock: checkFaultModel opens.)
	more := checkFaultModel(c.dir, c.m, c.rng)
	bad = append(bad, more...)
	return counts
}

// strayFiles lists the store files in dir that its manifest does not name.
func strayFiles(dir string) []string {
	man, err := manifest.Load(nil, dir)
	if err != nil {
		return []string{"(manifest: " + err.Error() + ")"}
	}
	listed := man.Files()
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if (strings.HasSuffix(n, ".seg") || strings.HasSuffix(n, ".tombs") || strings.HasSuffix(n, ".idmap") || strings.HasSuffix(n, ".tmp")) && !listed[n] {
			out = append(out, n)
		}
	}
	return out
}
