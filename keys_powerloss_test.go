package memvec

import (
	"context"
	"fmt"
	"math/rand"
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
// and MEMVEC_POWERLOSS_SEEDS=n runs n seeds, as for TestPowerLoss, whose
// driver (powerLossMatrix) it shares; the run without a cut is checked
// the same way.

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
	st, err := openPLStore(c, kplDim, f, dir, m.synced)
	if err != nil {
		return err
	}
	defer st.finish(&err)
	// settle waits for the background compactor, so that its file
	// operations come at the same point of every run.
	settle := func() error {
		for c.auto {
			due, err := autoCompactionDue(st.db)
			if err != nil || !due {
				return err
			}
			select {
			case <-st.watch.wake:
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
			err = m.put(st.db, recs)
		case x < 72:
			keys := make([]string, 1+rng.Intn(3))
			for i := range keys {
				keys[i] = m.space[rng.Intn(len(m.space))]
			}
			err = m.deleteKeys(st.db, keys)
		case x < 82 && c.compact:
			_, err = st.db.Compact(context.Background())
		case x < 88 && c.noSync:
			err = st.sync()
		case x < 94:
			err = st.reopen()
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
	budget := func(c matrixCombo) (seeds, samples int) { return 1, kplSamples(c) }
	powerLossMatrix(t, budget, func(c matrixCombo, seed int64, f *vfs.Fault, dir string, cut <-chan struct{}) plOutcome {
		m := newKCModel(keySpace(kplKeys), c.noSync)
		err := kplWorkload(c, seed, f, dir, m, cut)
		return plOutcome{
			err:      err,
			promised: m.acked > 0,
			check:    func(dir string, _ *rand.Rand) []string { return checkKeysAfterCrash(dir, m) },
			history: func() []string {
				lines := []string{"the calls, last first:"}
				for i := len(m.log) - 1; i >= max(0, len(m.log)-8); i-- {
					lines = append(lines, "  "+m.log[i])
				}
				return lines
			},
		}
	})
}
