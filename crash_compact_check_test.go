package memvec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memvec/memvec/manifest"
)

// The checks of the kill -9 test of compaction: a round's events folded
// into the model, which the reopened store must match.

// resolve folds one round into the model: it merges the maps printed and
// those on disk, replays the events in every order the epochs allow, and
// keeps the candidate the reopened store matches. It returns the details
// for the log; any inconsistency fails the test.
func (m *ccModel) resolve(t *testing.T, db *DB, evs []*ccEvent, pending *ccEvent, auto bool, rng *rand.Rand) ccRoundInfo {
	t.Helper()
	var info ccRoundInfo
	start := m.w.epoch
	st := db.Stats()
	final := st.Epoch
	if final < start {
		t.Fatalf("epoch went backwards: the store is at epoch %d, epoch %d was acked", final, start)
	}
	kept, err := db.IDMapsSince(0)
	if err != nil {
		t.Fatalf("IDMapsSince(0): %v", err)
	}

	// Every map of the epochs since the last round: printed, or on disk.
	known := map[uint64]IDMap{}
	printed := map[uint64]bool{}
	last := start
	for _, ev := range evs {
		switch {
		case ev.op == "ready":
			if ev.epoch < start || ev.epoch > final || (!auto && ev.epoch != start) {
				t.Fatalf("child opened the store at epoch %d; acked %d, store now %d", ev.epoch, start, final)
			}
		case ev.op == "compact" && ev.epoch == 0:
			if ev.e1 != ev.e0 && !auto {
				t.Fatalf("%q: an empty compaction changed the epoch", ev.line)
			}
		case ev.op == "compact" || ev.op == "map":
			if ev.op == "compact" && (ev.epoch <= ev.e0 || ev.epoch > ev.e1 || (!auto && ev.epoch != ev.e0+1)) {
				t.Fatalf("%q: compaction epoch %d outside the epochs %d..%d around the call", ev.line, ev.epoch, ev.e0, ev.e1)
			}
			if ev.epoch <= start || ev.epoch > final {
				t.Fatalf("%q: acked compaction of epoch %d, but the store is at epoch %d (acked before: %d)", ev.line, ev.epoch, final, start)
			}
			mp := IDMap{Epoch: ev.epoch, Runs: ev.runs}
			if prev, ok := known[ev.epoch]; ok {
				// Compact's ack of the map its OnCompact printed: maps of
				// later background compactions may have come between.
				if !runsEqual(prev.Runs, mp.Runs) {
					t.Fatalf("epoch %d: OnCompact and Compact gave different maps:\n%s\n%s", ev.epoch, formatRuns(prev.Runs), formatRuns(mp.Runs))
				}
				continue
			}
			if ev.epoch < last {
				t.Fatalf("%q: maps printed out of epoch order (after %d)", ev.line, last)
			}
			last = ev.epoch
			known[ev.epoch], printed[ev.epoch] = mp, true
		}
	}
	for _, km := range kept {
		if km.Epoch <= start {
			continue
		}
		if p, ok := known[km.Epoch]; ok {
			if !runsEqual(p.Runs, km.Runs) {
				t.Fatalf("epoch %d: the map on disk differs from the one acked:\n%s\n%s", km.Epoch, formatRuns(km.Runs), formatRuns(p.Runs))
			}
			continue
		}
		known[km.Epoch] = km
		info.unacked++
	}
	for e := start + 1; e <= final; e++ {
		mp, ok := known[e]
		if !ok {
			t.Fatalf("the store is at epoch %d, but the map of epoch %d was neither acked nor is on disk (kept: %d maps)", final, e, len(kept))
		}
		if err := checkMapShape(mp); err != nil {
			t.Fatal(err)
		}
		// Reserved after the child started, so above every ID known then.
		if len(mp.Runs) > 0 && mp.Runs[0].New < m.w.o.next {
			t.Fatalf("map of epoch %d hands out IDs from %d, below the next ID %d known before the round", e, mp.Runs[0].New, m.w.o.next)
		}
		if n := len(mp.Runs); n > 0 {
			if err := m.assigned.add(mp.Runs[0].New, mp.Runs[n-1].New+mp.Runs[n-1].Len); err != nil {
				t.Fatalf("map of epoch %d: %v", e, err)
			}
		}
	}

	// Replay, branching where a call straddled a commit.
	worlds := []*ccWorld{m.w.clone("")}
	var dropped []string
	keep := func(next []*ccWorld) {
		seen := map[string]bool{}
		worlds = worlds[:0]
		for _, w := range next {
			if k := w.key(); !seen[k] {
				seen[k] = true
				worlds = append(worlds, w)
			}
		}
		if len(worlds) == 0 {
			t.Fatalf("no state of the store explains the child's lines; the candidates failed with:\n%s", strings.Join(dropped, "\n"))
		}
		if len(worlds) > ccMaxWorlds {
			t.Fatalf("%d candidate states: the model cannot tell them apart", len(worlds))
		}
		info.worlds = max(info.worlds, len(worlds))
	}
	drop := func(w *ccWorld, ev *ccEvent, err error) {
		dropped = append(dropped, fmt.Sprintf("  after %q (choices %v): %v", ev.line, w.why, err))
	}
	// branchDelete runs a delete at every epoch in [e0, e1], and not at
	// all if optional; want < 0 means the count is unknown.
	branchDelete := func(ev *ccEvent, e1 uint64, want int, optional bool) {
		var next []*ccWorld
		if e1 > ev.e0 || optional {
			info.ambiguous++
		}
		for _, w := range worlds {
			if err := w.advance(ev.e0, known); err != nil {
				drop(w, ev, err)
				continue
			}
			if optional {
				next = append(next, w.clone("delete not done"))
			}
			for s := ev.e0; s <= e1; s++ {
				c := w
				if s < e1 || optional {
					c = w.clone(fmt.Sprintf("delete at epoch %d", s))
				}
				if err := c.advance(s, known); err != nil {
					drop(c, ev, err)
					continue
				}
				if got := c.del(ev.ids); want >= 0 && got != want {
					drop(c, ev, fmt.Errorf("Delete returned %d, this candidate says %d were live", want, got))
					continue
				}
				next = append(next, c)
			}
		}
		keep(next)
	}
	for _, ev := range evs {
		switch ev.op {
		case "add":
			if err := m.assigned.add(ev.first, ev.first+uint64(ev.n)); err != nil {
				t.Fatalf("%q: %v", ev.line, err)
			}
			vecs := crashBatch(ev.seed, ev.n)
			var next []*ccWorld
			for _, w := range worlds {
				if err := w.advance(ev.e0, known); err != nil {
					drop(w, ev, err)
				} else if err := w.add(ev.first, vecs); err != nil {
					drop(w, ev, err)
				} else {
					next = append(next, w)
				}
			}
			keep(next)
		case "del":
			branchDelete(ev, ev.e1, ev.count, false)
		case "release":
			for _, w := range worlds {
				w.released = max(w.released, ev.through)
			}
		}
	}
	if pending != nil {
		switch pending.op {
		case "add":
			var next []*ccWorld
			for _, w := range worlds {
				if err := w.advance(pending.e0, known); err != nil {
					drop(w, pending, err)
					continue
				}
				w.pendAdd, w.pendNext = pending, w.o.next
				next = append(next, w)
			}
			keep(next)
		case "del":
			branchDelete(pending, final, -1, true)
		case "release":
			for _, w := range worlds {
				w.pendRel = pending
			}
		case "compact":
			if final > pending.e0 {
				info.compactKill = "committed"
			} else {
				info.compactKill = "rolled back"
			}
		}
	}
	var next []*ccWorld
	for _, w := range worlds {
		if err := w.advance(final, known); err != nil {
			drop(w, &ccEvent{line: "reopen"}, err)
		} else {
			next = append(next, w)
		}
	}
	keep(next)

	// The store decides between the candidates.
	var chosen *ccWorld
	var pend ccPending
	var mismatches []string
	for _, w := range worlds {
		p, err := w.match(db, st, kept, m.deadPool, rng)
		if err == nil {
			chosen, pend = w, p
			break
		}
		mismatches = append(mismatches, fmt.Sprintf("  candidate %v: %v", w.why, err))
	}
	if chosen == nil {
		t.Fatalf("the reopened store matches none of the %d candidate states (in flight: %v):\n%s", len(worlds), pending, strings.Join(mismatches, "\n"))
	}
	w := chosen
	if w.pendAdd != nil {
		info.pendingAdd = "lost"
		if pend.present {
			info.pendingAdd = "kept"
			if err := m.assigned.add(pend.first, pend.first+uint64(w.pendAdd.n)); err != nil {
				t.Fatalf("in-flight add: %v", err)
			}
			w.o.next = max(w.o.next, pend.first+uint64(w.pendAdd.n))
			for i, v := range crashBatch(w.pendAdd.seed, w.pendAdd.n) {
				id := pend.first + uint64(i)
				w.o.vecs[id], w.hist[id] = v, []ccAt{{w.pendAdd.e0, id}}
				w.h += ccMix(id)
			}
		}
	}
	w.released, w.pendAdd, w.pendRel, w.why = pend.released, nil, nil, nil
	w.recent = map[uint64]bool{} // a new process starts a new snapshot
	m.addDead(rng, w.dead)
	w.dead = nil
	m.w = w
	checkComposition(t, db, w, kept)
	return info
}

// ccPending is how the store resolved what the model could not.
type ccPending struct {
	present  bool   // the in-flight add is in the store
	first    uint64 // at IDs first...
	released uint64 // maps released through this epoch
}

// match compares the store with candidate w and reports the first
// difference.
func (w *ccWorld) match(db *DB, st Stats, kept []IDMap, pool []uint64, rng *rand.Rand) (ccPending, error) {
	var p ccPending
	if st.Epoch != w.epoch {
		return p, fmt.Errorf("store at epoch %d, candidate at %d", st.Epoch, w.epoch)
	}
	// The released epoch: acked, or the in-flight release's.
	cands := []uint64{w.released}
	if w.pendRel != nil {
		cands = append(cands, max(w.released, w.pendRel.through))
	}
	var epochs []uint64
	for _, km := range kept {
		epochs = append(epochs, km.Epoch)
	}
	found := false
	for _, r := range cands {
		var want []uint64
		for e := r + 1; e <= w.epoch; e++ {
			want = append(want, e)
		}
		if slices.Equal(epochs, want) {
			p.released, found = r, true
			break
		}
	}
	if !found {
		return p, fmt.Errorf("IDMapsSince(0) holds epochs %v; released through %v, epoch %d", epochs, cands, w.epoch)
	}

	live := uint64(len(w.o.vecs))
	if a := w.pendAdd; a != nil {
		vecs := crashBatch(a.seed, a.n)
		hits, err := db.Search(context.Background(), vecs[0], SearchOptions{TopK: 3, MinScore: -1})
		if err != nil {
			return p, err
		}
		for _, h := range hits {
			if got, err := db.Get(h.ID); err == nil && bitsEqual(got, vecs[0]) {
				p.present, p.first = true, h.ID
			}
		}
		if p.present {
			if p.first < w.pendNext {
				return p, fmt.Errorf("in-flight add found at ID %d, below the next ID %d", p.first, w.pendNext)
			}
			for i, want := range vecs {
				id := p.first + uint64(i)
				if _, ok := w.o.vecs[id]; ok {
					return p, fmt.Errorf("in-flight add found at ID %d, which the candidate holds live", id)
				}
				if got, err := db.Get(id); err != nil || !bitsEqual(got, want) {
					return p, fmt.Errorf("in-flight add of %d partly present: ID %d = %v, %v", a.n, id, got, err)
				}
			}
			live += uint64(a.n)
		}
	}
	if st.Live != live || st.Total != st.Live+st.Deleted {
		return p, fmt.Errorf("stats %+v; the candidate holds %d live", st, live)
	}
	for id, want := range w.o.vecs {
		if got, err := db.Get(id); err != nil || !bitsEqual(got, want) {
			return p, fmt.Errorf("Get(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
	notFound := func(id uint64, what string) error {
		if got, err := db.Get(id); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("Get(%d) of a %s ID = %v, %v; want ErrNotFound", id, what, got, err)
		}
		return nil
	}
	for _, id := range w.dead {
		if _, ok := w.o.vecs[id]; !ok {
			if err := notFound(id, "deleted or retired"); err != nil {
				return p, err
			}
		}
	}
	for i := 0; i < ccDeadSample && len(pool) > 0; i++ {
		if err := notFound(pool[rng.Intn(len(pool))], "long dead"); err != nil {
			return p, err
		}
	}
	for id := w.o.next; id < w.o.next+2*crashMaxAdd; id++ {
		if p.present && id >= p.first && id < p.first+uint64(w.pendAdd.n) {
			continue
		}
		if err := notFound(id, "never handed out"); err != nil {
			return p, err
		}
	}
	for _, id := range []uint64{1 << 40, 1<<40 + 999, math.MaxUint64} {
		if err := notFound(id, "unknown"); err != nil {
			return p, err
		}
	}
	return p, nil
}

// checkComposition: IDMapsSince(released), applied in epoch order, takes
// the ID every live vector had at the released epoch (or was added with
// later) to its current ID. The history is then trimmed to what is kept.
func checkComposition(t *testing.T, db *DB, w *ccWorld, kept []IDMap) {
	t.Helper()
	since, err := db.IDMapsSince(w.released)
	if err != nil || len(since) != len(kept) {
		t.Fatalf("IDMapsSince(%d) = %d maps, %v; IDMapsSince(0) gave %d", w.released, len(since), err, len(kept))
	}
	for i := range since {
		if since[i].Epoch != kept[i].Epoch || !runsEqual(since[i].Runs, kept[i].Runs) {
			t.Fatalf("IDMapsSince(%d)[%d] differs from IDMapsSince(0)", w.released, i)
		}
	}
	if tail, err := db.IDMapsSince(w.epoch); err != nil || len(tail) != 0 {
		t.Fatalf("IDMapsSince(current epoch %d) = %+v, %v; want none", w.epoch, tail, err)
	}
	for id, h := range w.hist {
		j := 0
		for i, a := range h {
			if a.epoch <= w.released {
				j = i
			}
		}
		x := h[j].id
		for _, km := range kept {
			if nx, ok := km.Lookup(x); ok {
				x = nx
			}
		}
		if x != id {
			t.Fatalf("IDMapsSince(%d) takes ID %d (the vector's ID at epoch %d, history %v) to %d, but it lives at %d",
				w.released, h[j].id, w.released, h, x, id)
		}
		if j > 0 {
			w.hist[id] = h[j:]
		}
	}
}

// checkCCFiles: no segment, tombstone checkpoint or ID-map file lies
// outside the manifest, every file it names exists, and the manifest
// agrees with the store.
func checkCCFiles(dir string, epoch uint64, kept []IDMap) error {
	man, err := manifest.Load(nil, dir)
	if err != nil {
		return err
	}
	ref := man.Files()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var orphans []string
	have := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		have[name] = true
		switch filepath.Ext(name) {
		case ".seg", ".tombs", ".idmap":
			if !ref[name] {
				orphans = append(orphans, name)
			}
		case ".tmp":
			orphans = append(orphans, name)
		}
	}
	if len(orphans) > 0 {
		return fmt.Errorf("files the manifest (generation %d) does not reference: %v", man.Generation, orphans)
	}
	for name := range ref {
		if !have[name] {
			return fmt.Errorf("the manifest names %s, which does not exist", name)
		}
	}
	if man.Epoch != epoch {
		return fmt.Errorf("manifest at epoch %d, store at %d", man.Epoch, epoch)
	}
	var eps []uint64
	for _, km := range kept {
		eps = append(eps, km.Epoch)
	}
	if !slices.Equal(man.IDMaps, eps) {
		return fmt.Errorf("manifest keeps the maps of %v, IDMapsSince(0) returned %v", man.IDMaps, eps)
	}
	return nil
}
