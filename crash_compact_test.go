package memvec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// The kill -9 test of compaction. A child process (this test binary re-run
// with -test.run=^TestCrashCompactHelper$) adds, deletes, compacts and
// releases ID maps, printing an intent line before each call and an ack
// line after it; OnCompact prints every map, the background compactor's
// included. It runs in every combination of the crash matrix
// (matrix_test.go; subtests TestCrashCompactKill9/<combination>), each on
// its own store: NoSync, the background compactor, tiny or default
// segments, and Compact calls by the child (and, now and then, by the
// parent between rounds) or none. MEMVEC_CRASH_ROUNDS sets the rounds per
// combination. The parent kills the child at a random
// instant, often while a compaction is in flight, reopens the store and
// checks it against a model built from the acks alone:
//
//   - the store is at the epoch of the last acked compaction or later; the
//     maps of the later (unacked) epochs are read with IDMapsSince and
//     applied, as an application that crashed before OnCompact would;
//   - every map is sorted, moves only IDs that were live (or deleted while
//     it copied, whose new IDs must then be deleted too) to fresh IDs never
//     handed out before, above every ID it retires;
//   - every live vector reads back bit for bit at its current ID, no
//     deleted or retired ID reads back, Stats counts exactly the live ones,
//     an in-flight add or delete happened wholly or not at all, Verify
//     passes, and no .seg, .tombs or .idmap file lies outside the manifest;
//   - IDMapsSince(released) composes, in epoch order, the ID each live
//     vector had at the released epoch into its current ID.
//
// After the last round of a combination the store must still take writes
// (checkReopened).
//
// Deletes race with background compactions, so the child tags each call
// with Stats().Epoch before and after it; a delete that straddled a commit
// is tried at every epoch it may have run at, and the delete's count and
// the reopened store decide which one it was (the model keeps every
// candidate until then; there are rarely more than two).

const (
	ccEnvDir     = "MEMVEC_CC_DIR"
	ccEnvSeed    = "MEMVEC_CC_SEED"
	ccEnvCombo   = "MEMVEC_CC_COMBO" // the child's combination of the crash matrix
	ccEnvState   = "MEMVEC_CC_STATE"
	ccEnvTest    = "MEMVEC_CRASH_COMPACT_SEED" // parent's seed, to replay a failure
	ccPrefix     = "memvec-cc "
	ccRounds     = 5 // per combination, by default
	ccMaxWorlds  = 512
	ccDeadSample = 300
)

// ccOpenOptions returns the options the parent reopens the store of
// combination c with: its segment size, durable writes, and nothing
// moving IDs behind the model's back.
func ccOpenOptions(c matrixCombo) Options {
	o := c.options(crashDim)
	o.NoSync, o.DisableAutoCompaction = false, true
	return o
}

// ---------------------------------------------------------------- child --

func formatRuns(runs []IDRun) string {
	if len(runs) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, r := range runs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d:%d", r.Old, r.New, r.Len)
	}
	return b.String()
}

func parseRuns(s string) ([]IDRun, error) {
	if s == "-" {
		return nil, nil
	}
	var runs []IDRun
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(f, ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("bad run %q", f)
		}
		var v [3]uint64
		for i := range p {
			var err error
			if v[i], err = strconv.ParseUint(p[i], 10, 64); err != nil {
				return nil, err
			}
		}
		runs = append(runs, IDRun{Old: v[0], New: v[1], Len: v[2]})
	}
	return runs, nil
}

// The state file hands the model's view to the next child: the epoch, one
// past the largest ID handed out, and the live IDs.
func writeCCState(path string, epoch, next uint64, live []uint64) error {
	s := "-"
	if len(live) > 0 {
		s = formatIDs(live)
	}
	return os.WriteFile(path, []byte(fmt.Sprintf("%d %d %s\n", epoch, next, s)), 0o644)
}

func readCCState(path string) (epoch, next uint64, live []uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, 0, nil, fmt.Errorf("state file: %d fields", len(f))
	}
	epoch, err1 := strconv.ParseUint(f[0], 10, 64)
	next, err2 := strconv.ParseUint(f[1], 10, 64)
	if f[2] != "-" {
		live, err = parseIDs(f[2])
	}
	return epoch, next, live, errors.Join(err1, err2, err)
}

// TestCrashCompactHelper is the child of TestCrashCompactKill9; it does
// nothing unless MEMVEC_CC_DIR is set, and never returns: it works until it
// is killed, or exits non-zero on an error or after crashChildLimit.
func TestCrashCompactHelper(t *testing.T) {
	dir := os.Getenv(ccEnvDir)
	if dir == "" {
		t.Skip("helper process of TestCrashCompactKill9")
	}
	seed, c := childSeedAndCombo(ccEnvSeed, ccEnvCombo)
	os.Exit(ccChild(dir, seed, c, os.Getenv(ccEnvState)))
}

func ccChild(dir string, seed int64, c matrixCombo, stateFile string) int {
	// One write(2) per line; a kill mid-line leaves a fragment the parent
	// drops.
	say := func(format string, a ...any) { memvectest.Say(ccPrefix, format, a...) }
	fail := func(what string, err error) int { return memvectest.Fail("crash-compact child", what, err) }
	rng := rand.New(rand.NewSource(seed))
	epoch, next, ids, err := readCCState(stateFile)
	if err != nil {
		return fail("state", err)
	}
	live := &memvectest.IDSet{} // what the child believes live
	for _, id := range ids {
		live.Add(id)
	}
	var retired []uint64 // old forms of moved IDs: deleting them must do nothing
	seen := epoch        // the epoch whose IDs live holds

	// mu orders the lines: an operation holds it from its intent to its
	// ack, and OnCompact holds it while it prints a map. So no map line
	// falls between a call's return and its ack, and the parent knows
	// which maps the call could have seen. Compact is the exception: it
	// lets mu go while it runs, since it calls OnCompact itself and may
	// wait for the background compactor's OnCompact to return; a map
	// line may then fall between its return and its ack, which the
	// parent allows for (a map printed twice).
	var mu sync.Mutex
	applyMap := func(m IDMap) {
		if m.Epoch <= seen {
			return
		}
		seen = m.Epoch
		for _, r := range m.Runs {
			for k := uint64(0); k < r.Len; k++ {
				if live.Move(r.Old+k, r.New+k) && k%7 == 0 {
					retired = append(retired, r.Old+k)
				}
			}
			next = max(next, r.New+r.Len)
		}
		if len(retired) > 256 {
			retired = append(retired[:0], retired[len(retired)-128:]...)
		}
	}
	opts := c.options(crashDim)
	opts.OnCompact = func(m IDMap) {
		mu.Lock()
		defer mu.Unlock()
		say("map %d %s", m.Epoch, formatRuns(m.Runs))
		applyMap(m)
	}
	mu.Lock()
	db, err := Open(dir, opts)
	if err != nil {
		return fail("open", err)
	}
	say("ready %d", db.Stats().Epoch)
	mu.Unlock()

	ctx := context.Background()
	epochNow := func() uint64 { return db.Stats().Epoch }
	doAdd := func(n int) int {
		bseed := rng.Int63()
		e0 := epochNow()
		say("add-begin %d %d %d", e0, bseed, n)
		got, err := db.Add(crashBatch(bseed, n))
		if err != nil {
			return fail("add", err)
		}
		say("add %d %d %d %d %d", e0, epochNow(), got[0], n, bseed)
		for _, id := range got {
			live.Add(id)
		}
		next = max(next, got[n-1]+1)
		return 0
	}
	untilCompact := 1 + rng.Intn(6)
	step := func() int {
		if c.compact {
			if untilCompact--; untilCompact <= 0 {
				untilCompact = 2 + rng.Intn(6)
				e0 := epochNow()
				say("compact-begin %d", e0)
				start := time.Now()
				mu.Unlock()
				m, err := db.Compact(ctx)
				mu.Lock()
				if err != nil {
					return fail("compact", err)
				}
				say("compact %d %d %d %d %s", e0, epochNow(), m.Epoch, time.Since(start).Microseconds(), formatRuns(m.Runs))
				applyMap(m)
				return 0
			}
		}
		if seen >= 3 && rng.Intn(12) == 0 {
			through := seen - 2 - uint64(rng.Intn(2))
			say("release-begin %d", through)
			if err := db.ReleaseIDMaps(through); err != nil {
				return fail("release", err)
			}
			say("release %d", through)
			return 0
		}
		pAdd := 60
		switch n := len(live.IDs); {
		case n < 300:
			pAdd = 85
		case n > 2500:
			pAdd = 30
		}
		if rng.Intn(100) < pAdd {
			n := 1 + rng.Intn(crashMaxAdd)
			if rng.Intn(10) == 0 {
				n = 1 + rng.Intn(4)
			}
			return doAdd(n)
		}
		k := 1 + rng.Intn(10)
		if len(live.IDs) > 3000 {
			k = 1 + rng.Intn(60)
		}
		del := make([]uint64, 0, k)
		for i := 0; i < k; i++ {
			var id uint64
			switch r := rng.Intn(20); {
			case r == 0 || len(live.IDs) == 0: // unknown
				id = next + uint64(rng.Intn(5))
				if rng.Intn(2) == 0 {
					id = 1<<40 + uint64(rng.Intn(1000))
				}
			case r <= 2 && len(retired) > 0: // retired by a compaction
				id = retired[rng.Intn(len(retired))]
			case r == 3 && i > 0: // repeated
				id = del[rng.Intn(i)]
			case r < 12: // recent: the newest segments, the active one included
				id = live.IDs[len(live.IDs)-1-rng.Intn(min(len(live.IDs), 80))]
			default:
				id = live.IDs[rng.Intn(len(live.IDs))]
			}
			del = append(del, id)
		}
		s := formatIDs(del)
		e0 := epochNow()
		say("del-begin %d %s", e0, s)
		cnt, err := db.Delete(del)
		if err != nil {
			return fail("delete", err)
		}
		say("del %d %d %d %s", e0, epochNow(), cnt, s)
		for _, id := range del {
			live.Remove(id)
		}
		return 0
	}
	deadline := time.Now().Add(crashChildLimit)
	for time.Now().Before(deadline) {
		mu.Lock()
		code := step()
		mu.Unlock()
		if code != 0 {
			return code
		}
	}
	return 3
}

// --------------------------------------------------------------- events --

// ccEvent is one line of the child: an ack, a map, or (as the operation in
// flight at the kill) an intent.
type ccEvent struct {
	op      string // ready, add, del, compact, map, release
	e0, e1  uint64 // Stats().Epoch before and after the call
	seed    int64  // add
	n       int    // add
	first   uint64 // add
	ids     []uint64
	idsText string
	count   int     // del
	epoch   uint64  // compact, map (0: nothing to reclaim); ready
	runs    []IDRun // compact, map
	micros  int64   // compact
	through uint64  // release
	line    string
}

func (ev *ccEvent) String() string {
	if ev == nil {
		return "none"
	}
	return ev.line
}

// parseCCLines turns the child's lines into events and returns the
// intent of the operation that had not been acked, if any.
func parseCCLines(lines []string) (evs []*ccEvent, pending *ccEvent, err error) {
	for _, line := range lines {
		f := strings.Fields(line)
		var nums []uint64
		num := func(i int) uint64 {
			if i >= len(f) {
				err = errors.Join(err, fmt.Errorf("field %d missing", i))
				return 0
			}
			v, perr := strconv.ParseUint(f[i], 10, 64)
			err = errors.Join(err, perr)
			nums = append(nums, v)
			return v
		}
		ev := &ccEvent{line: line}
		if len(f) == 0 {
			return nil, nil, fmt.Errorf("empty line")
		}
		ev.op = strings.TrimSuffix(f[0], "-begin")
		begin := ev.op != f[0]
		switch {
		case f[0] == "ready" && len(f) == 2:
			ev.epoch = num(1)
		case f[0] == "add-begin" && len(f) == 4:
			ev.e0, ev.seed, ev.n = num(1), int64(num(2)), int(num(3))
		case f[0] == "add" && len(f) == 6:
			ev.e0, ev.e1, ev.first, ev.n, ev.seed = num(1), num(2), num(3), int(num(4)), int64(num(5))
		case f[0] == "del-begin" && len(f) == 3:
			ev.e0, ev.idsText = num(1), f[2]
		case f[0] == "del" && len(f) == 5:
			ev.e0, ev.e1, ev.count, ev.idsText = num(1), num(2), int(num(3)), f[4]
		case f[0] == "compact-begin" && len(f) == 2:
			ev.e0 = num(1)
		case f[0] == "compact" && len(f) == 6:
			ev.e0, ev.e1, ev.epoch, ev.micros = num(1), num(2), num(3), int64(num(4))
			ev.runs, err = parseRuns(f[5])
		case f[0] == "map" && len(f) == 3:
			ev.epoch = num(1)
			ev.runs, err = parseRuns(f[2])
		case f[0] == "release-begin" && len(f) == 2, f[0] == "release" && len(f) == 2:
			ev.through = num(1)
		default:
			return nil, nil, fmt.Errorf("unexpected child line %q", line)
		}
		if ev.idsText != "" && err == nil {
			ev.ids, err = parseIDs(ev.idsText)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("child line %q: %w", line, err)
		}
		switch {
		case begin:
			if pending != nil {
				return nil, nil, fmt.Errorf("intent %q while %q is in flight", line, pending.line)
			}
			pending = ev
		case ev.op == "ready" || ev.op == "map":
			evs = append(evs, ev)
		default:
			if pending == nil || pending.op != ev.op || pending.e0 != ev.e0 || pending.seed != ev.seed ||
				pending.n != ev.n || pending.idsText != ev.idsText || pending.through != ev.through {
				return nil, nil, fmt.Errorf("ack %q does not match the intent %v", line, pending)
			}
			pending = nil
			evs = append(evs, ev)
		}
	}
	return evs, pending, nil
}

// ---------------------------------------------------------------- model --

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

// ---------------------------------------------------------------- check --

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

// --------------------------------------------------------------- parent --

// ccPlan says when to kill the child.
type ccPlan struct {
	fromStart bool // delay from the start of the process, not from ready
	// trigger: kill delay after the k-th line starting with it; "commit":
	// delay after the ID-map file of the next epoch appears (Commit writes
	// it just before the manifest), watched from the k-th compact-begin
	// or, with background compaction, from ready.
	trigger string
	k       int
	delay   time.Duration
}

func (p ccPlan) String() string {
	switch {
	case p.fromStart:
		return fmt.Sprintf("%v after start", p.delay)
	case p.trigger == "commit":
		return fmt.Sprintf("%v after commit #%d", p.delay, p.k)
	case p.trigger != "":
		return fmt.Sprintf("%v after %s #%d", p.delay, p.trigger, p.k)
	}
	return fmt.Sprintf("%v after ready", p.delay)
}

func runCCChild(t *testing.T, dir string, env []string, plan ccPlan) crashRound {
	t.Helper()
	child := memvectest.StartChild(t, "TestCrashCompactHelper", false, env...)
	kill := child.Kill
	backstop := time.AfterFunc(time.Minute, kill)
	defer backstop.Stop()
	var timers []*time.Timer
	if plan.fromStart {
		timers = append(timers, time.AfterFunc(plan.delay, kill))
	}
	var mu sync.Mutex // timers
	done := make(chan struct{})
	var watchers sync.WaitGroup
	after := func(d time.Duration) {
		mu.Lock()
		timers = append(timers, time.AfterFunc(d, kill))
		mu.Unlock()
	}
	// watch polls for the ID-map file of epoch: its appearance means the
	// compaction is inside Commit.
	watch := func(epoch uint64) {
		name := filepath.Join(dir, manifest.IDMapFileName(epoch))
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := os.Lstat(name); err == nil {
					after(plan.delay)
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	hits := 0
	var r crashRound
	err := memvectest.ReadLines(child.Stdout, ccPrefix, func(rest string) {
		f := strings.Fields(rest)
		switch {
		case plan.fromStart || len(f) < 2:
		case f[0] == "ready":
			if plan.trigger == "" {
				after(plan.delay)
				break
			}
			after(plan.delay + 700*time.Millisecond) // in case the trigger never comes
			if e, err := strconv.ParseUint(f[1], 10, 64); err == nil && plan.trigger == "commit" && plan.k == 0 {
				watch(e + 1)
			}
		case plan.trigger == "commit" && f[0] == "compact-begin":
			if e, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				if hits++; hits == plan.k {
					watch(e + 1)
				}
			}
		case plan.trigger != "" && f[0] == plan.trigger:
			if hits++; hits == plan.k {
				after(plan.delay)
			}
		}
		r.lines = append(r.lines, rest)
	})
	if err != nil {
		t.Errorf("reading the child's stdout: %v", err)
	}
	r.waitErr = child.Wait()
	close(done)
	watchers.Wait()
	mu.Lock()
	for _, tm := range timers {
		tm.Stop()
	}
	mu.Unlock()
	r.signaled = child.Killed()
	r.stderr = child.Stderr()
	return r
}

func TestCrashCompactKill9(t *testing.T) {
	rounds, seed := startKillTest(t, ccRounds, ccEnvTest)
	for i, c := range matrixCombos() {
		t.Run(c.String(), func(t *testing.T) { crashCompactKill9(t, c, seed+int64(i), rounds) })
	}
}

// crashCompactKill9 runs rounds kill -9 rounds of combination c on one
// store.
func crashCompactKill9(t *testing.T, c matrixCombo, seed int64, rounds int) {
	rng := rand.New(rand.NewSource(seed))
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	state := filepath.Join(root, "state")
	m := &ccModel{w: newCCWorld()}
	var (
		compactAvg                       = 20 * time.Millisecond
		compactions, maxRows             int
		inCompact, committed, rolledBack int
		unacked, ambiguous, redone       int
		maps                             int // printed by OnCompact: background and manual
		inflightAdds, keptAdds           int
	)
	for round := 0; round < rounds; round++ {
		auto := c.auto
		var plan ccPlan
		switch r := rng.Intn(16); {
		case r == 0:
			plan = ccPlan{fromStart: true, delay: time.Duration(rng.Intn(150)) * time.Millisecond}
		case r < 5 && c.compact:
			plan = ccPlan{trigger: "commit", k: 1 + rng.Intn(2), delay: time.Duration(rng.Intn(6000)) * time.Microsecond}
		case r < 5 && auto:
			plan = ccPlan{trigger: "commit", delay: time.Duration(rng.Intn(6000)) * time.Microsecond}
		case r < 10 && c.compact:
			// Anywhere in a typical compaction, or around its end, where
			// the commit and the ack are.
			d := time.Duration(rng.Int63n(int64(compactAvg) + 1))
			if rng.Intn(2) == 0 {
				d = compactAvg*3/5 + time.Duration(rng.Int63n(int64(compactAvg)+1))
			}
			plan = ccPlan{trigger: "compact-begin", k: 1 + rng.Intn(2), delay: d}
		case r < 8 && auto:
			plan = ccPlan{trigger: "map", k: 1 + rng.Intn(2), delay: time.Duration(rng.Intn(30)) * time.Millisecond}
		default:
			plan = ccPlan{delay: time.Duration(rng.Intn(400)) * time.Millisecond}
		}
		if err := writeCCState(state, m.w.epoch, m.w.o.next, slicesSorted(m.w.o.vecs)); err != nil {
			t.Fatal(err)
		}
		childSeed := rng.Int63()
		r := runCCChild(t, dir, []string{
			ccEnvDir + "=" + dir, ccEnvSeed + "=" + strconv.FormatInt(childSeed, 10),
			ccEnvCombo + "=" + c.String(), ccEnvState + "=" + state,
		}, plan)
		if strings.Contains(r.stderr, "DATA RACE") || !r.signaled {
			t.Fatalf("round %d: child (seed %d) did not die by our SIGKILL: %v\nstderr:\n%s", round, childSeed, r.waitErr, r.stderr)
		}
		evs, pending, err := parseCCLines(r.lines)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, ev := range evs {
			if ev.op == "map" {
				maps++
			}
			if ev.op == "compact" && ev.epoch != 0 {
				compactions++
				d := time.Duration(ev.micros) * time.Microsecond
				compactAvg = (compactAvg*3 + d) / 4
			}
		}
		db, err := openT(t, dir, ccOpenOptions(c))
		if err != nil {
			t.Fatalf("round %d (child seed %d, kill %v, in flight %v): Open: %v", round, childSeed, plan, pending, err)
		}
		info := m.resolve(t, db, evs, pending, auto, rng)
		st := db.Stats()
		if err := db.Verify(context.Background()); err != nil {
			t.Fatalf("round %d: Verify: %v", round, err)
		}
		kept, err := db.IDMapsSince(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkCCFiles(dir, st.Epoch, kept); err != nil {
			t.Fatalf("round %d: after recovery: %v", round, err)
		}
		q := randVec(rng, crashDim)
		got, err := db.Search(context.Background(), q, SearchOptions{TopK: 5, MinScore: -1})
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, m.w.o, q, nil, 5, -1, got)

		// The next compaction redoes what a rolled-back one did not: the
		// parent compacts as an application would, sometimes (in the
		// combinations whose workload compacts).
		redo := ""
		if c.compact && (info.compactKill == "rolled back" || rng.Intn(6) == 0) {
			if res := parentCompact(t, db, m, rng); res != "" {
				redone++
				redo = ", parent " + res
				st = db.Stats()
				if kept, err = db.IDMapsSince(0); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := db.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if err := checkCCFiles(dir, st.Epoch, kept); err != nil {
			t.Errorf("round %d: after a clean Close: %v", round, err)
		}
		switch info.compactKill {
		case "committed":
			inCompact++
			committed++
		case "rolled back":
			inCompact++
			rolledBack++
		}
		if info.pendingAdd != "" {
			inflightAdds++
			if info.pendingAdd == "kept" {
				keptAdds++
			}
		}
		unacked += info.unacked
		ambiguous += info.ambiguous
		maxRows = max(maxRows, int(st.Live))
		t.Logf("round %2d: kill %-28s %4d lines, in flight: %-22.22s %s%s; %d unacked commits, %d candidates; store: epoch %d, %d live, %d deleted, %d segments",
			round, plan, len(r.lines), pendingName(pending), info.compactKill+info.pendingAdd, redo,
			info.unacked, info.worlds, st.Epoch, st.Live, st.Deleted, st.Segments)
	}
	if bad := checkReopened(dir, Options{DisableAutoCompaction: true}, crashDim, rng); len(bad) > 0 {
		t.Errorf("after the last round:\n  %s", strings.Join(bad, "\n  "))
	}
	t.Logf("%d rounds: %d maps printed by OnCompact; %d Compact calls acked (avg %v); %d kills during a Compact call: %d committed, %d rolled back; "+
		"%d commits found only on disk; %d racing deletes resolved; %d in-flight adds (%d kept); %d parent compactions; largest store %d live",
		rounds, maps, compactions, compactAvg, inCompact, committed, rolledBack, unacked, ambiguous, inflightAdds, keptAdds, redone, maxRows)
}

func pendingName(ev *ccEvent) string {
	if ev == nil {
		return "-"
	}
	return ev.op + " "
}

func slicesSorted(m map[uint64][]float32) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// parentCompact compacts the reopened store and folds the map into the
// model; no delete races with it, so it may move live IDs only, and leaves
// nothing deleted.
func parentCompact(t *testing.T, db *DB, m *ccModel, rng *rand.Rand) string {
	t.Helper()
	res, err := db.Compact(context.Background())
	if err != nil {
		t.Fatalf("parent Compact: %v", err)
	}
	if res.Epoch == 0 {
		return ""
	}
	if err := checkMapShape(res); err != nil {
		t.Fatal(err)
	}
	if n := len(res.Runs); n > 0 {
		if err := m.assigned.add(res.Runs[0].New, res.Runs[n-1].New+res.Runs[n-1].Len); err != nil {
			t.Fatalf("parent Compact: %v", err)
		}
	}
	w := m.w
	if err := w.apply(res); err != nil {
		t.Fatalf("parent Compact: %v", err)
	}
	st := db.Stats()
	if st.Epoch != res.Epoch || st.Deleted != 0 || st.Live != uint64(len(w.o.vecs)) {
		t.Fatalf("after the parent's Compact (epoch %d): %+v, model %d live", res.Epoch, st, len(w.o.vecs))
	}
	for id, want := range w.o.vecs {
		if got, err := db.Get(id); err != nil || !bitsEqual(got, want) {
			t.Fatalf("after the parent's Compact: Get(%d) = %v, %v", id, got, err)
		}
	}
	for _, id := range w.dead {
		if _, err := db.Get(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after the parent's Compact: retired ID %d: %v", id, err)
		}
	}
	if since, err := db.IDMapsSince(res.Epoch - 1); err != nil || len(since) != 1 || !runsEqual(since[0].Runs, res.Runs) {
		t.Fatalf("IDMapsSince(%d) after the parent's Compact = %+v, %v", res.Epoch-1, since, err)
	}
	m.addDead(rng, w.dead)
	w.dead = nil
	return fmt.Sprintf("compacted (epoch %d)", res.Epoch)
}

// ------------------------------------------------------- deterministic --

// ctxCancelOnSeal is a context whose Err reports cancellation once the
// manifest on disk no longer lists an unsealed segment: it cancels a
// Compact right after Prepare sealed the active segment, before the copy.
type ctxCancelOnSeal struct {
	context.Context
	dir string
}

func (c ctxCancelOnSeal) Err() error {
	man, err := manifest.Load(nil, c.dir)
	if err != nil { // rewritten, and unreadable: see the test below
		return context.Canceled
	}
	for _, s := range man.Segments {
		if !s.Sealed {
			return nil
		}
	}
	return context.Canceled
}

// TestCrashCompactAbandonedAfterSealBug: Compact seals the active segment
// (engine.Prepare -> sealActiveLocked) and stores a manifest whose NextID
// is still the one the last new segment recorded. Rows appended to the
// active segment since then (appendActive never updates the manifest) have
// IDs at or above that NextID, which manifest.check rejects for a sealed
// segment. Commit's manifest fixes NextID, so only a compaction that never
// commits exposes it: a cancelled ctx, Close during the copy, or kill -9
// during the copy. The store then no longer opens (ErrCorrupt).
func TestCrashCompactAbandonedAfterSealBug(t *testing.T) {
	db, dir := openTest(t, 16)
	rng := rand.New(rand.NewSource(1))
	a, err := db.Add(randVecs(rng, 5, 16)) // new segment: manifest NextID 5
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(randVecs(rng, 5, 16)); err != nil { // IDs 5..9 appended: NextID stays 5
		t.Fatal(err)
	}
	if _, err := db.Delete(a[:1]); err != nil {
		t.Fatal(err)
	}
	ctx := ctxCancelOnSeal{Context: context.Background(), dir: dir}
	if _, err := db.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact: %v; want it cancelled after the seal", err)
	}
	if _, err := manifest.Load(nil, dir); err != nil {
		t.Errorf("after a cancelled Compact the manifest on disk does not load (a kill -9 now bricks the store): %v", err)
	}
	db = reopen(t, db, dir)
	if s := db.Stats(); s.Live != 9 {
		t.Fatalf("after reopen: %+v", s)
	}
}

// TestCrashCompactOrphansRemoved: leftovers of every kind of interrupted
// compaction (an output segment, a tombstone checkpoint, an ID map and a
// manifest temp file no manifest names) are removed by Open; files with
// other names are left alone, and referenced ones are kept.
func TestCrashCompactOrphansRemoved(t *testing.T) {
	db, dir := openTest(t, 4)
	rng := rand.New(rand.NewSource(7))
	ids, err := db.Add(randVecs(rng, 200, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete(ids[:30]); err != nil {
		t.Fatal(err)
	}
	m, err := db.Compact(context.Background())
	if err != nil || m.Epoch != 1 {
		t.Fatalf("Compact = %+v, %v", m, err)
	}
	if n, err := db.Delete(ids[150:160]); err != nil || n != 10 { // not moved: a WAL record
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	man, err := manifest.Load(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	orphans := []string{
		segment.FileName(man.NextSegment), segment.FileName(man.NextSegment + 5),
		manifest.TombsFileName(man.Generation + 1), manifest.IDMapFileName(man.Epoch + 1),
		manifest.IDMapFileName(0), manifest.FileName + ".tmp",
	}
	foreign := []string{"notes.idmap", "x.seg", "000001.tombs.bak"}
	for _, name := range append(append([]string(nil), orphans...), foreign...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("leftover"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := openT(t, dir, Options{DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for _, name := range orphans {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("orphan %s survived Open: %v", name, err)
		}
	}
	for _, name := range foreign {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s: %v", name, err)
		}
	}
	for _, name := range foreign {
		os.Remove(filepath.Join(dir, name))
	}
	kept, err := db2.IDMapsSince(0)
	if err != nil || len(kept) != 1 || !runsEqual(kept[0].Runs, m.Runs) {
		t.Fatalf("IDMapsSince(0) = %+v, %v", kept, err)
	}
	if err := checkCCFiles(dir, 1, kept); err != nil {
		t.Fatal(err)
	}
	if s := db2.Stats(); s.Live != 160 || s.Epoch != 1 {
		t.Fatalf("stats %+v", s)
	}
}
