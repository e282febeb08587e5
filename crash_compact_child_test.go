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
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/manifest"
)

// The child of the kill -9 test of compaction (crash_compact_test.go):
// the workload it runs, the state file one child hands the next, and how
// the parent runs it and when it kills it.

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
