package memvec

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/vfs"
)

// The power-cut driver shared by TestPowerLoss and TestKeysPowerLoss: the
// method (count the sync points of a run without a cut, then rerun from
// scratch with the power cut at a chosen one, and torn at a write before
// the next, maybe cut again during recovery, then check) is the same for
// every workload; only the workload and its model of acknowledged state
// differ, and they come in as a plWorkloadFunc.

// plWorkloadFunc runs a workload of combination c and seed from scratch on
// f in dir and returns what it acknowledged. cut is as plRun.cut: closed
// when the Fault's hook cuts the power (nil: never).
type plWorkloadFunc func(c matrixCombo, seed int64, f *vfs.Fault, dir string, cut <-chan struct{}) plOutcome

// plOutcome is what one run of a workload left.
type plOutcome struct {
	err error // the workload's error: a cut (vfs.ErrCrashed) is expected
	// promised says whether the run acknowledged anything (or has a
	// background compaction pending): if not, and MANIFEST is missing,
	// the cut came while the store was being created and nothing is
	// checked.
	promised bool
	// check checks the store in dir against the model of the run; rng
	// then goes on to checkReopened.
	check func(dir string, rng *rand.Rand) []string
	// history, if set, returns lines appended to a failing cut's report
	// (the last calls of the run).
	history func() []string
}

// plCut is one simulated power cut: after the k-th sync (write == 0) or,
// torn, at the write-th write.
type plCut struct {
	combo matrixCombo
	seed  int64
	sync  int
	write int
}

func (c plCut) String() string {
	if c.write > 0 {
		return fmt.Sprintf("torn cut at write %d (after sync %d)", c.write, c.sync)
	}
	return fmt.Sprintf("cut after sync %d", c.sync)
}

// plResult is what one power cut found.
type plResult struct {
	bad    []string // invariant violations
	cut    bool     // the cut happened (the run reached its point)
	second bool     // a second cut hit the recovery after it
}

// cutHook wraps h so that the returned channel is closed as soon as h
// decides to cut the power.
func cutHook(h vfs.Hook) (vfs.Hook, <-chan struct{}) {
	cut := make(chan struct{})
	var once sync.Once
	return func(ev vfs.Event) vfs.Decision {
		d := h(ev)
		if d.Crash {
			once.Do(func() { close(cut) })
		}
		return d
	}, cut
}

// powerLossMatrix runs the power-cut simulation of workload in every
// combination of the crash matrix, in parallel, as subtests
// <combination>/seed=<n>; budget gives each combination's default number
// of seeds and of sync points cut per seed. MEMVEC_POWERLOSS_SEEDS=n runs
// n seeds per combination, MEMVEC_POWERLOSS_FULL=1 cuts at every sync
// point.
func powerLossMatrix(t *testing.T, budget func(matrixCombo) (seeds, samples int), workload plWorkloadFunc) {
	t.Parallel()
	full := os.Getenv("MEMVEC_POWERLOSS_FULL") != ""
	for _, c := range matrixCombos() {
		seeds, samples := budget(c)
		if s, err := strconv.Atoi(os.Getenv("MEMVEC_POWERLOSS_SEEDS")); err == nil && s > 0 {
			seeds = s
		}
		if full {
			samples = 0
		}
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			for seed := int64(1); seed <= int64(seeds); seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { powerLossSeed(t, c, seed, samples, workload) })
			}
		})
	}
}

// powerLossSeed cuts the power at samples sync points (all of them if 0)
// of one workload and checks each cut.
func powerLossSeed(t *testing.T, c matrixCombo, seed int64, samples int, workload plWorkloadFunc) {
	start := time.Now()
	// The run without a cut: it must succeed, and tells where the sync
	// points are and how many writes precede each.
	dir := filepath.Join(t.TempDir(), "count")
	f := vfs.NewFault(nil, 0)
	var writesBefore []int // writesBefore[k-1]: writes before sync k
	writes := 0
	var commits []int // the sync after which each compaction's commit is durable
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		switch {
		case ev.Kind == vfs.OpWrite:
			writes++
		case ev.Kind&vfs.AnySync != 0:
			writesBefore = append(writesBefore, writes)
			// A commit syncs its ID map, the directory, MANIFEST.tmp
			// and, once renamed, the directory: three syncs later.
			if strings.HasSuffix(ev.Path, ".idmap") {
				commits = append(commits, len(writesBefore)+3)
			}
		}
		return vfs.Decision{}
	})
	out := workload(c, seed, f, dir, nil)
	if out.err != nil {
		t.Fatalf("the workload fails without a cut: %v", out.err)
	}
	rng := rand.New(rand.NewSource(seed))
	bad := out.check(dir, rng)
	bad = append(bad, checkReopened(dir, Options{DisableAutoCompaction: true}, crashDim, rng)...)
	if len(bad) > 0 {
		t.Fatalf("the workload without a cut:\n  %s", strings.Join(bad, "\n  "))
	}
	var cuts, torn, second, violations int
	n := len(writesBefore)
	rng = rand.New(rand.NewSource(seed * 7919))
	// Right after each compaction's commit, background or not, became
	// durable (the moment issue 10's checkpoint bug needs), then a
	// sample of the rest.
	var ks []int
	seen := map[int]bool{}
	for _, k := range commits {
		if k <= n && !seen[k] {
			seen[k] = true
			ks = append(ks, k)
		}
	}
	for i, k0 := range rng.Perm(n) {
		if samples > 0 && i >= samples {
			break
		}
		if !seen[k0+1] {
			seen[k0+1] = true
			ks = append(ks, k0+1)
		}
	}
	for _, k := range ks {
		plan := []plCut{{combo: c, seed: seed, sync: k}}
		// A torn cut at a write between sync k and sync k+1.
		lo, hi := writesBefore[k-1], writes
		if k < n {
			hi = writesBefore[k]
		}
		if hi > lo {
			plan = append(plan, plCut{combo: c, seed: seed, sync: k, write: lo + 1 + rng.Intn(hi-lo)})
		}
		for _, cut := range plan {
			res := runPowerCut(t, cut, workload)
			if res.second {
				second++
			}
			if !res.cut {
				t.Logf("%v: the run took another path and never got there", cut)
			} else {
				cuts++
				if cut.write > 0 {
					torn++
				}
			}
			if len(res.bad) > 0 {
				violations += len(res.bad)
				t.Errorf("%v:\n  %s", cut, strings.Join(res.bad, "\n  "))
			}
		}
	}
	t.Logf("%d sync points, %d power cuts simulated (%d torn) plus %d during the recovery after one, %d invariant violations, in %v",
		n, cuts, torn, second, violations, time.Since(start).Round(time.Millisecond))
}

// runPowerCut runs workload with the power cut as cut says and reopens the
// store to check it.
func runPowerCut(t *testing.T, cut plCut, workload plWorkloadFunc) (res plResult) {
	dir := filepath.Join(t.TempDir(), "s")
	f := vfs.NewFault(nil, uint64(cut.seed)<<20^uint64(cut.sync)<<8^uint64(cut.write))
	h := vfs.Nth(vfs.AnySync, "", cut.sync, vfs.Decision{Crash: true})
	if cut.write > 0 {
		h = vfs.Nth(vfs.OpWrite, "", cut.write, vfs.Decision{Crash: true, Torn: true})
	}
	h, cutCh := cutHook(h)
	f.SetHook(h)
	out := workload(cut.combo, cut.seed, f, dir, cutCh)
	if !f.Crashed() {
		if out.err != nil {
			res.bad = []string{fmt.Sprintf("workload failed without a cut: %v", out.err)}
		}
		return res
	}
	res.cut = true
	defer func() {
		if len(res.bad) > 0 && out.history != nil {
			res.bad = append(res.bad, out.history()...)
		}
	}()
	if out.err != nil && !errors.Is(out.err, vfs.ErrCrashed) {
		res.bad = append(res.bad, fmt.Sprintf("the call cut by the crash returned %v, which does not wrap vfs.ErrCrashed", out.err))
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil && !out.promised {
		return res // cut while the store was being created: nothing was promised
	}
	// Every other cut also lands in the recovery that follows: at one of
	// its first writes or syncs (a torn tail being zeroed, orphans being
	// removed, the tail being synced). Recovery changes no data, so the
	// model is the same.
	if cut.sync%2 == 0 {
		f2 := vfs.NewFault(nil, uint64(cut.seed)^uint64(cut.sync))
		f2.SetHook(vfs.Nth(vfs.AnySync|vfs.AnyWrite|vfs.OpRemove, "", 1+cut.sync%3, vfs.Decision{Crash: true, Torn: true}))
		if db, err := openT(t, dir, faultOptions(f2)); err == nil {
			db.Close()
		} else if !f2.Crashed() {
			res.bad = append(res.bad, fmt.Sprintf("recovery under a fresh Fault: %v", err))
		}
		res.second = f2.Crashed()
	}
	rng := rand.New(rand.NewSource(cut.seed))
	res.bad = append(res.bad, out.check(dir, rng)...)
	res.bad = append(res.bad, checkReopened(dir, Options{DisableAutoCompaction: true}, crashDim, rng)...)
	return res
}

// plStore is the store a power-cut workload runs on: opened on f with the
// options of its combination, the background compactor reporting to
// watch. synced is called whenever a Sync or Close returns nil: what the
// model may then count as durable.
type plStore struct {
	db     *DB // nil after a Close whose reopen failed
	dir    string
	opts   Options
	f      *vfs.Fault
	watch  *compactWatch
	synced func()
}

// openPLStore opens the store of combination c (vectors of dim) in dir on f.
func openPLStore(c matrixCombo, dim int, f *vfs.Fault, dir string, synced func()) (*plStore, error) {
	s := &plStore{dir: dir, opts: c.options(dim), f: f, watch: newCompactWatch(), synced: synced}
	s.opts.fs = f
	s.opts.OnCompact = s.watch.onCompact
	db, err := Open(dir, s.opts)
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// finish closes the store at the end of a workload whose error is *err
// (deferred): a Close error is the workload's unless the power was cut.
func (s *plStore) finish(err *error) {
	if s.db == nil {
		return
	}
	cerr := s.db.Close()
	if cerr == nil {
		s.synced()
	}
	if *err == nil && !s.f.Crashed() {
		*err = cerr
	}
}

// sync calls Sync.
func (s *plStore) sync() error {
	err := s.db.Sync()
	if err == nil {
		s.synced()
	}
	return err
}

// reopen closes and reopens the store.
func (s *plStore) reopen() error {
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return err
	}
	s.synced()
	s.db, err = Open(s.dir, s.opts)
	return err
}
