package memvec

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// The kill -9 test of keyed records. A child process (this test binary,
// re-run with -test.run=^TestKeysKillHelper$) upserts over a small key
// space with Put, sometimes deletes keys with DeleteKeys and, in the
// combinations that say so, calls Compact; the background compactor runs
// in those that say so. It prints each call before it makes it (intent)
// and after it returned (ack); a batch is derived from a seed, so one
// line says all of it. The parent kills the child at a random moment,
// reopens the store (background compactor off, so that nothing moves) and
// checks, bit for bit, that every key holds the state of its last
// acknowledged call or, if the call in flight touched it, that call's;
// that the call in flight happened wholly or not at all; that no key is
// live twice and that Stats().Live counts the live keys (readKeyed). The
// rounds share one store, so every round also recovers from the damage of
// the previous kill; after the last one the store must still take writes
// (checkReopened).
//
// It runs in all 16 combinations of the crash matrix (matrix_test.go), in
// parallel, kkRounds rounds each by default (a few seconds a combination);
// MEMVEC_CRASH_ROUNDS=n sets the rounds per combination and
// MEMVEC_KEYS_KILL_SEED=s replays a run:
//
//	MEMVEC_CRASH_ROUNDS=200 go test -run 'TestKeysKill9' -v .

const (
	kkDim       = 8
	kkKeys      = 24 // the key space
	kkMaxBatch  = 12 // more than a tiny segment holds
	kkRounds    = 8
	kkEnvDir    = "MEMVEC_KEYS_KILL_DIR"
	kkEnvSeed   = "MEMVEC_KEYS_KILL_CHILD_SEED"
	kkEnvCombo  = "MEMVEC_KEYS_KILL_COMBO"
	kkEnvTest   = "MEMVEC_KEYS_KILL_SEED" // the parent's seed, to replay a failure
	kkPrefix    = "memvec-keys "
	kkChildTime = 2 * time.Minute
)

// kkPutBatch derives the records of a Put from its seed: n distinct keys of
// the key space, random vectors and payloads.
func kkPutBatch(seed int64, space []string) []Record {
	rng := rand.New(rand.NewSource(seed))
	n := 1 + rng.Intn(6)
	if rng.Intn(4) == 0 {
		n = 1 + rng.Intn(kkMaxBatch)
	}
	recs := make([]Record, n)
	for i, j := range rng.Perm(len(space))[:n] {
		recs[i] = Record{Key: space[j], Vector: randVec(rng, kkDim), Payload: randPayload(rng)}
	}
	return recs
}

// kkDeleteBatch derives the keys of a DeleteKeys from its seed (a key may
// repeat).
func kkDeleteBatch(seed int64, space []string) []string {
	rng := rand.New(rand.NewSource(seed))
	keys := make([]string, 1+rng.Intn(4))
	for i := range keys {
		keys[i] = space[rng.Intn(len(space))]
	}
	return keys
}

// TestKeysKillHelper is the child process of TestKeysKill9; it does nothing
// unless MEMVEC_KEYS_KILL_DIR is set. It writes until it is killed (or
// exits non-zero on an error or after kkChildTime).
func TestKeysKillHelper(t *testing.T) {
	dir := os.Getenv(kkEnvDir)
	if dir == "" {
		t.Skip("helper process of TestKeysKill9")
	}
	seed, c := childSeedAndCombo(kkEnvSeed, kkEnvCombo)
	os.Exit(kkChild(dir, seed, c))
}

func kkChild(dir string, seed int64, c matrixCombo) int {
	say := func(format string, a ...any) { memvectest.Say(kkPrefix, format, a...) }
	fail := func(what string, err error) int { return memvectest.Fail("keys kill child", what, err) }
	rng := rand.New(rand.NewSource(seed))
	space := keySpace(kkKeys)
	db, err := Open(dir, c.options(kkDim))
	if err != nil {
		return fail("open", err)
	}
	say("ready")
	for deadline := time.Now().Add(kkChildTime); time.Now().Before(deadline); {
		switch r := rng.Intn(10); {
		case r < 7 || r == 9 && !c.compact:
			bseed := rng.Int63()
			say("put-begin %d", bseed)
			if _, err := db.Put(kkPutBatch(bseed, space)); err != nil {
				return fail("put", err)
			}
			say("put %d", bseed)
		case r < 9:
			bseed := rng.Int63()
			say("delk-begin %d", bseed)
			n, err := db.DeleteKeys(kkDeleteBatch(bseed, space))
			if err != nil {
				return fail("delete keys", err)
			}
			say("delk %d %d", bseed, n)
		default:
			say("compact-begin")
			if _, err := db.Compact(context.Background()); err != nil {
				return fail("compact", err)
			}
			say("compact")
		}
	}
	return 3
}

// kkOp is a call whose intent the child printed.
type kkOp struct {
	put  bool
	seed int64
}

func (op *kkOp) String() string {
	switch {
	case op == nil:
		return "none"
	case op.put:
		return fmt.Sprintf("put %d", op.seed)
	}
	return fmt.Sprintf("delete keys %d", op.seed)
}

// kkModel is the acknowledged state of every key.
type kkModel struct {
	space []string
	keys  map[string]kRec
}

// after returns the states of the keys op changes, as they are once it
// happened; DeleteKeys also returns how many keys it deletes.
func (m *kkModel) after(op *kkOp) (map[string]kRec, int) {
	out := map[string]kRec{}
	if op.put {
		for _, r := range kkPutBatch(op.seed, m.space) {
			out[r.Key] = kRecOf(r)
		}
		return out, 0
	}
	n := 0
	for _, k := range kkDeleteBatch(op.seed, m.space) {
		if _, done := out[k]; !done && m.keys[k].present {
			n++
		}
		out[k] = kRec{}
	}
	return out, n
}

func (m *kkModel) apply(changes map[string]kRec) {
	for k, r := range changes {
		m.keys[k] = r
	}
}

// applyLines folds the acks of one round into m and returns the call in
// flight when the child died, if any.
func (m *kkModel) applyLines(lines []string) (*kkOp, error) {
	var pending *kkOp
	for _, line := range lines {
		f := strings.Fields(line)
		var seed int64
		var err error
		if len(f) >= 2 {
			seed, err = strconv.ParseInt(f[1], 10, 64)
		}
		switch {
		case err != nil:
			return nil, fmt.Errorf("child line %q: %v", line, err)
		case len(f) == 1 && (f[0] == "ready" || f[0] == "compact-begin" || f[0] == "compact"):
			pending = nil // a compaction changes no key
		case len(f) == 2 && f[0] == "put-begin":
			pending = &kkOp{put: true, seed: seed}
		case len(f) == 2 && f[0] == "delk-begin":
			pending = &kkOp{seed: seed}
		case len(f) == 2 && f[0] == "put" && pending != nil && pending.put && pending.seed == seed:
			changes, _ := m.after(pending)
			m.apply(changes)
			pending = nil
		case len(f) == 3 && f[0] == "delk" && pending != nil && !pending.put && pending.seed == seed:
			changes, want := m.after(pending)
			if n, err := strconv.Atoi(f[2]); err != nil || n != want {
				return nil, fmt.Errorf("child line %q: DeleteKeys returned %s, the model says %d keys were live", line, f[2], want)
			}
			m.apply(changes)
			pending = nil
		default:
			return nil, fmt.Errorf("unexpected child line %q after the intent %v", line, pending)
		}
	}
	return pending, nil
}

// resolve checks the reopened store db against m and the call in flight,
// which must have happened wholly or not at all, and folds it into m if it
// did. It returns what became of the call and every violation.
func (m *kkModel) resolve(db *DB, op *kkOp) (string, []string) {
	view, bad := readKeyed(db, m.space)
	var changes map[string]kRec
	if op != nil {
		changes, _ = m.after(op)
	}
	bad = append(bad, checkKeysAgainst(view, m.space, func(k string) []kRec {
		if r, ok := changes[k]; ok {
			return []kRec{m.keys[k], r}
		}
		return []kRec{m.keys[k]}
	})...)
	outcome := "none in flight"
	if op != nil {
		// All or nothing: the keys whose state the call changes show
		// the old state, or all the new one.
		nw, old := splitApplied(view, m.keys, changes)
		switch {
		case len(nw) > 0 && len(old) > 0:
			bad = append(bad, fmt.Sprintf("the %v in flight is partly applied: keys %q new, %q old", op, nw, old))
		case len(nw) > 0:
			m.apply(changes)
			outcome = fmt.Sprintf("%v in flight kept", op)
		default:
			outcome = fmt.Sprintf("%v in flight lost (or changed nothing)", op)
		}
	}
	live := 0
	for _, r := range m.keys {
		if r.present {
			live++
		}
	}
	if st := db.Stats(); st.Live != uint64(live) {
		bad = append(bad, fmt.Sprintf("Stats().Live %d; %d keys are live", st.Live, live))
	}
	if err := db.Verify(context.Background()); err != nil {
		bad = append(bad, fmt.Sprintf("Verify: %v", err))
	}
	return outcome, bad
}

func TestKeysKill9(t *testing.T) {
	rounds, seed := startKillTest(t, kkRounds, kkEnvTest)
	for i, c := range matrixCombos() {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			keysKill9(t, c, seed+int64(i), rounds)
		})
	}
}

func keysKill9(t *testing.T, c matrixCombo, seed int64, rounds int) {
	rng := rand.New(rand.NewSource(seed))
	dir := filepath.Join(t.TempDir(), "store")
	m := &kkModel{space: keySpace(kkKeys), keys: map[string]kRec{}}
	parent := c.options(kkDim)
	parent.NoSync, parent.DisableAutoCompaction = false, true
	var kept, lost int
	for round := 0; round < rounds; round++ {
		childSeed := rng.Int63()
		delay, fromStart := killDelay(rng)
		r := runKeysKillChild(t, dir, childSeed, c, delay, fromStart)
		r.mustBeKilled(t, round, childSeed)
		pending, err := m.applyLines(r.lines)
		if err != nil {
			t.Fatalf("round %d (child seed %d): %v", round, childSeed, err)
		}
		db, err := openT(t, dir, parent)
		if err != nil {
			t.Fatalf("round %d (child seed %d, killed after %v): Open: %v", round, childSeed, delay, err)
		}
		outcome, bad := m.resolve(db, pending)
		st := db.Stats()
		if err := db.Close(); err != nil {
			bad = append(bad, fmt.Sprintf("Close: %v", err))
		}
		if len(bad) > 0 {
			t.Fatalf("round %d (child seed %d, killed after %v, from start %v; replay with %s=%d):\n  %s",
				round, childSeed, delay, fromStart, kkEnvTest, seed, strings.Join(bad, "\n  "))
		}
		switch {
		case strings.Contains(outcome, "kept"):
			kept++
		case strings.Contains(outcome, "lost"):
			lost++
		}
		t.Logf("round %2d: kill after %-8v (from start %-5v) %3d lines, %s; store: %d live of %d, %d segments, epoch %d",
			round, delay, fromStart, len(r.lines), outcome, st.Live, st.Total, st.Segments, st.Epoch)
	}
	if bad := checkReopened(dir, Options{DisableAutoCompaction: true}, kkDim, rng); len(bad) > 0 {
		t.Errorf("after the last round:\n  %s", strings.Join(bad, "\n  "))
	}
	t.Logf("%d rounds: %d calls in flight kept, %d lost", rounds, kept, lost)
}

// runKeysKillChild runs one child and kills it delay after it said ready
// (or after its start, fromStart).
func runKeysKillChild(t *testing.T, dir string, seed int64, c matrixCombo, delay time.Duration, fromStart bool) crashRound {
	t.Helper()
	env := []string{kkEnvDir + "=" + dir, kkEnvSeed + "=" + strconv.FormatInt(seed, 10), kkEnvCombo + "=" + c.String()}
	ready := func(line string) bool { return line == "ready" }
	return killChild(t, "TestKeysKillHelper", kkPrefix, env, ready, delay, fromStart)
}
