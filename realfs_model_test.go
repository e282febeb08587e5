package memvec

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// The parent's side of TestRealFSPowerCut: rfReplay folds the child's lines
// into a faultModel (fault_test.go), which checkFaultModel then holds the
// reopened store to; rfReopenChecks adds what a user does next.

type rfReplay struct {
	m       *faultModel
	auto    bool
	maps    map[uint64]IDMap // every map printed, by epoch
	pending []string         // the fields of the intent that has no ack
	hi      uint64           // one past the highest ID any line names
	rows    uint64           // rows of every batch begun
	bad     []string
}

func newRFReplay(c rfCombo) *rfReplay {
	m := newFaultModel()
	m.noSync = c.noSync
	return &rfReplay{m: m, auto: c.auto, maps: map[uint64]IDMap{}}
}

func (r *rfReplay) failf(format string, a ...any) { r.bad = append(r.bad, fmt.Sprintf(format, a...)) }

// now maps IDs of epoch e to the model's current epoch.
func (r *rfReplay) now(ids []uint64, e uint64) []uint64 {
	if e > r.m.epoch {
		r.failf("a line names epoch %d before its map (model at epoch %d)", e, r.m.epoch)
	}
	return translateIDs(ids, r.maps, e, r.m.epoch)
}

// deleteLive deletes from the model the IDs it holds live and returns
// their vectors.
func (r *rfReplay) deleteLive(ids []uint64) map[uint64][]float32 {
	gone := map[uint64][]float32{}
	for _, id := range ids {
		if v, ok := r.m.live[id]; ok {
			gone[id] = v
			delete(r.m.live, id)
		}
	}
	return gone
}

// unsyncedSet returns the IDs of the acknowledged batches not yet synced.
func (r *rfReplay) unsyncedSet() map[uint64]bool {
	set := map[uint64]bool{}
	for _, ids := range r.m.unsynced {
		for _, id := range ids {
			set[id] = true
		}
	}
	return set
}

// unsyncedDel records, under NoSync, a delete a power cut may undo: all of
// it, except that the rows of a batch not yet synced either may be lost
// with their batch, so they go on their own.
func (r *rfReplay) unsyncedDel(gone map[uint64][]float32) {
	if !r.m.noSync || len(gone) == 0 {
		return
	}
	unsynced := r.unsyncedSet()
	group := map[uint64][]float32{}
	for id, v := range gone {
		if unsynced[id] {
			r.m.unsyncedDels = append(r.m.unsyncedDels, map[uint64][]float32{id: v})
		} else {
			group[id] = v
		}
	}
	if len(group) > 0 {
		r.m.unsyncedDels = append(r.m.unsyncedDels, group)
	}
}

// line folds one line in; it returns an error for a line it cannot read.
func (r *rfReplay) line(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return errors.New("empty line")
	}
	u := func(i int) uint64 {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			panic(fmt.Sprintf("line %q: field %d: %v", line, i, err))
		}
		return v
	}
	ids := func(i int) []uint64 {
		v, err := parseIDs(f[i])
		if err != nil {
			panic(fmt.Sprintf("line %q: %v", line, err))
		}
		return v
	}
	m := r.m
	switch f[0] {
	case "ready", "fail":
	case "add-begin", "del-begin", "compact-begin", "sync-begin", "close-begin":
		r.pending = f
		if f[0] == "add-begin" {
			r.rows += u(2)
		}
	case "add": // first n seed
		first, n, seed := u(1), u(2), int64(u(3))
		if len(r.pending) != 3 || r.pending[0] != "add-begin" || r.pending[1] != f[3] || r.pending[2] != f[2] {
			r.failf("ack %q does not match the intent %v", line, r.pending)
		}
		vecs := crashBatch(seed, int(n))
		for i, v := range vecs {
			m.live[first+uint64(i)] = v
		}
		r.hi = max(r.hi, first+n)
		if m.noSync {
			m.unsynced = append(m.unsynced, rangeIDs(first, n))
			m.unsyncedHi = max(m.unsyncedHi, first+n)
		} else {
			m.acked = max(m.acked, first+n)
		}
		r.pending = nil
	case "del": // epoch count ids: exact
		cur := r.now(ids(3), u(1))
		gone := r.deleteLive(cur)
		if cnt := u(2); cnt != uint64(len(gone)) {
			r.failf("Delete(%v) at epoch %d returned %d, the model had %d of them live (%v)", f[3], u(1), cnt, len(gone), cur)
		}
		r.unsyncedDel(gone)
		r.pending = nil
	case "del?": // epoch-before epoch-after ids: IDs moved in between may have been missed
		mid := translateIDs(ids(3), r.maps, u(1), u(2))
		cur := r.now(mid, u(2))
		var sure []uint64
		for i, id := range ids(3) {
			if mid[i] == id {
				sure = append(sure, cur[i])
			} else if _, ok := m.live[cur[i]]; ok {
				m.pendDels = append(m.pendDels, []uint64{cur[i]})
			}
		}
		r.unsyncedDel(r.deleteLive(sure))
		r.pending = nil
	case "del!": // epoch count ids: the retry of an ambiguous delete
		for id, v := range r.deleteLive(r.now(ids(3), u(1))) {
			r.unsyncedDel(map[uint64][]float32{id: v}) // its first try may have taken it
		}
		r.pending = nil
	case "map": // epoch runs
		runs, err := parseRuns(f[2])
		if err != nil {
			return err
		}
		mp := IDMap{Epoch: u(1), Runs: runs}
		if mp.Epoch != m.epoch+1 {
			r.failf("map of epoch %d follows epoch %d", mp.Epoch, m.epoch)
		}
		r.maps[mp.Epoch] = mp
		m.epoch = mp.Epoch
		if err := m.apply(mp); err != nil {
			r.failf("%v", err)
		}
		for _, run := range runs {
			r.hi = max(r.hi, run.New+run.Len)
		}
	case "compact":
		if e := u(1); e > m.epoch {
			r.failf("Compact returned epoch %d, its map was not printed (model at %d)", e, m.epoch)
		}
		r.pending = nil
	case "sync", "close":
		m.synced()
		r.pending = nil
	default:
		return fmt.Errorf("unknown line %q", line)
	}
	return nil
}

func rangeIDs(first, n uint64) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = first + uint64(i)
	}
	return ids
}

// pend records the call whose intent line is f as pending: wholly done
// or not at all.
func (r *rfReplay) pend(f []string) {
	m := r.m
	switch f[0] {
	case "add-begin":
		seed, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.Atoi(f[2])
		m.pendAdds = append(m.pendAdds, crashBatch(seed, n))
	case "del-begin":
		e, _ := strconv.ParseUint(f[1], 10, 64)
		ids, _ := parseIDs(f[2])
		cur := r.now(ids, e)
		// All or nothing, but for two kinds of IDs, each on its own: a
		// row of an unsynced batch may have been lost with its batch,
		// and with auto-compaction a commit may have come between.
		unsynced := r.unsyncedSet()
		var group []uint64
		for _, id := range cur {
			if r.auto || unsynced[id] {
				m.pendDels = append(m.pendDels, []uint64{id})
			} else {
				group = append(group, id)
			}
		}
		if len(group) > 0 {
			m.pendDels = append(m.pendDels, group)
		}
	case "compact-begin":
		m.pendCompacts++
	}
}

// finish turns the intent left without an ack into the model's pending
// calls.
func (r *rfReplay) finish() {
	m := r.m
	if r.pending != nil {
		r.pend(r.pending)
	}
	// A row that a pending delete may have taken is no proof that its
	// unsynced batch was torn: the batch's all-or-nothing check leaves it
	// out (the pending delete accounts for it).
	maybe := map[uint64]bool{}
	for _, ids := range m.pendDels {
		for _, id := range ids {
			maybe[id] = true
		}
	}
	for i, ids := range m.unsynced {
		var keep []uint64
		for _, id := range ids {
			if !maybe[id] {
				keep = append(keep, id)
			}
		}
		m.unsynced[i] = keep
	}
	if r.auto {
		m.pendCompacts += 1 << 20 // background compactions the child never saw commit
	}
	// Above every ID the store may have handed out: compactions and a
	// pending batch take IDs past the last one a line names.
	m.bound = max(r.hi, m.unsyncedHi) + 2*r.rows + rfMaxBatch
}

// rfReopenChecks reopens the store with default options and does what a
// user does next: it adds vectors, which must read back (a checkpoint that
// named rows a cut took would make them be born deleted), and compacts,
// which must return and keep every vector.
//
// It also returns how many vectors the reopened store held.
func rfReopenChecks(dir string, rng *rand.Rand) (bad []string, found int) {
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	ctx := context.Background()
	// The state, read with the compactor off so that IDs stay put.
	db, err := Open(dir, Options{DisableAutoCompaction: true})
	if err != nil {
		return []string{fmt.Sprintf("reopen: %v", err)}, 0
	}
	if err := checkStore(db, dir, nil, true); err != nil {
		fail("structural check: %v", err)
	}
	st := db.Stats()
	want := map[uint64][]float32{}
	var top uint64 // one past the highest live ID
	for id := range st.NextID + rfMaxBatch {
		if v, err := db.Get(id); err == nil {
			want[id], top = v, id+1
		}
	}
	db.Close()
	found = len(want)
	if st.Live != uint64(len(want)) || st.Live > st.Total || st.Total != st.Live+st.Deleted {
		return []string{fmt.Sprintf("reopened: stats %+v, Get finds %d IDs", st, len(want))}, found
	}

	db, err = Open(dir, Options{})
	if err != nil {
		return []string{fmt.Sprintf("reopen with default options: %v", err)}, found
	}
	vecs := randVecs(rng, 5, crashDim)
	ids, err := db.Add(vecs)
	if err != nil {
		db.Close()
		return []string{fmt.Sprintf("Add after reopen: %v", err)}, found
	}
	for i, id := range ids {
		got, err := db.Get(id)
		if err != nil || !bitsEqual(got, vecs[i]) {
			fail("Add after reopen returned ID %d, Get says %v, %v", id, got, err)
		}
		if id < top {
			fail("Add after reopen returned ID %d, below live ID %d", id, top-1)
		}
		want[id] = vecs[i]
	}
	if s := db.Stats(); s.Live != uint64(len(want)) {
		fail("after adding 5: stats %+v, want %d live", s, len(want))
	}
	if len(bad) > 0 {
		// Compact on such a store has been seen to spin under its lock.
		db.Close()
		return bad, found
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.Compact(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			fail("Compact after reopen: %v", err)
		}
	case <-time.After(time.Minute):
		return append(bad, "Compact after reopen did not return within a minute (the store is left open)"), found
	}
	if err := db.Close(); err != nil {
		fail("Close: %v", err)
	}

	// Every vector still there, once, at the ID the maps give it.
	db, err = Open(dir, Options{DisableAutoCompaction: true})
	if err != nil {
		return append(bad, fmt.Sprintf("reopen after Compact: %v", err)), found
	}
	defer db.Close()
	maps, err := db.IDMapsSince(st.Epoch)
	if err != nil {
		return append(bad, fmt.Sprintf("IDMapsSince: %v", err)), found
	}
	for _, mp := range maps {
		want = remapped(want, mp)
	}
	for id, v := range want {
		if got, err := db.Get(id); err != nil || !bitsEqual(got, v) {
			fail("after Compact: Get(%d) = %v, %v; want %v", id, got, err, v)
		}
	}
	if s := db.Stats(); s.Live != uint64(len(want)) || s.Total != s.Live+s.Deleted {
		fail("after Compact: stats %+v, want %d live", s, len(want))
	}
	if err := db.Verify(ctx); err != nil {
		fail("Verify after Compact: %v", err)
	}
	return bad, found
}
