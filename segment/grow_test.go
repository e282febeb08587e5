package segment

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// allocWatch is a vfs.Fault hook that keeps the ranges of a segment file
// that Preallocate reserved and records every write into the fixed part
// of the file outside them, and every reservation outside the growing
// areas: the rule that blocks are allocated before rows land in them.
type allocWatch struct {
	lay layout
	mu  sync.Mutex
	// alloc[i] is the end of what is reserved of area i, from its start:
	// the steps of an area are contiguous from its start.
	alloc [nAreas]int64
	steps int
	bad   []string
}

func (w *allocWatch) hook(ev vfs.Event) vfs.Decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := ev.Off + int64(ev.Len)
	switch {
	case ev.Kind == vfs.OpPreallocate:
		w.steps++
		for i, a := range w.lay.areas() {
			if a.stride == 0 || ev.Off != a.off+w.alloc[i] {
				continue
			}
			if limit := a.off + int64(w.lay.capacity)*a.stride; end > limit {
				w.bad = append(w.bad, fmt.Sprintf("area %d reserved to %d, past its end %d", i, end, limit))
			}
			w.alloc[i] = end - a.off
			return vfs.Decision{}
		}
		w.bad = append(w.bad, fmt.Sprintf("reserved [%d, %d): not the next step of an area", ev.Off, end))
	case ev.Kind == vfs.OpWrite && ev.Off >= HeaderSize && ev.Off < w.lay.size:
		for i, a := range w.lay.areas() {
			if ev.Off >= a.off && end <= a.off+w.alloc[i] {
				return vfs.Decision{}
			}
		}
		w.bad = append(w.bad, fmt.Sprintf("wrote [%d, %d) before its blocks were reserved", ev.Off, end))
	}
	return vfs.Decision{}
}

// check fails t if any write or reservation broke the rule.
func (w *allocWatch) check(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Fatalf("%s: %d violations, the first: %s", what, len(w.bad), w.bad[0])
	}
}

// growSpecs fills a segment of capacity rows with batches of 1 to most
// rows, every third durable and every fourth keyed with payloads.
func growSpecs(rng *rand.Rand, capacity uint64, most int) []keyedSpec {
	var specs []keyedSpec
	id := uint64(1)
	for rows := uint64(0); rows < capacity; {
		n := min(uint64(1+rng.IntN(most)), capacity-rows)
		k := len(specs)
		specs = append(specs, keyedSpec{batchSpec: batchSpec{firstID: id, rows: int(n), durable: k%3 == 0}, keyed: k%4 == 1, payloads: true, supersedes: k % 2})
		rows += n
		id += n + uint64(k%2)
	}
	return specs
}

// Every byte a batch writes into the fixed part (rows, norms, codes, metas,
// record) lands in blocks reserved before it, up to a full segment and
// across a reopen (which derives what is reserved from the rows); the
// steps double (a logarithmic number of them) and none reaches past its
// area.
func TestAllocatedBeforeWritten(t *testing.T) {
	const dim, capacity = 16, 6000 // stepUnits 1024 rows: a few doublings
	rng := rand.New(rand.NewPCG(71, 72))
	specs := growSpecs(rng, capacity, 300)
	half := len(specs) / 2
	dir := t.TempDir()
	f := vfs.NewFault(nil, 0)
	w := &allocWatch{lay: newLayout(dim, capacity)}
	f.SetHook(w.hook)
	s, err := Create(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, km := &model{dim: dim}, &keyModel{}
	appendKeyed(t, s, m, km, rng, specs[:half])
	w.check(t, "first half")
	firstSteps := w.steps
	mustClose(t, s)

	f = vfs.NewFault(nil, 0)
	s, err = OpenActive(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	// What the rows and records were written in is allocated.
	w = &allocWatch{lay: w.lay, alloc: s.lay.used(s.Rows(), s.batches)}
	f.SetHook(w.hook)
	appendKeyed(t, s, m, km, rng, specs[half:])
	w.check(t, "second half, after a reopen")
	if s.Free() != 0 {
		t.Fatalf("%d rows free after the specs", s.Free())
	}
	// 5 areas, each from stepUnits to capacity by doubling: at most 4
	// steps per area and half, and at least one.
	if firstSteps == 0 || w.steps == 0 || firstSteps+w.steps > 2*5*4 {
		t.Fatalf("%d and %d allocation steps", firstSteps, w.steps)
	}
	used := s.lay.used(s.Rows(), s.batches)
	for i, a := range s.lay.areas() {
		want := int64(capacity) * a.stride // rows: all of the area
		if i == nAreas-1 {
			want = used[i] // records: one per batch
		}
		if s.alloc[i] < want || s.alloc[i] > max(2*want, int64(s.lay.stepUnits())*a.stride+allocAlign) {
			t.Fatalf("area %d: %d bytes allocated in a full segment, want %d", i, s.alloc[i], want)
		}
	}
	checkSealing(t, s, func(s *Segment, what string) {
		checkModel(t, s, m)
		checkKeys(t, s, km, what == "active")
	})
}

// A batch whose blocks cannot be allocated (ENOSPC) fails before any byte
// of it is written and leaves the segment taking appends: its keys never
// reach the index, the rows acknowledged before it stay, and a later
// batch and a reopen see exactly those.
func TestAllocateNoSpace(t *testing.T) {
	const dim, capacity = 16, 4000
	rng := rand.New(rand.NewPCG(73, 74))
	dir := t.TempDir()
	f := vfs.NewFault(nil, 0)
	s, err := Create(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, km := &model{dim: dim}, &keyModel{}
	appendKeyed(t, s, m, km, rng, []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 10, durable: true}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 11, rows: 5}, keyed: true},
	})
	for _, durable := range []bool{true, false} {
		writes, syncs := f.Count(vfs.OpWrite), f.Count(vfs.OpDatasync)
		f.SetHook(vfs.Nth(vfs.OpPreallocate, "", 1, vfs.Decision{Err: syscall.ENOSPC}))
		vecs, norms := randomRows(rng, 1500, dim) // past the first step
		keys := make([][]byte, len(vecs))
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("refused %d", i))
		}
		err := s.AppendRecords(5000, vecs, norms, keys, nil, []uint64{3}, durable)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("durable %v: AppendRecords with no space: %v", durable, err)
		}
		f.SetHook(nil)
		if s.Err() != nil {
			t.Fatalf("a refused allocation poisoned the segment: %v", s.Err())
		}
		if n := f.Count(vfs.OpWrite) - writes; n != 0 {
			t.Fatalf("a batch refused for space wrote %d times", n)
		}
		if n := f.Count(vfs.OpDatasync) - syncs; n != 0 {
			t.Fatalf("a batch refused for space synced %d times", n)
		}
		if row, ok := s.LookupKey(keys[0]); ok {
			t.Fatalf("a refused batch's key is indexed at row %d", row)
		}
		checkModel(t, s, m)
		checkKeys(t, s, km, true)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync after a refused batch: %v", err)
	}
	appendKeyed(t, s, m, km, rng, []keyedSpec{{batchSpec: batchSpec{firstID: 16, rows: 1500, durable: true}, keyed: true, payloads: true, supersedes: 2}})
	mustClose(t, s)
	r, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkModel(t, r, m)
	checkKeys(t, r, km, true)
}

// A power cut at an allocation step, or at the first write into the blocks
// it reserved, with every unsynced sector of the file as of a random
// moment (CrashTorn), leaves a prefix of the batches at or past the synced
// ones; the segment then grows on from its rows to capacity and reads back.
func TestCrashDuringGrowth(t *testing.T) {
	const dim, capacity = 256, 1200 // stepUnits 64 rows: 6 steps per row area
	specs := growSpecs(rand.New(rand.NewPCG(75, 76)), capacity, 60)
	// A run without a cut counts the steps and the writes just after them
	// (as crashDuringGrowth's cuts count: from after Create).
	f := vfs.NewFault(nil, 0)
	s, err := Create(f, t.TempDir(), 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	var afterStep []int // the number of the first write after each step
	writes := 0
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		switch ev.Kind {
		case vfs.OpPreallocate:
			afterStep = append(afterStep, 0)
		case vfs.OpWrite:
			writes++
			for i := len(afterStep) - 1; i >= 0 && afterStep[i] == 0; i-- {
				afterStep[i] = writes
			}
		}
		return vfs.Decision{}
	})
	appendKeyed(t, s, &model{dim: dim}, &keyModel{}, rand.New(rand.NewPCG(77, 78)), specs)
	mustClose(t, s)
	if len(afterStep) < 10 {
		t.Fatalf("%d allocation steps in a full segment: nothing to cut", len(afterStep))
	}
	cuts := 0
	for step, write := range afterStep {
		for _, cut := range []vfs.Hook{
			vfs.Nth(vfs.OpPreallocate, "", step+1, vfs.Decision{Crash: true, Torn: true}),
			vfs.Nth(vfs.OpWrite, "", write, vfs.Decision{Crash: true, Torn: true}),
		} {
			crashDuringGrowth(t, uint64(cuts), dim, capacity, specs, cut)
			cuts++
		}
	}
	t.Logf("%d cuts at %d allocation steps", cuts, len(afterStep))
}

// crashDuringGrowth appends specs through a Fault that cut runs, then
// checks the recovered segment (see TestCrashDuringGrowth).
func crashDuringGrowth(t *testing.T, seed uint64, dim int, capacity uint64, specs []keyedSpec, cut vfs.Hook) {
	t.Helper()
	dir := t.TempDir()
	f := vfs.NewFault(nil, seed)
	s, err := Create(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.SetHook(cut)
	m, km := &model{dim: dim}, &keyModel{}
	rng := rand.New(rand.NewPCG(77, 78))
	var synced uint64
	for i, b := range specs {
		if err := putKeyed(s, m, km, rng, b, synced); err != nil {
			if !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("seed %d batch %d: %v", seed, i, err)
			}
			break
		}
		if b.durable {
			synced = m.rows()
		}
	}
	if !f.Crashed() {
		t.Fatalf("seed %d: the cut never came", seed)
	}
	s.Close()
	r, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatalf("seed %d: OpenActive after the cut: %v", seed, err)
	}
	k := batchesHeld(m, r.Rows())
	if k < 0 || r.Rows() < synced {
		t.Fatalf("seed %d: %d rows after the cut: not a batch boundary at or past the %d synced", seed, r.Rows(), synced)
	}
	if r.Size() < r.lay.size {
		t.Fatalf("seed %d: the file is %d bytes, its fixed part %d", seed, r.Size(), r.lay.size)
	}
	wm, wk := m.prefix(k), km.prefix(m, k)
	checkModel(t, r, wm)
	checkKeys(t, r, wk, true)
	// Grow on to capacity from the recovered rows.
	id := uint64(1 << 40)
	var rest []keyedSpec
	for rows := r.Rows(); rows < capacity; {
		n := min(capacity-rows, 300)
		rest = append(rest, keyedSpec{batchSpec: batchSpec{firstID: id, rows: int(n), durable: true}, keyed: true})
		rows, id = rows+n, id+n
	}
	appendKeyed(t, r, wm, wk, rng, rest)
	mustClose(t, r)
	r, err = OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatalf("seed %d: reopen after growing on: %v", seed, err)
	}
	defer r.Close()
	checkModel(t, r, wm)
	checkKeys(t, r, wk, true)
}
