package memvec

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
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
		r.mustBeKilled(t, round, childSeed)
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
