package memvec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// The kill -9 test: a child process (this test binary, re-run with
// -test.run=^TestCrashHelper$) writes to a store and reports every
// operation on stdout, once before the call (intent) and once after it
// returned (ack). The parent SIGKILLs it at a random moment, reopens the
// store and checks it against a model built from the acks alone: acked
// writes are all there, the one operation in flight is all-or-nothing, and
// nothing else exists. The rounds share one store, so every round also
// recovers from the damage of the previous kill; after the last one the
// store must still take writes (checkReopened).
//
// It runs in the combinations of the crash matrix (matrix_test.go) where
// IDs never move, which its model relies on: NoSync on and off, tiny and
// default segments, no compaction. TestCrashCompactKill9 runs all 16,
// compaction included. MEMVEC_CRASH_ROUNDS sets the rounds per
// combination.

const (
	crashDim        = 16
	crashEnvDir     = "MEMVEC_CRASH_DIR"
	crashEnvSeed    = "MEMVEC_CRASH_SEED"
	crashEnvCombo   = "MEMVEC_CRASH_COMBO" // the child's combination of the crash matrix
	crashEnvRounds  = "MEMVEC_CRASH_ROUNDS"
	crashEnvTest    = "MEMVEC_CRASH_TEST_SEED" // parent's seed, to replay a failure
	crashLinePrefix = "memvec-crash "
	crashMaxAdd     = 60 // > one 8 KiB segment (35 rows of dimension 16)
	crashChildLimit = 2 * time.Minute
	crashRounds     = 6 // per combination, by default
)

// crashOptions returns the options of combination c; the plain kill -9
// test runs only combinations without compaction, where IDs stay put.
func crashOptions(c matrixCombo) Options {
	return c.options(crashDim)
}

// crashBatch derives a batch's vectors from its seed, so that the parent can
// rebuild what the child passed to Add from one line of output.
func crashBatch(seed int64, n int) [][]float32 {
	return randVecs(rand.New(rand.NewSource(seed)), n, crashDim)
}

func formatIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ",")
}

func parseIDs(s string) ([]uint64, error) {
	var ids []uint64
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// childSeedAndCombo returns the seed and matrix combination a child
// process was given in environment variables seedEnv and comboEnv; it
// exits with status 2 on a bad value.
func childSeedAndCombo(seedEnv, comboEnv string) (int64, matrixCombo) {
	seed, err := strconv.ParseInt(os.Getenv(seedEnv), 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad %s: %v\n", seedEnv, err)
		os.Exit(2)
	}
	c, err := parseMatrixCombo(os.Getenv(comboEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return seed, c
}

// TestCrashHelper is the child process of TestCrashKill9; it does nothing
// unless MEMVEC_CRASH_DIR is set. It never returns: it writes until it is
// killed (or exits non-zero on an error or after crashChildLimit).
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("helper process of TestCrashKill9")
	}
	seed, c := childSeedAndCombo(crashEnvSeed, crashEnvCombo)
	os.Exit(crashChild(dir, seed, c))
}

func crashChild(dir string, seed int64, c matrixCombo) int {
	// One write(2) per line, no buffering: what the parent reads is exactly
	// what had happened when the kill came.
	say := func(format string, a ...any) { memvectest.Say(crashLinePrefix, format, a...) }
	fail := func(what string, err error) int { return memvectest.Fail("crash child", what, err) }
	rng := rand.New(rand.NewSource(seed))
	db, err := Open(dir, crashOptions(c))
	if err != nil {
		return fail("open", err)
	}
	next := db.Stats().NextID
	say("ready %d", next)
	deadline := time.Now().Add(crashChildLimit)
	for time.Now().Before(deadline) {
		if rng.Intn(3) != 0 {
			n := 1 + rng.Intn(crashMaxAdd)
			if rng.Intn(10) == 0 {
				n = 1 + rng.Intn(4)
			}
			bseed := rng.Int63()
			vecs := crashBatch(bseed, n)
			say("add-begin %d %d", bseed, n)
			ids, err := db.Add(vecs)
			if err != nil {
				return fail("add", err)
			}
			say("add %d %d %d", ids[0], n, bseed)
			next = ids[n-1] + 1
			continue
		}
		ids := make([]uint64, 1+rng.Intn(10))
		for i := range ids {
			switch r := rng.Intn(10); {
			case r == 0: // unknown: not handed out yet, or never will be
				ids[i] = next + uint64(rng.Intn(5))
				if rng.Intn(2) == 0 {
					ids[i] = 1<<40 + uint64(rng.Intn(1000))
				}
			case r == 1 && i > 0: // repeated
				ids[i] = ids[rng.Intn(i)]
			case r < 5 && next > 0: // recent, likely in the active segment
				ids[i] = next - 1 - uint64(rng.Int63n(int64(min(next, 80))))
			case next > 0: // anywhere: live or already deleted
				ids[i] = uint64(rng.Int63n(int64(next)))
			default:
				ids[i] = uint64(rng.Intn(5))
			}
		}
		s := formatIDs(ids)
		say("del-begin %s", s)
		cnt, err := db.Delete(ids)
		if err != nil {
			return fail("delete", err)
		}
		say("del %d %s", cnt, s)
	}
	return 3
}

// crashOp is an operation whose intent was printed and whose ack was not.
type crashOp struct {
	add  bool
	seed int64 // add
	n    int   // add
	ids  []uint64
}

func (op *crashOp) String() string {
	if op == nil {
		return "none"
	}
	if op.add {
		return fmt.Sprintf("add of %d vectors (seed %d)", op.n, op.seed)
	}
	return fmt.Sprintf("delete of %v", op.ids)
}

// crashRound is what one child run reported.
type crashRound struct {
	lines    []string
	stderr   string
	signaled bool // ended by our SIGKILL, as it must
	waitErr  error
}

// killChild runs the child process helper (a Test function of this binary)
// with the environment env and SIGKILLs it delay after it printed its
// ready line (the line that ready accepts) or, fromStart, delay after its
// start. It returns the lines the child printed after prefix.
func killChild(t *testing.T, helper, prefix string, env []string, ready func(line string) bool, delay time.Duration, fromStart bool) crashRound {
	t.Helper()
	child := memvectest.StartChild(t, helper, false, env...)
	// A backstop against a hung child; the round then fails because the
	// child did not die by the kill it was meant to.
	backstop := time.AfterFunc(time.Minute, child.Kill)
	defer backstop.Stop()
	var timer *time.Timer
	if fromStart {
		timer = time.AfterFunc(delay, child.Kill)
	}
	var r crashRound
	err := memvectest.ReadLines(child.Stdout, prefix, func(rest string) {
		if timer == nil && ready(rest) {
			timer = time.AfterFunc(delay, child.Kill)
		}
		r.lines = append(r.lines, rest)
	})
	if err != nil {
		t.Errorf("reading the child's stdout: %v", err)
	}
	r.waitErr = child.Wait()
	if timer != nil {
		timer.Stop()
	}
	r.signaled = child.Killed()
	r.stderr = child.Stderr()
	return r
}

// mustBeKilled fails the test unless the child of round (seed childSeed)
// died by our SIGKILL and the race detector found nothing in it.
func (r crashRound) mustBeKilled(t *testing.T, round int, childSeed int64) {
	t.Helper()
	if strings.Contains(r.stderr, "DATA RACE") || !r.signaled {
		t.Fatalf("round %d: child (seed %d) did not die by our SIGKILL: %v\nstderr:\n%s", round, childSeed, r.waitErr, r.stderr)
	}
}

// killDelay draws when a round's child is killed: mostly a few ms to
// 300 ms after the child reported its store open; sometimes measured
// from the start (fromStart), to kill it during Open's own recovery.
func killDelay(rng *rand.Rand) (delay time.Duration, fromStart bool) {
	delay = time.Duration(1+rng.Intn(300)) * time.Millisecond
	if rng.Intn(4) == 0 {
		delay = time.Duration(rng.Intn(10000)) * time.Microsecond
	}
	return delay, rng.Intn(6) == 0
}

// runCrashChild runs one child of TestCrashKill9 and kills it delay after
// its ready line (or after its start, fromStart).
func runCrashChild(t *testing.T, dir string, seed int64, c matrixCombo, delay time.Duration, fromStart bool) crashRound {
	t.Helper()
	env := []string{crashEnvDir + "=" + dir, crashEnvSeed + "=" + strconv.FormatInt(seed, 10), crashEnvCombo + "=" + c.String()}
	ready := func(line string) bool { return strings.HasPrefix(line, "ready ") }
	return killChild(t, "TestCrashHelper", crashLinePrefix, env, ready, delay, fromStart)
}

// applyCrashLines folds the acks of one round into the model and returns
// the operation in flight when the child died, if any.
func applyCrashLines(t *testing.T, o *oracle, lines []string) *crashOp {
	t.Helper()
	var pending *crashOp
	for _, line := range lines {
		f := strings.Fields(line)
		bad := func(err error) {
			t.Fatalf("child line %q: %v", line, err)
		}
		if len(f) == 0 {
			t.Fatalf("empty child line")
		}
		switch {
		case f[0] == "ready" && len(f) == 2:
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				bad(err)
			}
			// A NoSync child reserves IDs in the manifest ahead of use
			// (so that power loss cannot make them be handed out again);
			// killed, it leaves the counter at its reservation.
			if n != o.next && !(o.gapOK && n > o.next && n-o.next <= 1<<16+crashMaxAdd) {
				t.Fatalf("child opened a store whose next ID is %d, model says %d", n, o.next)
			}
			o.skipped += n - o.next
			o.next, o.gapOK = n, false
		case f[0] == "add-begin" && len(f) == 3:
			seed, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.Atoi(f[2])
			if err := errors.Join(err1, err2); err != nil {
				bad(err)
			}
			pending = &crashOp{add: true, seed: seed, n: n}
		case f[0] == "add" && len(f) == 4:
			first, err1 := strconv.ParseUint(f[1], 10, 64)
			n, err2 := strconv.Atoi(f[2])
			seed, err3 := strconv.ParseInt(f[3], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil {
				bad(err)
			}
			if pending == nil || !pending.add || pending.seed != seed || pending.n != n {
				t.Fatalf("ack %q does not match the intent %v", line, pending)
			}
			if first != o.next {
				t.Fatalf("batch acked at first ID %d, the model's next ID is %d", first, o.next)
			}
			ids := make([]uint64, n)
			for i := range ids {
				ids[i] = first + uint64(i)
			}
			o.add(ids, crashBatch(seed, n))
			pending = nil
		case f[0] == "del-begin" && len(f) == 2:
			ids, err := parseIDs(f[1])
			if err != nil {
				bad(err)
			}
			pending = &crashOp{ids: ids}
		case f[0] == "del" && len(f) == 3:
			cnt, err1 := strconv.Atoi(f[1])
			ids, err2 := parseIDs(f[2])
			if err := errors.Join(err1, err2); err != nil {
				bad(err)
			}
			if pending == nil || pending.add || formatIDs(pending.ids) != f[2] {
				t.Fatalf("ack %q does not match the intent %v", line, pending)
			}
			if want := o.delete(ids); cnt != want {
				t.Fatalf("Delete(%v) returned %d, the model says %d were live", ids, cnt, want)
			}
			pending = nil
		default:
			t.Fatalf("unexpected child line %q", line)
		}
	}
	return pending
}

// resolveCrashOp finds out what became of the operation in flight: it must
// have happened wholly or not at all. The model is updated to match.
func resolveCrashOp(t *testing.T, db *DB, o *oracle, op *crashOp) string {
	t.Helper()
	if op == nil {
		return "none in flight"
	}
	if op.add {
		vecs := crashBatch(op.seed, op.n)
		first := o.next // IDs are consecutive from the store's next ID
		present := 0
		for i, want := range vecs {
			id := first + uint64(i)
			got, err := db.Get(id)
			switch {
			case err == nil:
				if !bitsEqual(got, want) {
					t.Fatalf("in-flight batch: ID %d holds %v, want %v", id, got, want)
				}
				present++
			case !errors.Is(err, ErrNotFound):
				t.Fatalf("in-flight batch: Get(%d): %v", id, err)
			}
		}
		switch present {
		case 0:
			return fmt.Sprintf("in-flight add of %d lost", op.n)
		case op.n:
			ids := make([]uint64, op.n)
			for i := range ids {
				ids[i] = first + uint64(i)
			}
			o.add(ids, vecs)
			return fmt.Sprintf("in-flight add of %d kept", op.n)
		}
		t.Fatalf("in-flight batch of %d vectors at IDs %d..%d is partly present: %d rows", op.n, first, first+uint64(op.n)-1, present)
	}
	var live []uint64
	seen := map[uint64]bool{}
	for _, id := range op.ids {
		if _, ok := o.vecs[id]; ok && !seen[id] {
			seen[id] = true
			live = append(live, id)
		}
	}
	gone := 0
	for _, id := range live {
		_, err := db.Get(id)
		switch {
		case errors.Is(err, ErrNotFound):
			gone++
		case err != nil:
			t.Fatalf("in-flight delete: Get(%d): %v", id, err)
		}
	}
	switch gone {
	case len(live):
		o.delete(op.ids)
		return fmt.Sprintf("in-flight delete of %d live IDs kept", len(live))
	case 0:
		return fmt.Sprintf("in-flight delete of %d live IDs lost", len(live))
	}
	t.Fatalf("in-flight delete of %v: %d of its %d live IDs %v are deleted", op.ids, gone, len(live), live)
	return ""
}

// checkCrashModel asserts that db holds exactly the model: every live ID
// bit-exact, every other ID not found, counters and checksums in order.
func checkCrashModel(t *testing.T, db *DB, o *oracle, rng *rand.Rand) {
	t.Helper()
	s := db.Stats()
	if s.Live != uint64(len(o.vecs)) || s.Total != o.next-o.skipped || s.Total != s.Live+s.Deleted {
		t.Fatalf("stats %+v; the model holds %d live of %d IDs", s, len(o.vecs), o.next)
	}
	checkGets(t, db, o, o.next+2*crashMaxAdd)
	for _, id := range []uint64{1 << 40, 1<<40 + 999, math.MaxUint64} {
		if _, err := db.Get(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%d) of an unknown ID: %v", id, err)
		}
	}
	if err := db.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	q := randVec(rng, crashDim)
	got, err := db.Search(context.Background(), q, SearchOptions{TopK: 5, MinScore: -1})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, o, q, nil, 5, -1, got)
}

// startKillTest starts a kill -9 test: skipped with -short, in parallel
// (it mostly waits for children: it overlaps with TestPowerLoss). It
// returns the rounds per combination (crashEnvRounds, or def) and the seed
// (seedEnv, to replay a run, or the clock), and logs them.
func startKillTest(t *testing.T, def int, seedEnv string) (rounds int, seed int64) {
	t.Helper()
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	t.Parallel()
	rounds = def
	if s := os.Getenv(crashEnvRounds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("bad %s=%q", crashEnvRounds, s)
		}
		rounds = n
	}
	seed = time.Now().UnixNano()
	if s := os.Getenv(seedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("bad %s=%q", seedEnv, s)
		}
	}
	t.Logf("seed %d (replay with %s=%d), %d rounds per combination", seed, seedEnv, seed, rounds)
	return rounds, seed
}

func TestCrashKill9(t *testing.T) {
	rounds, seed := startKillTest(t, crashRounds, crashEnvTest)
	for i, c := range matrixCombos() {
		if c.auto || c.compact {
			continue // IDs move: TestCrashCompactKill9's model follows them
		}
		t.Run(c.String(), func(t *testing.T) { crashKill9(t, c, seed+int64(i), rounds) })
	}
}

// crashKill9 runs rounds kill -9 rounds of combination c on one store.
func crashKill9(t *testing.T, c matrixCombo, seed int64, rounds int) {
	rng := rand.New(rand.NewSource(seed))
	dir := filepath.Join(t.TempDir(), "store")
	o := newOracle(crashDim)
	// The parent reopens with the combination's segment size, durably.
	parent := crashOptions(c)
	parent.NoSync = false
	var acked, inflight, keptInflight int
	for round := 0; round < rounds; round++ {
		childSeed := rng.Int63()
		delay, fromStart := killDelay(rng)
		r := runCrashChild(t, dir, childSeed, c, delay, fromStart)
		r.mustBeKilled(t, round, childSeed)
		pending := applyCrashLines(t, o, r.lines)
		o.gapOK = o.gapOK || c.noSync // the next open may find its reservation
		for _, l := range r.lines {
			if !strings.HasSuffix(strings.Fields(l)[0], "-begin") && !strings.HasPrefix(l, "ready") {
				acked++
			}
		}
		// With Dimension set: a child killed before its Open created the
		// store leaves nothing, or only what counts as nothing.
		db, err := openT(t, dir, parent)
		if err != nil {
			t.Fatalf("round %d (child seed %d, killed after %v): Open: %v", round, childSeed, delay, err)
		}
		outcome := resolveCrashOp(t, db, o, pending)
		if pending != nil {
			inflight++
			if strings.Contains(outcome, "kept") {
				keptInflight++
			}
		}
		checkCrashModel(t, db, o, rng)
		st := db.Stats()
		if err := db.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		t.Logf("round %2d: kill after %-8v (from start %-5v) %3d lines, %s; store: %d live of %d, %d segments",
			round, delay, fromStart, len(r.lines), outcome, st.Live, st.Total, st.Segments)
	}
	if bad := checkReopened(dir, Options{DisableAutoCompaction: true}, crashDim, rng); len(bad) > 0 {
		t.Errorf("after the last round:\n  %s", strings.Join(bad, "\n  "))
	}
	t.Logf("%d rounds: %d acked operations, %d in flight at the kill (%d kept, %d lost); final store %d live of %d IDs",
		rounds, acked, inflight, keptInflight, inflight-keptInflight, len(o.vecs), o.next)
}
