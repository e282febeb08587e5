package memvec

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
	"github.com/memvec/memvec/internal/realfs"
)

// The real-file-system power-cut test. On a loop-mounted xfs, and ext4,
// the ioctl of `xfs_io -x -c shutdown` stops the file system without
// writing its log or any dirty page: remounted, it holds what a power cut
// would have left (internal/realfs). For every combination of NoSync,
// auto-compaction, segment size (tiny, default) and manual Compact in the
// workload, a child process (realfs_child_test.go) runs a random workload
// on a fresh store and prints every acknowledged call. At a random moment
// the parent kills the child and cuts the power, or stops the child, cuts
// the power and lets it meet EIO everywhere before the kill; either way
// the child is never inside a call when the cut comes (an fsync racing the
// shutdown can return success and lose its data, measured on both file
// systems, which would make its ack a lie). Then it remounts and holds the
// reopened store to the acknowledged state (rfReplay, checkFaultModel in
// fault_test.go): every durable Add there bit for bit (with NoSync,
// everything before the last acknowledged Sync or Close), no acknowledged
// delete undone, every batch and every call in flight all or nothing,
// Stats().Live equal to what Get finds, Verify clean, new IDs above every
// acknowledged one. Last, rfReopenChecks opens it with default options,
// adds (the new vectors must read back) and compacts (Compact must return
// and keep every vector).
//
// Opt-in: MEMVEC_REALFS=1, and root, a loop device, xfsprogs and
// e2fsprogs (it skips, saying which is missing, otherwise).
// MEMVEC_REALFS_ROUNDS sets the rounds per combination, MEMVEC_REALFS_SEED
// replays a run (timing aside).

const (
	rfEnvOptIn  = "MEMVEC_REALFS"
	rfEnvRounds = "MEMVEC_REALFS_ROUNDS"
	rfEnvSeed0  = "MEMVEC_REALFS_SEED"
	rfImageSize = 300 << 20 // the least mkfs.xfs accepts
)

var rfTypes = []string{"xfs", "ext4"}

// realfsMount skips t unless the test is opted in and fstype can be set up
// and cut here; it returns the mounted file system, torn down by Cleanup.
func realfsMount(t *testing.T, fstype string) *realfs.FS {
	t.Helper()
	if os.Getenv(rfEnvOptIn) == "" {
		t.Skipf("set %s=1 to run (needs root, a free loop device, xfsprogs and e2fsprogs)", rfEnvOptIn)
	}
	if err := realfs.Check(fstype); err != nil {
		t.Skipf("%s: %v", fstype, err)
	}
	fsys := realfs.New(t, fstype, rfImageSize)
	if err := fsys.Probe(); err != nil {
		t.Fatalf("%s cannot be cut like a power cut here: %v", fstype, err)
	}
	return fsys
}

// rfRun is what one child reported.
type rfRun struct {
	lines     []string
	ready     bool   // the store was open before the cut
	early     string // a failure reported before the cut
	failed    string // the call that failed first, if any
	diedFirst bool   // the child ended before the cut
	signaled  bool   // ended by our SIGKILL, as it must
	stderr    string
	waitErr   error
}

// rfCut says when and how a round cuts the power.
type rfCut struct {
	delay     time.Duration
	fromStart bool // delay counts from the child's start, not its "ready"
	// killFirst kills the child and waits for it to die before the cut,
	// as a power cut stops the program with its file system. Otherwise
	// the child is stopped, the power cut, and the child continued for a
	// moment, every call failing with EIO (a page fault on its mappings
	// raising SIGBUS), before the kill.
	killFirst bool
}

func (c rfCut) String() string {
	from, order := "ready", "stop, cut, continue, kill"
	if c.fromStart {
		from = "start"
	}
	if c.killFirst {
		order = "kill, then cut"
	}
	return fmt.Sprintf("cut %v after %s, %s", c.delay, from, order)
}

// runRFChild starts the child on dir and cuts the power and kills it as
// cut says.
func runRFChild(t *testing.T, fsys *realfs.FS, dir string, c rfCombo, seed int64, cut rfCut) rfRun {
	t.Helper()
	child := memvectest.StartChild(t, "TestRealFSHelper", true,
		rfEnvDir+"="+dir, rfEnvSeed+"="+strconv.FormatInt(seed, 10), rfEnvCombo+"="+c.String())
	cmd, stdin := child.Cmd, child.Stdin
	var r rfRun
	var cutting atomic.Bool
	var failOnce, readyOnce sync.Once
	ready, done, failed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		// A last line without its newline was cut by the kill: it is
		// dropped, which only widens what the check accepts.
		memvectest.ReadLines(child.Stdout, rfPrefix, func(rest string) {
			// The cut starts before the ioctl, so a failure read while
			// it is unset happened without it.
			if strings.HasPrefix(rest, "fail ") {
				if !cutting.Load() && r.early == "" {
					r.early = rest
				}
				if r.failed == "" {
					r.failed = strings.Fields(rest)[1]
				}
				failOnce.Do(func() { close(failed) })
			}
			if strings.HasPrefix(rest, "ready ") {
				r.ready = true
				readyOnce.Do(func() { close(ready) })
			}
			r.lines = append(r.lines, rest)
		})
		r.diedFirst = !cutting.Load()
	}()
	if !cut.fromStart {
		select {
		case <-ready:
		case <-done:
		}
	}
	select {
	case <-time.After(cut.delay):
	case <-done:
	}
	cutting.Store(true)
	var shutErr error
	gone := false // ended on its own: nothing to stop (and Wait4 would reap it)
	select {
	case <-done:
		gone = true
	default:
	}
	if cut.killFirst || gone {
		cmd.Process.Kill()
		stdin.Close()
		<-done
		r.waitErr = cmd.Wait()
		shutErr = fsys.Shutdown()
	} else {
		// Stopped, the child has no call in the kernel: an fsync racing
		// the cut could return success and lose its data, and the ack
		// would lie. Every call it makes after SIGCONT meets the dead
		// file system.
		shutErr = rfStop(cmd)
		if shutErr == nil {
			shutErr = fsys.Shutdown()
		}
		cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-failed:
		case <-done:
		case <-time.After(5 * time.Second): // a backstop: kill it anyway
		}
		cmd.Process.Kill()
		stdin.Close()
		<-done
		r.waitErr = cmd.Wait()
	}
	r.signaled = child.Killed()
	r.stderr = child.Stderr()
	if shutErr != nil {
		t.Fatal(shutErr)
	}
	return r
}

// rfStop stops the child with SIGSTOP and waits until every thread of it
// has stopped.
func rfStop(cmd *exec.Cmd) error {
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WUNTRACED, nil); err != nil {
		return fmt.Errorf("waiting for the child to stop: %w", err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("the child did not stop: wait status %#x", ws)
	}
	return nil
}

func rfRounds(t *testing.T) int {
	s := os.Getenv(rfEnvRounds)
	if s == "" {
		return 2 // 64 cuts, about 30 s with -race on 2 cores
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("bad %s=%q", rfEnvRounds, s)
	}
	return n
}

func TestRealFSPowerCut(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv(rfEnvSeed0); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("bad %s=%q", rfEnvSeed0, s)
		}
	}
	for fi, fstype := range rfTypes {
		t.Run(fstype, func(t *testing.T) {
			fsys := realfsMount(t, fstype)
			rounds := rfRounds(t)
			t.Logf("seed %d (replay with %s=%d), %d rounds per combination", seed, rfEnvSeed0, seed, rounds)
			for ci, c := range rfCombos() {
				t.Run(c.String(), func(t *testing.T) {
					// A generator per file system and combination, so that
					// -run naming one of them replays its rounds.
					rng := rand.New(rand.NewSource(seed ^ int64(fi)<<40 ^ int64(ci)<<48))
					for round := range rounds {
						rfRound(t, fsys, c, rng, round)
					}
				})
			}
		})
	}
}

// rfRound runs one child on a fresh store, cuts, and checks.
func rfRound(t *testing.T, fsys *realfs.FS, c rfCombo, rng *rand.Rand, round int) {
	t.Helper()
	// A fresh name: a store removed after an earlier round could come
	// back if its removal were not durable.
	dir := filepath.Join(fsys.Dir, fmt.Sprintf("store-%d-%d-%d", b01(c.noSync)+2*b01(c.auto)+4*b01(c.tiny)+8*b01(c.compact), round, rng.Intn(1000)))
	childSeed := rng.Int63()
	// Mostly a few ms to 400 ms into the workload; sometimes from the
	// start, into the store's creation.
	cut := rfCut{delay: time.Duration(1+rng.Intn(400)) * time.Millisecond, fromStart: rng.Intn(8) == 0, killFirst: rng.Intn(2) == 0}
	if cut.fromStart {
		cut.delay = time.Duration(rng.Intn(30000)) * time.Microsecond
	}
	what := fmt.Sprintf("%s %s round %d (child seed %d, %v)", fsys.Type, c, round, childSeed, cut)
	r := runRFChild(t, fsys, dir, c, childSeed, cut)
	if err := fsys.Remount(); err != nil {
		t.Fatalf("%s: remount after the cut: %v", what, err)
	}
	defer func() {
		if err := errors.Join(os.RemoveAll(dir), fsys.Sync()); err != nil {
			t.Fatal(err)
		}
	}()
	switch {
	case r.signaled:
	case !r.diedFirst && !cut.killFirst && strings.Contains(r.stderr, "signal SIGBUS"):
		// A page of a mapping faulted in after the cut: the kernel can
		// only answer with SIGBUS. A real power cut stops the program
		// first.
		t.Logf("%s: the child died of SIGBUS after the cut (a mapped page read from the dead file system) in %s", what, sigbusWhere(r.stderr))
	default:
		t.Errorf("%s: child did not die by our SIGKILL: %v\nstderr:\n%s", what, r.waitErr, r.stderr)
	}
	if strings.Contains(r.stderr, "DATA RACE") {
		t.Errorf("%s: data race in the child:\n%s", what, r.stderr)
	}
	if r.early != "" {
		t.Errorf("%s: the child failed before the cut: %s", what, r.early)
	}
	if r.ready && r.lines[0] != "ready 0 0" {
		t.Fatalf("%s: the child did not start from an empty store: %q", what, r.lines[0])
	}
	if !r.ready {
		// Cut while the store was being created: nothing was promised,
		// but what is left must open as an empty store.
		db, err := Open(dir, Options{Dimension: crashDim}) // not openT: the round's store is gone by the end of the test
		if err != nil {
			t.Errorf("%s: cut during creation, Open: %v", what, err)
			return
		}
		if st := db.Stats(); st.Live != 0 {
			t.Errorf("%s: cut during creation, the store holds %+v", what, st)
		}
		db.Close()
		return
	}
	rp := newRFReplay(c)
	for _, line := range r.lines {
		if err := rfFold(rp, line); err != nil {
			t.Fatalf("%s: child line %q: %v", what, line, err)
		}
	}
	rp.finish()
	bad := rp.bad
	bad = append(bad, checkFaultModel(dir, rp.m, rand.New(rand.NewSource(childSeed)))...)
	found := 0
	if len(bad) == 0 {
		bad, found = rfReopenChecks(dir, rand.New(rand.NewSource(childSeed)))
	}
	if len(bad) > 0 {
		// Every line, for the post-mortem: the error shows the last few.
		all := filepath.Join(os.TempDir(), fmt.Sprintf("memvec-realfs-%s-%d.lines", fsys.Type, childSeed))
		werr := os.WriteFile(all, []byte(strings.Join(r.lines, "\n")+"\n"), 0o644)
		t.Errorf("%s:\n  %s\nchild's last lines (all in %s: %v):\n  %s", what, strings.Join(bad, "\n  "),
			all, werr, strings.Join(lastLines(r.lines, 12), "\n  "))
		return
	}
	// found counts the vector checkFaultModel adds; with NoSync, fewer
	// than acknowledged is the cut at work.
	t.Logf("%s: %d lines, %d live acknowledged, %d after the cut, epoch %d; failed after the cut: %q",
		what, len(r.lines), len(rp.m.live), found-1, rp.m.epoch, r.failed)
}

// rfFold folds one line into rp, turning a malformed number into an error.
func rfFold(rp *rfReplay, line string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return rp.line(line)
}

// sigbusWhere names the function of the store that faulted, from the
// child's traceback.
func sigbusWhere(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "github.com/memvec/memvec/") {
			return strings.TrimPrefix(l, "github.com/memvec/memvec/")
		}
	}
	return "?"
}

func lastLines(lines []string, n int) []string {
	return lines[max(0, len(lines)-n):]
}
