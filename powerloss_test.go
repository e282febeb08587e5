package memvec

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/vfs"
)

// The power-loss test. A random workload (adds of every size, deletes,
// compactions, close and reopen, ID-map releases) runs on a vfs.Fault; a
// first run counts its sync points (every Sync, Datasync and SyncDir).
// Then for each chosen sync point k the workload runs again from scratch
// and the power is cut right after the k-th sync (vfs.Decision.Crash): the
// files go back to what was fsynced, entries whose directory was not synced
// vanish. A second cut lands on a random write between sync k and sync
// k+1 and is torn (each unsynced sector kept or lost at random). After
// each cut the store is reopened on the real file system and checked
// against the model of acknowledged state (checkFaultModel): every
// acknowledged Add present bit for bit unless acknowledged deleted, no
// acknowledged delete undone, the call in flight wholly applied or absent,
// no torn vector served, Verify clean, no ID handed out twice.
//
// By default a sample of the sync points of a few seeds is cut (a few
// hundred cuts); MEMVEC_POWERLOSS_FULL=1 cuts at every sync point, and
// MEMVEC_POWERLOSS_SEEDS=n runs n seeds.
//
// The WAL is outside the seam (see package vfs): its records are fsynced
// by tidwall before Delete returns, and a cut does not roll it back.

const (
	plSteps    = 28 // workload operations per run
	plSamples  = 36 // sync points cut per seed by default
	plMaxBatch = 50 // > one 8 KiB segment (35 rows of dimension 16)
)

// plWorkload runs the workload of seed on f in dir, recording acknowledged
// state in m. It stops at the first error: a cut (f.Crashed) is expected,
// anything else is returned.
func plWorkload(seed int64, f *vfs.Fault, dir string, m *faultModel) (err error) {
	rng := rand.New(rand.NewSource(seed))
	opts := faultOptions(f)
	opts.NoSync = m.noSync
	db, err := Open(dir, opts)
	if err != nil {
		return err
	}
	defer func() {
		if db != nil {
			cerr := db.Close()
			if cerr == nil {
				m.synced()
			}
			if err == nil && !f.Crashed() {
				err = cerr
			}
		}
	}()
	for step := 0; step < plSteps; step++ {
		ids := m.liveIDs()
		switch r := rng.Intn(100); {
		case r < 40 || len(ids) < 8:
			n := 1 + rng.Intn(12)
			if rng.Intn(6) == 0 {
				n = 20 + rng.Intn(plMaxBatch-19)
			}
			err = m.add(db, randVecs(rng, n, crashDim))
		case r < 65:
			var del []uint64
			for range 1 + rng.Intn(4) {
				del = append(del, ids[rng.Intn(len(ids))])
			}
			if rng.Intn(4) == 0 {
				del = append(del, m.bound+uint64(rng.Intn(100))) // never handed out
			}
			err = m.del(db, del)
		case r < 75:
			err = m.compact(db)
		case r < 80 && m.noSync:
			if err = db.Sync(); err == nil {
				m.synced()
			}
		case r < 90:
			err = db.Close()
			db = nil
			if err == nil {
				m.synced()
				db, err = Open(dir, opts)
			}
		default:
			err = db.ReleaseIDMaps(m.epoch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// plNoSync says whether the workload of seed runs with Options.NoSync
// (and calls Sync now and then): acknowledged writes are then durable only
// once a later Sync or Close returns.
func plNoSync(seed int64) bool { return seed%2 == 0 }

// plCut is one simulated power cut: after the k-th sync (write == 0) or,
// torn, at the write-th write.
type plCut struct {
	seed  int64
	sync  int
	write int
}

func (c plCut) String() string {
	mode := ""
	if plNoSync(c.seed) {
		mode = " (NoSync)"
	}
	if c.write > 0 {
		return fmt.Sprintf("seed %d%s: torn cut at write %d (after sync %d)", c.seed, mode, c.write, c.sync)
	}
	return fmt.Sprintf("seed %d%s: cut after sync %d", c.seed, mode, c.sync)
}

// plResult is what one power cut found.
type plResult struct {
	bad    []string // invariant violations
	cut    bool     // the cut happened (the run reached its point)
	second bool     // a second cut hit the recovery after it
}

// runPowerCut runs the workload of cut.seed with the power cut as cut says
// and reopens the store to check it.
func runPowerCut(t *testing.T, cut plCut) (res plResult) {
	dir := filepath.Join(t.TempDir(), "s")
	f := vfs.NewFault(nil, uint64(cut.seed)<<20^uint64(cut.sync)<<8^uint64(cut.write))
	if cut.write > 0 {
		f.SetHook(vfs.Nth(vfs.OpWrite, "", cut.write, vfs.Decision{Crash: true, Torn: true}))
	} else {
		f.SetHook(vfs.Nth(vfs.AnySync, "", cut.sync, vfs.Decision{Crash: true}))
	}
	m := newFaultModel()
	m.noSync = plNoSync(cut.seed)
	err := plWorkload(cut.seed, f, dir, m)
	if !f.Crashed() {
		if err != nil {
			res.bad = []string{fmt.Sprintf("workload failed without a cut: %v", err)}
		}
		return res
	}
	res.cut = true
	if err != nil && !errors.Is(err, vfs.ErrCrashed) {
		res.bad = append(res.bad, fmt.Sprintf("the call cut by the crash returned %v, which does not wrap vfs.ErrCrashed", err))
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil && m.acked == 0 && !m.pending() {
		return res // cut while the store was being created: nothing was promised
	}
	// Every other cut also lands in the recovery that follows: at one of
	// its first writes or syncs (a torn tail being zeroed, orphans being
	// removed, the tail being synced). Recovery changes no data, so the
	// model is the same.
	if cut.sync%2 == 0 {
		f2 := vfs.NewFault(nil, uint64(cut.seed)^uint64(cut.sync))
		f2.SetHook(vfs.Nth(vfs.AnySync|vfs.AnyWrite|vfs.OpRemove, "", 1+cut.sync%3, vfs.Decision{Crash: true, Torn: true}))
		if db, err := Open(dir, faultOptions(f2)); err == nil {
			db.Close()
		} else if !f2.Crashed() {
			res.bad = append(res.bad, fmt.Sprintf("recovery under a fresh Fault: %v", err))
		}
		res.second = f2.Crashed()
	}
	bad := checkFaultModel(dir, m, rand.New(rand.NewSource(cut.seed)))
	res.bad = append(res.bad, bad...)
	return res
}

func TestPowerLoss(t *testing.T) {
	full := os.Getenv("MEMVEC_POWERLOSS_FULL") != ""
	seeds := 5
	if s, err := strconv.Atoi(os.Getenv("MEMVEC_POWERLOSS_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	start := time.Now()
	var cuts, torn, second, violations, syncPoints int
	for seed := int64(1); seed <= int64(seeds); seed++ {
		// The run without a cut: it must succeed, and tells where the
		// sync points are and how many writes precede each.
		dir := filepath.Join(t.TempDir(), "count")
		f := vfs.NewFault(nil, 0)
		var writesBefore []int // writesBefore[k-1]: writes before sync k
		writes := 0
		f.SetHook(func(ev vfs.Event) vfs.Decision {
			switch {
			case ev.Kind == vfs.OpWrite:
				writes++
			case ev.Kind&vfs.AnySync != 0:
				writesBefore = append(writesBefore, writes)
			}
			return vfs.Decision{}
		})
		m := newFaultModel()
		m.noSync = plNoSync(seed)
		if err := plWorkload(seed, f, dir, m); err != nil {
			t.Fatalf("seed %d: the workload fails without a cut: %v", seed, err)
		}
		if bad := checkFaultModel(dir, m, rand.New(rand.NewSource(seed))); len(bad) > 0 {
			t.Fatalf("seed %d: the workload without a cut:\n  %s", seed, strings.Join(bad, "\n  "))
		}
		n := len(writesBefore)
		syncPoints += n
		rng := rand.New(rand.NewSource(seed * 7919))
		ks := rng.Perm(n)
		if !full && len(ks) > plSamples {
			ks = ks[:plSamples]
		}
		for _, k0 := range ks {
			k := k0 + 1
			plan := []plCut{{seed: seed, sync: k}}
			// A torn cut at a write between sync k and sync k+1.
			lo, hi := writesBefore[k-1], writes
			if k < n {
				hi = writesBefore[k]
			}
			if hi > lo {
				plan = append(plan, plCut{seed: seed, sync: k, write: lo + 1 + rng.Intn(hi-lo)})
			}
			for _, cut := range plan {
				res := runPowerCut(t, cut)
				bad := res.bad
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
				if len(bad) > 0 {
					violations += len(bad)
					t.Errorf("%v:\n  %s", cut, strings.Join(bad, "\n  "))
				}
			}
		}
	}
	t.Logf("%d seeds, %d sync points, %d power cuts simulated (%d torn) plus %d during the recovery after one, %d invariant violations, in %v",
		seeds, syncPoints, cuts, torn, second, violations, time.Since(start).Round(time.Millisecond))
}
