package memvec

import (
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"sort"
)

// The parent's model of the store under the kill -9 test of compaction:
// the possible worlds the acks allow, and how an ID map moves them.

// ccAt says that from epoch on a vector had ID id.
type ccAt struct{ epoch, id uint64 }

// ccWorld is one candidate for what the store holds: the model, or one of
// its variants while a racing delete is unresolved.
type ccWorld struct {
	o        *oracle // live vectors by current ID; next: one past every ID known
	hist     map[uint64][]ccAt
	epoch    uint64
	released uint64
	recent   map[uint64]bool // deleted at this epoch: the next map may still move them
	dead     []uint64        // stopped being live this round (deleted, retired, late-deleted)
	h        uint64          // order-independent hash of the live IDs
	pendAdd  *ccEvent        // in-flight add, resolved against the store
	pendNext uint64          // o.next when the in-flight add began
	pendRel  *ccEvent        // in-flight release
	why      []string
}

func ccMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func newCCWorld() *ccWorld {
	return &ccWorld{o: newOracle(crashDim), hist: map[uint64][]ccAt{}, recent: map[uint64]bool{}}
}

func (w *ccWorld) clone(why string) *ccWorld {
	c := *w
	c.o = &oracle{dim: w.o.dim, next: w.o.next, vecs: maps.Clone(w.o.vecs)}
	c.hist = maps.Clone(w.hist)
	c.recent = maps.Clone(w.recent)
	c.dead = w.dead[:len(w.dead):len(w.dead)]
	c.why = append(w.why[:len(w.why):len(w.why)], why)
	return &c
}

func (w *ccWorld) key() string {
	var rh uint64
	for id := range w.recent {
		rh += ccMix(id ^ 0x5555)
	}
	return fmt.Sprintf("%d/%x/%x/%d/%d", w.epoch, w.h, rh, len(w.o.vecs), w.released)
}

func (w *ccWorld) add(first uint64, vecs [][]float32) error {
	if first < w.o.next {
		return fmt.Errorf("batch of %d at ID %d, not above every ID known (next %d)", len(vecs), first, w.o.next)
	}
	for i, v := range vecs {
		id := first + uint64(i)
		w.o.vecs[id] = v
		w.hist[id] = []ccAt{{w.epoch, id}}
		w.h += ccMix(id)
	}
	w.o.next = first + uint64(len(vecs))
	return nil
}

func (w *ccWorld) del(ids []uint64) int {
	n := 0
	for _, id := range ids {
		if _, ok := w.o.vecs[id]; ok {
			delete(w.o.vecs, id)
			delete(w.hist, id)
			w.recent[id] = true
			w.dead = append(w.dead, id)
			w.h -= ccMix(id)
			n++
		}
	}
	return n
}

// apply moves the vectors as the map of the next epoch says. A map may
// move an ID deleted since the previous commit (the delete raced with the
// copy; its new ID must be deleted too), and no other dead ID.
func (w *ccWorld) apply(m IDMap) error {
	if m.Epoch != w.epoch+1 {
		return fmt.Errorf("map of epoch %d applied at epoch %d", m.Epoch, w.epoch)
	}
	type move struct{ old, nw uint64 }
	var moves []move
	for _, r := range m.Runs {
		for k := uint64(0); k < r.Len; k++ {
			old, nw := r.Old+k, r.New+k
			switch _, ok := w.o.vecs[old]; {
			case ok:
				moves = append(moves, move{old, nw})
			case w.recent[old]:
				w.dead = append(w.dead, nw)
			default:
				return fmt.Errorf("map of epoch %d moves ID %d to %d, but %d was not live (nor deleted while it copied)", m.Epoch, old, nw, old)
			}
		}
	}
	vecs := make([][]float32, len(moves))
	hists := make([][]ccAt, len(moves))
	for i, mv := range moves {
		vecs[i], hists[i] = w.o.vecs[mv.old], w.hist[mv.old]
		delete(w.o.vecs, mv.old)
		delete(w.hist, mv.old)
		w.h -= ccMix(mv.old)
		w.dead = append(w.dead, mv.old)
	}
	for i, mv := range moves {
		if _, ok := w.o.vecs[mv.nw]; ok {
			return fmt.Errorf("map of epoch %d moves ID %d onto live ID %d", m.Epoch, mv.old, mv.nw)
		}
		w.o.vecs[mv.nw] = vecs[i]
		w.hist[mv.nw] = append(hists[i][:len(hists[i]):len(hists[i])], ccAt{m.Epoch, mv.nw})
		w.h += ccMix(mv.nw)
	}
	for _, r := range m.Runs {
		w.o.next = max(w.o.next, r.New+r.Len)
	}
	w.epoch = m.Epoch
	w.recent = map[uint64]bool{}
	return nil
}

func (w *ccWorld) advance(to uint64, known map[uint64]IDMap) error {
	for w.epoch < to {
		m, ok := known[w.epoch+1]
		if !ok {
			return fmt.Errorf("no map for epoch %d", w.epoch+1)
		}
		if err := w.apply(m); err != nil {
			return err
		}
	}
	return nil
}

// checkMapShape checks what a map must look like on its own: runs sorted
// by old ID and disjoint, new IDs one consecutive block above every old ID,
// and Lookup agreeing with the runs.
func checkMapShape(m IDMap) error {
	var prevNew uint64
	for i, r := range m.Runs {
		if r.Len == 0 || r.Old+r.Len < r.Old || r.New+r.Len < r.New {
			return fmt.Errorf("map of epoch %d: run %d %+v empty or wrapping", m.Epoch, i, r)
		}
		if i > 0 && r.Old < m.Runs[i-1].Old+m.Runs[i-1].Len {
			return fmt.Errorf("map of epoch %d: run %d %+v out of order or overlapping %+v", m.Epoch, i, r, m.Runs[i-1])
		}
		if i > 0 && r.New != prevNew {
			return fmt.Errorf("map of epoch %d: run %d %+v: new IDs not consecutive (want %d)", m.Epoch, i, r, prevNew)
		}
		prevNew = r.New + r.Len
		for _, k := range []uint64{0, r.Len / 2, r.Len - 1} {
			if got, ok := m.Lookup(r.Old + k); !ok || got != r.New+k {
				return fmt.Errorf("map of epoch %d: Lookup(%d) = %d, %v; want %d", m.Epoch, r.Old+k, got, ok, r.New+k)
			}
		}
		if i == 0 || m.Runs[i-1].Old+m.Runs[i-1].Len < r.Old {
			if got, ok := m.Lookup(r.Old - 1); ok {
				return fmt.Errorf("map of epoch %d: Lookup(%d) = %d for an ID it does not move", m.Epoch, r.Old-1, got)
			}
		}
	}
	if n := len(m.Runs); n > 0 {
		if last := m.Runs[n-1]; m.Runs[0].New < last.Old+last.Len {
			return fmt.Errorf("map of epoch %d: new IDs from %d, not above the old ID %d", m.Epoch, m.Runs[0].New, last.Old+last.Len-1)
		}
	}
	return nil
}

func runsEqual(a, b []IDRun) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// ccRanges is a set of disjoint ID ranges [lo, hi): every ID handed out.
type ccRanges [][2]uint64

func (rs *ccRanges) add(lo, hi uint64) error {
	if hi <= lo {
		return nil
	}
	s := *rs
	i := sort.Search(len(s), func(i int) bool { return s[i][1] > lo })
	if i < len(s) && s[i][0] < hi {
		return fmt.Errorf("IDs [%d, %d) handed out again: [%d, %d) were before", lo, hi, s[i][0], s[i][1])
	}
	switch {
	case i > 0 && s[i-1][1] == lo && i < len(s) && s[i][0] == hi:
		s[i-1][1] = s[i][1]
		s = append(s[:i], s[i+1:]...)
	case i > 0 && s[i-1][1] == lo:
		s[i-1][1] = hi
	case i < len(s) && s[i][0] == hi:
		s[i][0] = lo
	default:
		s = append(s, [2]uint64{})
		copy(s[i+1:], s[i:])
		s[i] = [2]uint64{lo, hi}
	}
	*rs = s
	return nil
}

// ccModel is what the parent knows across rounds.
type ccModel struct {
	w        *ccWorld
	assigned ccRanges
	deadPool []uint64 // a sample of IDs that must never read back
	deadSeen int
}

func (m *ccModel) addDead(rng *rand.Rand, ids []uint64) {
	for _, id := range ids {
		m.deadSeen++
		if len(m.deadPool) < 20000 {
			m.deadPool = append(m.deadPool, id)
		} else if j := rng.Intn(m.deadSeen); j < len(m.deadPool) {
			m.deadPool[j] = id
		}
	}
}

// ccRoundInfo is what the round log and the summary report.
type ccRoundInfo struct {
	worlds, ambiguous int
	unacked           int // commits found on disk whose map the child never printed
	compactKill       string
	pendingAdd        string
}
