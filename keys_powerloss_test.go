package memvec

import (
	"context"
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

// The power-cut simulation of keyed records, powerloss_test.go's method
// applied to Put and DeleteKeys: a keyed workload (Puts of new and
// existing keys, spanning segments or appended to the active one,
// DeleteKeys, Compact, Sync, close and reopen) runs on a vfs.Fault; a
// first run counts its sync points, then the workload runs again from
// scratch once per chosen sync point with the power cut right after it,
// and once torn at a random write before the next one. After each cut
// (and, every other time, a second cut during the recovery that follows)
// the store is reopened on the real file system and checked
// (kcModel.check): every key holds the state of its last acknowledged
// call or, for the call the cut interrupted and, with NoSync, for the
// calls acknowledged since the last Sync or Close, one of the states it
// had meanwhile: old or new, never both (no key live twice), never
// neither; without NoSync the interrupted call is all or nothing. Then
// the store must still work (checkReopened).
//
// It runs in all 16 combinations of the crash matrix, in parallel, one
// seed and kplSamples sync points each by default (the commit of every
// compaction included); MEMVEC_POWERLOSS_FULL=1 cuts at every sync point
// and MEMVEC_POWERLOSS_SEEDS=n runs n seeds, as for TestPowerLoss.

const (
	kplDim   = crashDim // faultOptions, used for the second cut, says so
	kplKeys  = 20
	kplSteps = 24
)

// kplSamples is how many sync points of one seed are cut by default
// (each twice: right after it, and torn before the next).
func kplSamples(c matrixCombo) int {
	if c.tiny {
		return 10
	}
	return 5
}

// kplWorkload runs the keyed workload of seed on f in dir, recording in m.
// It stops at the first error: a cut (f.Crashed) is expected.
func kplWorkload(c matrixCombo, seed int64, f *vfs.Fault, dir string, m *kcModel, cut <-chan struct{}) (err error) {
	rng := rand.New(rand.NewSource(seed))
	watch := newCompactWatch()
	opts := c.options(kplDim)
	opts.fs = f
	opts.OnCompact = watch.onCompact
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
	// settle waits for the background compactor, so that its file
	// operations come at the same point of every run.
	settle := func() error {
		for c.auto {
			due, err := autoCompactionDue(db)
			if err != nil || !due {
				return err
			}
			select {
			case <-watch.wake:
			case <-cut:
				return fmt.Errorf("power cut while the background compactor ran: %w", vfs.ErrCrashed)
			case <-time.After(plSettleTimeout):
				return fmt.Errorf("a background compaction is due, but none committed in %v", plSettleTimeout)
			}
		}
		return nil
	}
	for step := 0; step < kplSteps; step++ {
		switch x := rng.Intn(100); {
		case x < 55:
			n := 1 + rng.Intn(3)
			if rng.Intn(4) == 0 {
				n = 4 + rng.Intn(10) // spans tiny segments
			}
			recs := make([]Record, n)
			for i, j := range rng.Perm(len(m.space))[:n] {
				recs[i] = Record{Key: m.space[j], Vector: randVec(rng, kplDim), Payload: randPayload(rng)}
			}
			err = m.put(db, recs)
		case x < 72:
			keys := make([]string, 1+rng.Intn(3))
			for i := range keys {
				keys[i] = m.space[rng.Intn(len(m.space))]
			}
			err = m.deleteKeys(db, keys)
		case x < 82 && c.compact:
			_, err = db.Compact(context.Background())
		case x < 88 && c.noSync:
			if err = db.Sync(); err == nil {
				m.synced()
			}
		case x < 94:
			err = db.Close()
			db = nil
			if err == nil {
				m.synced()
				db, err = Open(dir, opts)
			}
		}
		if err == nil {
			err = settle()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestKeysPowerLoss(t *testing.T) {
	t.Parallel()
	full := os.Getenv("MEMVEC_POWERLOSS_FULL") != ""
	seeds := 1
	if s, err := strconv.Atoi(os.Getenv("MEMVEC_POWERLOSS_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	for _, c := range matrixCombos() {
		samples := kplSamples(c)
		if full {
			samples = 0
		}
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			for seed := int64(1); seed <= int64(seeds); seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { keysPowerLossSeed(t, c, seed, samples) })
			}
		})
	}
}

// keysPowerLossSeed cuts the power at samples sync points (all if 0) of
// the workload of seed and checks each cut.
func keysPowerLossSeed(t *testing.T, c matrixCombo, seed int64, samples int) {
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "count")
	f := vfs.NewFault(nil, 0)
	var writesBefore, commits []int
	writes := 0
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		switch {
		case ev.Kind == vfs.OpWrite:
			writes++
		case ev.Kind&vfs.AnySync != 0:
			writesBefore = append(writesBefore, writes)
			if strings.HasSuffix(ev.Path, ".idmap") {
				commits = append(commits, len(writesBefore)+3) // see powerLossSeed
			}
		}
		return vfs.Decision{}
	})
	m := newKCModel(keySpace(kplKeys), c.noSync)
	if err := kplWorkload(c, seed, f, dir, m, nil); err != nil {
		t.Fatalf("the workload fails without a cut: %v", err)
	}
	if bad := checkKeysAfterCrash(dir, m); len(bad) > 0 {
		t.Fatalf("the workload without a cut:\n  %s", strings.Join(bad, "\n  "))
	}
	n := len(writesBefore)
	rng := rand.New(rand.NewSource(seed * 7919))
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
	var cuts, second int
	for _, k := range ks {
		plan := []plCut{{combo: c, seed: seed, sync: k}}
		lo, hi := writesBefore[k-1], writes
		if k < n {
			hi = writesBefore[k]
		}
		if hi > lo {
			plan = append(plan, plCut{combo: c, seed: seed, sync: k, write: lo + 1 + rng.Intn(hi-lo)})
		}
		for _, cut := range plan {
			ok, sec, bad := keysPowerCut(t, cut)
			if ok {
				cuts++
			}
			if sec {
				second++
			}
			if len(bad) > 0 {
				t.Errorf("%v:\n  %s", cut, strings.Join(bad, "\n  "))
			}
		}
	}
	t.Logf("%d sync points, %d power cuts (plus %d during the recovery after one), in %v", n, cuts, second, time.Since(start).Round(time.Millisecond))
}

// keysPowerCut runs the workload with the power cut as cut says, then
// checks the store. It reports whether the cut happened and whether a
// second cut hit the recovery after it.
func keysPowerCut(t *testing.T, cut plCut) (happened, second bool, bad []string) {
	dir := filepath.Join(t.TempDir(), "s")
	f := vfs.NewFault(nil, uint64(cut.seed)<<20^uint64(cut.sync)<<8^uint64(cut.write))
	h := vfs.Nth(vfs.AnySync, "", cut.sync, vfs.Decision{Crash: true})
	if cut.write > 0 {
		h = vfs.Nth(vfs.OpWrite, "", cut.write, vfs.Decision{Crash: true, Torn: true})
	}
	h, cutCh := cutHook(h)
	f.SetHook(h)
	m := newKCModel(keySpace(kplKeys), cut.combo.noSync)
	err := kplWorkload(cut.combo, cut.seed, f, dir, m, cutCh)
	if !f.Crashed() {
		if err != nil {
			bad = append(bad, fmt.Sprintf("workload failed without a cut: %v", err))
		}
		return false, false, bad
	}
	defer func() {
		if len(bad) > 0 {
			bad = append(bad, "the calls, last first:")
			for i := len(m.log) - 1; i >= max(0, len(m.log)-8); i-- {
				bad = append(bad, "  "+m.log[i])
			}
		}
	}()
	if err != nil && !errors.Is(err, vfs.ErrCrashed) {
		bad = append(bad, fmt.Sprintf("the call cut by the crash returned %v, which does not wrap vfs.ErrCrashed", err))
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil && m.acked == 0 {
		return true, false, bad // cut while the store was being created
	}
	if cut.sync%2 == 0 {
		f2 := vfs.NewFault(nil, uint64(cut.seed)^uint64(cut.sync))
		f2.SetHook(vfs.Nth(vfs.AnySync|vfs.AnyWrite|vfs.OpRemove, "", 1+cut.sync%3, vfs.Decision{Crash: true, Torn: true}))
		if db, err := openT(t, dir, faultOptions(f2)); err == nil {
			db.Close()
		} else if !f2.Crashed() {
			bad = append(bad, fmt.Sprintf("recovery under a fresh Fault: %v", err))
		}
		second = f2.Crashed()
	}
	bad = append(bad, checkKeysAfterCrash(dir, m)...)
	bad = append(bad, checkReopened(dir, Options{DisableAutoCompaction: true}, kplDim, rand.New(rand.NewSource(cut.seed)))...)
	return true, second, bad
}
