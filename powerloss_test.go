package memvec

import (
	"fmt"
	"math/rand"
	"path/filepath"
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
// no torn vector served, Verify clean, no ID handed out twice. Then it must
// still work (checkReopened): new vectors read back, SearchIn finds them,
// Delete counts them, Live stays within Total, Compact returns.
//
// The workload runs in every combination of the crash matrix (see
// matrix_test.go): NoSync, the background compactor, tiny or default
// segments, Compact calls in the workload or none. The subtests are named
// TestPowerLoss/<combination>/seed=<n>. With the background compactor on,
// the workload waits after each call until the compactor has committed
// everything it would (autoCompactionDue): its compactions then run at the
// same point of every run, so the power is cut at each sync they do, the
// tombstone checkpoint and the manifest of their commit included.
//
// By default the power is cut right after each compaction's commit became
// durable and at a sample of the other sync points of one or two seeds per
// combination (plBudget; about 1,000 cuts in all, plus the cuts during
// recovery); MEMVEC_POWERLOSS_FULL=1 cuts at every sync point, and
// MEMVEC_POWERLOSS_SEEDS=n runs n seeds per combination. The combinations
// run in parallel. The driver (powerLossMatrix, powercut_test.go) is
// shared with TestKeysPowerLoss; this file holds the workload.
//
// The WAL is outside the seam (see package vfs): its records are fsynced
// by tidwall before Delete returns, and a cut does not roll it back.

const (
	plSteps         = 28 // workload operations per run
	plMaxBatch      = 50 // more than a few tiny segments
	plSettleTimeout = 20 * time.Second
)

// plBudget returns the default number of seeds of combination c and of
// sync points cut per seed. Default-size segments cost far more per cut:
// every Open scans the record area of a 64 MiB active segment for its
// tail (about 27 MB at dimension 16, slow under the race detector), so
// they get fewer; MEMVEC_POWERLOSS_SEEDS and MEMVEC_POWERLOSS_FULL lift
// both limits.
func plBudget(c matrixCombo) (seeds, samples int) {
	if c.tiny {
		return 2, 16
	}
	return 1, 8
}

// plRun is one run of the workload.
type plRun struct {
	combo matrixCombo
	seed  int64
	f     *vfs.Fault
	dir   string
	m     *faultModel
	// cut is closed when the Fault's hook decides to cut the power (nil:
	// never), so that a wait for the background compactor ends when the
	// cut lands in it.
	cut <-chan struct{}
}

// plWorkload runs the workload of r.seed on r.f in r.dir, recording
// acknowledged state in r.m. It stops at the first error: a cut
// (r.f.Crashed) is expected, anything else is returned.
func plWorkload(r plRun) (err error) {
	rng := rand.New(rand.NewSource(r.seed))
	m := r.m
	st, err := openPLStore(r.combo, crashDim, r.f, r.dir, m.synced)
	if err != nil {
		return err
	}
	defer st.finish(&err)
	// settle applies the maps of the compactions that committed and,
	// with the background compactor on, waits until it has nothing left
	// to do and every commit's map has arrived. A compaction it is
	// expected to commit counts as pending until its map arrives: a cut
	// may leave it applied or not.
	expecting := false
	settle := func() error {
		for {
			for _, mp := range st.watch.take() {
				if mp.Epoch <= m.epoch {
					continue // a Compact call's, applied by m.compact
				}
				if mp.Epoch != m.epoch+1 {
					return fmt.Errorf("OnCompact: epoch %d after %d", mp.Epoch, m.epoch)
				}
				if expecting {
					m.pendCompacts--
					expecting = false
				}
				m.epoch = mp.Epoch
				if err := m.apply(mp); err != nil {
					return err
				}
			}
			if !r.combo.auto {
				return nil
			}
			// The segments first, then the epoch: a compaction that
			// committed between the two shows in the epoch, and one
			// that committed before the first read shows in both. Its
			// map may still be on its way to OnCompact.
			due, err := autoCompactionDue(st.db)
			if err != nil {
				return err
			}
			if !due && st.db.Stats().Epoch == m.epoch {
				return nil
			}
			if !expecting {
				m.bound += uint64(len(m.live)) // the fresh IDs it may hand out
				m.pendCompacts++
				expecting = true
			}
			select {
			case <-st.watch.wake:
			case <-r.cut:
				return fmt.Errorf("power cut while the background compactor ran: %w", vfs.ErrCrashed)
			case <-time.After(plSettleTimeout):
				return fmt.Errorf("a background compaction is due (autoCompactionDue), but none committed in %v: does the test's copy of the policy still match compactor.pickAuto?", plSettleTimeout)
			}
		}
	}
	if err := settle(); err != nil {
		return err
	}
	for step := 0; step < plSteps; step++ {
		ids := m.liveIDs()
		switch x := rng.Intn(100); {
		case x < 35 || len(ids) < 8:
			// Small batches too, which fit in a tiny active segment's
			// free space: appended there without a sync under NoSync.
			n := 1 + rng.Intn(12)
			switch rng.Intn(6) {
			case 0:
				n = 20 + rng.Intn(plMaxBatch-19)
			case 1, 2:
				n = 1 + rng.Intn(matrixTinyRows-1)
			}
			err = m.add(st.db, randVecs(rng, n, crashDim))
		case x < 48:
			// Churn: a small batch, most likely appended to the active
			// segment (without a sync under NoSync), then deleted with a
			// few older IDs, whose segments that makes worth compacting,
			// so that a background compaction's tombstone checkpoint
			// records the tombstones of rows not yet durable (issue 10,
			// item 1).
			vecs := randVecs(rng, 1+rng.Intn(matrixTinyRows-1), crashDim)
			if err = m.add(st.db, vecs); err == nil {
				err = settle() // a new segment wakes the compactor
			}
			if err != nil {
				break
			}
			batch := map[*float32]bool{}
			for _, v := range vecs {
				batch[&v[0]] = true
			}
			var fresh []uint64 // the batch's IDs
			for _, id := range m.liveIDs() {
				if batch[&m.live[id][0]] {
					fresh = append(fresh, id)
				}
			}
			del := fresh[:1+rng.Intn(len(fresh))]
			for range 1 + rng.Intn(2) {
				del = append(del, ids[rng.Intn(len(ids))])
			}
			err = m.del(st.db, del)
		case x < 65:
			// Often one of the newest IDs, in the active segment (unsynced
			// under NoSync), whose tombstone a background compaction's
			// checkpoint records, and others anywhere, in sealed segments
			// that the delete makes worth compacting.
			var del []uint64
			for i := range 1 + rng.Intn(4) {
				if i == 0 && rng.Intn(2) == 0 {
					del = append(del, ids[len(ids)-1-rng.Intn(min(len(ids), 3))])
				} else {
					del = append(del, ids[rng.Intn(len(ids))])
				}
			}
			if rng.Intn(4) == 0 {
				del = append(del, m.bound+uint64(rng.Intn(100))) // never handed out
			}
			err = m.del(st.db, del)
		case x < 75 && r.combo.compact:
			err = m.compact(st.db)
		case x < 80 && m.noSync:
			err = st.sync()
		case x < 90:
			err = st.reopen()
		default:
			err = st.db.ReleaseIDMaps(m.epoch)
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

func TestPowerLoss(t *testing.T) {
	powerLossMatrix(t, plBudget, func(c matrixCombo, seed int64, f *vfs.Fault, dir string, cut <-chan struct{}) plOutcome {
		m := newFaultModel()
		m.noSync = c.noSync
		err := plWorkload(plRun{combo: c, seed: seed, f: f, dir: dir, m: m, cut: cut})
		return plOutcome{
			err:      err,
			promised: m.acked > 0 || m.pending(),
			check:    func(dir string, rng *rand.Rand) []string { return checkFaultModel(dir, m, rng) },
		}
	})
}

// TestPowerLossNoSyncCompactionCheckpoint is issue 10, item 1, on the
// simulated file system: a NoSync store whose background compactor commits
// a tombstone checkpoint while the active segment holds unsynced rows that
// were deleted. The checkpoint records their tombstones; the power cut
// takes the rows. The store must come back with every synced vector, and
// the rows appended later at those positions must not be born deleted:
// each new vector reads back, SearchIn finds it, Delete counts it, Live
// stays within Total, and Compact returns.
func TestPowerLossNoSyncCompactionCheckpoint(t *testing.T) {
	const segRows = 64
	dir := filepath.Join(t.TempDir(), "s")
	f := vfs.NewFault(nil, 1)
	watch := newCompactWatch()
	db, err := openT(t, dir, Options{
		Dimension: crashDim, SegmentBytes: segmentBytesFor(crashDim, segRows), NoSync: true,
		CompactionGarbageRatio: matrixGarbageRatio, OnCompact: watch.onCompact, fs: f,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewSource(10))
	add := func(n int) ([]uint64, [][]float32) {
		t.Helper()
		vecs := randVecs(rng, n, crashDim)
		ids, err := db.Add(vecs)
		if err != nil {
			t.Fatalf("Add(%d): %v", n, err)
		}
		return ids, vecs
	}
	del := func(ids []uint64) {
		t.Helper()
		if n, err := db.Delete(ids); err != nil || n != len(ids) {
			t.Fatalf("Delete of %d IDs = %d, %v", len(ids), n, err)
		}
	}
	seg0, vecs0 := add(segRows) // fills segment 0, which is sealed
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	seg1, vecs1 := add(2) // segment 1, written durably before the manifest names it
	unsynced, _ := add(60)
	del(unsynced)
	if infos, err := db.SegmentInfo(); err != nil || len(infos) != 2 || !infos[0].Sealed || infos[1].Sealed || infos[1].Rows != 62 {
		t.Fatalf("segments %+v, %v; want a full sealed one and an active one of 62 rows", infos, err)
	}
	del(seg0[:20]) // 20 of 64 deleted: the background compactor rewrites segment 0
	var mp IDMap
	select {
	case <-watch.wake:
		maps := watch.take()
		if len(maps) != 1 || maps[0].Epoch != 1 {
			t.Fatalf("OnCompact received %+v; want the map of epoch 1", maps)
		}
		mp = maps[0]
	case <-time.After(matrixCompactTimeout):
		t.Fatalf("the background compactor did not commit within %v", matrixCompactTimeout)
	}
	if err := f.Crash(); err != nil {
		t.Fatal(err)
	}
	db.Close() // the machine is off: it fails

	// Every synced vector survives, at the ID the map gave it.
	want := map[uint64][]float32{}
	for i, id := range seg0[20:] {
		nid, ok := mp.Lookup(id)
		if !ok {
			t.Fatalf("the map does not move live ID %d of the compacted segment", id)
		}
		want[nid] = vecs0[20+i]
	}
	for i, id := range seg1 {
		want[id] = vecs1[i]
	}
	db2, err := openT(t, dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	for id, v := range want {
		if got, err := db2.Get(id); err != nil || !bitsEqual(got, v) {
			t.Errorf("Get(%d) of a synced vector = %v, %v", id, got, err)
		}
	}
	if st := db2.Stats(); st.Live != uint64(len(want)) {
		t.Errorf("Stats after the cut: %+v; %d vectors are live", st, len(want))
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened (the compactor off, so that the new IDs stay put), it takes
	// new vectors.
	for _, bad := range checkReopened(dir, Options{DisableAutoCompaction: true}, crashDim, rng) {
		t.Error(bad)
	}
}
