// Command soak runs a mixed concurrent workload on a memvec store for a
// number of minutes, kills it with SIGKILL at random moments, and after
// every kill checks the reopened store against everything the workload had
// acknowledged. It is not part of CI:
//
//	go run ./internal/cmd/soak -minutes 5 -dir /tmp/soak
//
// It prints the operations done, the crashes survived and the invariant
// violations found, and exits with status 1 if there was any violation
// (and 2 on a usage or setup error).
//
// # Processes
//
// The parent loops: it starts a child (this binary re-executed with
// -child), lets it run for a random 0.2 to 3 s, kills it with SIGKILL,
// reopens the store itself, checks it, releases the ID maps it has
// applied, closes it, and starts the next child. A child opens the store
// (with or without NoSync and the background compactor, chosen per round)
// and runs several goroutines until it is killed: two adders (batches of
// 1 to 100 vectors), two deleters, a searcher (Search, SearchIn and
// SearchBatch, checking the shape of every answer), a compactor (Compact
// every 50 to 300 ms) and a syncer (Sync every 100 ms). A child that exits
// by itself (an unexpected error, a malformed answer) is a violation.
//
// # The side log
//
// Every child writes what it does to its own log file, one line per
// write(2) on an O_APPEND file, so lines from several goroutines never mix:
//
//	a G SEED N            goroutine G is about to Add the batch of SEED
//	A G SEED N FIRST HASH that Add returned IDs FIRST..FIRST+N-1
//	d G ID                G is about to Delete(ID)
//	D G ID COUNT          that Delete returned COUNT (0 or 1)
//	C G EPOCH             a Compact returned (EPOCH 0: nothing to do)
//	S G                   a Sync returned
//	Q G N                 G has run N more searches
//	R EPOCH               the child has opened the store
//
// An ack line (capital letter) is written after the call returned and then
// fsynced; an intent line is written before the call. (The page cache
// survives SIGKILL, so a write(2) that returned is seen by the parent even
// without the fsync; the fsync also makes acks survive power loss.) A call
// whose intent is in the log and whose ack is not was in flight at the
// kill. The vectors of a batch are derived from SEED (math/rand, normal
// components), so the log holds a batch in one line; HASH (xxhash64 of the
// batch's bytes) checks that the parent derives the same vectors.
//
// # How IDs are followed across compactions
//
// Compaction moves live vectors to fresh IDs. The design relies on two
// guarantees of memvec: an ID is never handed out twice, and the ID map of
// every committed compaction is durable in the same commit and readable
// with IDMapsSince until ReleaseIDMaps. So:
//
//   - The child logs nothing about maps. After each kill the parent reads
//     IDMapsSince(the last epoch it applied) and applies the maps in epoch
//     order to its model, then releases them. Only the parent releases.
//   - Because IDs are unique for all time, a map can be applied by ID
//     without knowing how it interleaved with the logged calls: a map moves
//     only IDs that existed before its compaction began, and every ID added
//     later is above all of them. The parent keeps, for every vector, every
//     ID it has had (an alias table), so an acknowledged Delete(ID) names
//     exactly one vector whatever epoch ID belongs to.
//   - Deletes are of one ID each, so their count says exactly whether the
//     vector was deleted: 1 if the ID was live (a delete that raced with a
//     compaction's copy is carried over to the new ID by the commit), 0 if
//     it was already deleted or had been retired by a compaction.
//   - An adder logs its ack before it makes the new IDs visible to the
//     other goroutines, so an acknowledged Delete never names an ID of a
//     batch that is not acknowledged.
//
// # Invariants checked after every kill
//
//   - The store opens; Verify passes; Stats.Total = Live + Deleted.
//   - The maps read back cover every epoch from the last one applied to
//     Stats.Epoch, and every acknowledged Compact's epoch is at most that.
//   - Every acknowledged vector that no acknowledged Delete removed reads
//     back bit for bit at its current ID, unless a Delete in flight at the
//     kill named it (then it is present or absent, and the model follows).
//   - Every acknowledged-deleted vector, every retired ID and a sample of
//     earlier dead IDs read as ErrNotFound.
//   - A Delete acknowledged with count 0 did not miss a vector that is
//     still live at that same ID (unless a Delete in flight may have
//     taken it).
//   - An Add in flight at the kill is wholly present, bit for bit (found
//     by content with SearchBatch), or wholly absent; if present it joins
//     the model.
//   - Stats.Live equals the number of vectors in the model, so no deleted
//     vector came back and nothing unacknowledged appeared.
//   - A few searches return the model's brute-force top 10 (scores within
//     1e-4).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/memvec/memvec"
	"github.com/memvec/memvec/internal/memvectest"
)

const (
	dim          = 16
	segmentBytes = 64 << 10 // about 900 rows of dimension 16: segments roll
	maxBatch     = 100
	targetLive   = 10000 // adders pause above it; the deleter slows down below half of it
	deadPoolSize = 5000
)

func main() {
	var (
		child   = flag.Bool("child", false, "internal: run as the workload child")
		minutes = flag.Float64("minutes", 5, "how long to run")
		dir     = flag.String("dir", "", "working directory (created; must not hold a previous soak's store)")
		seed    = flag.Int64("seed", 0, "random seed (0: from the clock)")
		verbose = flag.Bool("v", false, "print one line per round")
		round   = flag.Int("round", 0, "internal: the child's round")
		noSync  = flag.Bool("nosync", false, "internal: the child opens with NoSync")
		auto    = flag.Bool("auto", false, "internal: the child runs the background compactor")
	)
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "soak: -dir is required")
		flag.Usage()
		os.Exit(2)
	}
	if *child {
		os.Exit(runChild(*dir, *round, *seed, *noSync, *auto))
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	os.Exit(runParent(*dir, time.Duration(*minutes*float64(time.Minute)), *seed, *verbose))
}

// batch returns the n vectors of the batch with the given seed.
func batch(seed int64, n int) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// hashBatch is the HASH of a log line: xxhash64 of the vectors' bytes.
func hashBatch(vecs [][]float32) uint64 {
	h := xxhash.New()
	var b [4]byte
	for _, v := range vecs {
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	return h.Sum64()
}

func storeDir(dir string) string  { return filepath.Join(dir, "store") }
func stateFile(dir string) string { return filepath.Join(dir, "state") }
func logFile(dir string, round int) string {
	return filepath.Join(dir, "logs", fmt.Sprintf("round-%06d.log", round))
}

// ---------------------------------------------------------------- child --

// view is the child's idea of the live IDs, for picking delete and
// SearchIn targets; correctness never depends on it.
type view struct {
	mu  sync.Mutex
	set memvectest.IDSet
}

func (v *view) apply(m memvec.IDMap) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range m.Runs {
		for k := uint64(0); k < r.Len; k++ {
			v.set.Move(r.Old+k, r.New+k)
		}
	}
}

func (v *view) pick(rng *rand.Rand) (uint64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.set.Pick(rng)
}

func (v *view) size() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.set.IDs)
}

// runChild is the workload; it returns only on an error.
func runChild(dir string, round int, seed int64, noSync, auto bool) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "soak child round %d: %s\n", round, fmt.Sprintf(format, a...))
		return 3
	}
	lf, err := os.OpenFile(logFile(dir, round), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
	if err != nil {
		return fail("%v", err)
	}
	logLine := func(sync bool, format string, a ...any) error {
		if _, err := lf.Write([]byte(fmt.Sprintf(format, a...) + "\n")); err != nil {
			return err
		}
		if sync {
			return lf.Sync()
		}
		return nil
	}
	state, err := os.ReadFile(stateFile(dir))
	if err != nil {
		return fail("state: %v", err)
	}
	v := &view{}
	for _, f := range strings.Fields(string(state)) {
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return fail("state: %v", err)
		}
		v.set.Add(id)
	}
	opts := memvec.Options{
		Dimension: dim, SegmentBytes: segmentBytes, NoSync: noSync,
		DisableAutoCompaction: !auto, CompactionGarbageRatio: 0.2,
	}
	if auto {
		opts.OnCompact = v.apply
	}
	db, err := memvec.Open(storeDir(dir), opts)
	if err != nil {
		return fail("open: %v", err)
	}
	if err := logLine(true, "R %d", db.Stats().Epoch); err != nil {
		return fail("log: %v", err)
	}

	ctx := context.Background()
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	run := func(g int, body func(rng *rand.Rand) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(g)*7919))
			for {
				if err := body(rng); err != nil {
					errc <- fmt.Errorf("goroutine %d: %w", g, err)
					return
				}
			}
		}()
	}
	adder := func(g int) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			if v.size() > targetLive {
				time.Sleep(20 * time.Millisecond) // pacing only
				return nil
			}
			n := 1 + rng.Intn(maxBatch)
			bseed := rng.Int63()
			vecs := batch(bseed, n)
			if err := logLine(false, "a %d %d %d", g, bseed, n); err != nil {
				return err
			}
			ids, err := db.Add(vecs)
			if err != nil {
				return fmt.Errorf("Add: %w", err)
			}
			if len(ids) != n {
				return fmt.Errorf("Add of %d returned %d IDs", n, len(ids))
			}
			// The ack goes first: no other goroutine may use these IDs
			// before the parent can know them.
			if err := logLine(true, "A %d %d %d %d %d", g, bseed, n, ids[0], hashBatch(vecs)); err != nil {
				return err
			}
			v.mu.Lock()
			for _, id := range ids {
				v.set.Add(id)
			}
			v.mu.Unlock()
			return nil
		}
	}
	run(0, adder(0))
	run(1, adder(1))
	deleter := func(g int) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			if v.size() < targetLive/2 && rng.Intn(4) != 0 {
				time.Sleep(time.Millisecond) // pacing only: fewer deletes while the store is small
			}
			id, ok := v.pick(rng)
			if !ok || rng.Intn(20) == 0 {
				id = uint64(rng.Int63n(1 << 40)) // most likely unknown
			}
			if err := logLine(false, "d %d %d", g, id); err != nil {
				return err
			}
			n, err := db.Delete([]uint64{id})
			if err != nil {
				return fmt.Errorf("Delete: %w", err)
			}
			if err := logLine(true, "D %d %d %d", g, id, n); err != nil {
				return err
			}
			if n == 1 {
				v.mu.Lock()
				v.set.Remove(id)
				v.mu.Unlock()
			}
			return nil
		}
	}
	run(2, deleter(2))
	run(6, deleter(6))
	searches := 0
	run(3, func(rng *rand.Rand) error { // searcher
		q := make([]float32, dim)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		var res [][]memvec.Result
		opts := memvec.SearchOptions{TopK: 1 + rng.Intn(20), MinScore: -1}
		switch rng.Intn(3) {
		case 0:
			r, err := db.Search(ctx, q, opts)
			if err != nil {
				return fmt.Errorf("Search: %w", err)
			}
			res = append(res, r)
		case 1:
			var ids []uint64
			for i := 0; i < 50; i++ {
				if id, ok := v.pick(rng); ok {
					ids = append(ids, id)
				}
			}
			r, err := db.SearchIn(ctx, q, ids, opts)
			if err != nil {
				return fmt.Errorf("SearchIn: %w", err)
			}
			if len(r) > len(ids) {
				return fmt.Errorf("SearchIn over %d IDs returned %d results", len(ids), len(r))
			}
			res = append(res, r)
		default:
			qs := [][]float32{q, q}
			r, err := db.SearchBatch(ctx, qs, opts)
			if err != nil {
				return fmt.Errorf("SearchBatch: %w", err)
			}
			if len(r) != 2 {
				return fmt.Errorf("SearchBatch of 2 queries returned %d results", len(r))
			}
			res = r
		}
		for _, r := range res {
			if len(r) > opts.TopK {
				return fmt.Errorf("%d results for TopK %d", len(r), opts.TopK)
			}
			for i, h := range r {
				if !(h.Score >= -1 && h.Score <= 1) {
					return fmt.Errorf("score %v out of [-1, 1]", h.Score)
				}
				if i > 0 && (r[i-1].Score < h.Score || (r[i-1].Score == h.Score && r[i-1].ID >= h.ID)) {
					return fmt.Errorf("results out of order: %+v", r)
				}
			}
		}
		if searches++; searches%100 == 0 {
			return logLine(false, "Q 3 100")
		}
		return nil
	})
	run(4, func(rng *rand.Rand) error { // compactor
		time.Sleep(time.Duration(50+rng.Intn(250)) * time.Millisecond) // pacing only
		m, err := db.Compact(ctx)
		if err != nil {
			return fmt.Errorf("Compact: %w", err)
		}
		if err := logLine(true, "C 4 %d", m.Epoch); err != nil {
			return err
		}
		v.apply(m)
		return nil
	})
	run(5, func(rng *rand.Rand) error { // syncer
		time.Sleep(100 * time.Millisecond) // pacing only
		if err := db.Sync(); err != nil {
			return fmt.Errorf("Sync: %w", err)
		}
		return logLine(true, "S 5")
	})
	err = <-errc
	return fail("%v", err)
}

// --------------------------------------------------------------- parent --

// vec is one acknowledged vector of the model.
type vec struct {
	v       []float32
	cur     uint64   // its current ID
	aliases []uint64 // every ID it has had, cur last
}

// model is what the parent knows: the live vectors by current ID, and
// every ID any of them ever had.
type model struct {
	live    map[uint64]*vec // by current ID
	alias   map[uint64]*vec // every ID a live vector has had
	epoch   uint64          // maps applied through this epoch
	dead    []uint64        // a sample of IDs that must never read back
	deadN   int
	maxSeen uint64 // one past the largest ID seen
}

func (m *model) addDead(rng *rand.Rand, id uint64) {
	m.deadN++
	if len(m.dead) < deadPoolSize {
		m.dead = append(m.dead, id)
	} else if j := rng.Intn(m.deadN); j < deadPoolSize {
		m.dead[j] = id
	}
}

func (m *model) insert(id uint64, v []float32) *vec {
	x := &vec{v: v, cur: id, aliases: []uint64{id}}
	m.live[id] = x
	m.alias[id] = x
	m.maxSeen = max(m.maxSeen, id+1)
	return x
}

// remove drops x from the model; its IDs join the dead pool.
func (m *model) remove(rng *rand.Rand, x *vec) {
	delete(m.live, x.cur)
	for _, id := range x.aliases {
		delete(m.alias, id)
		m.addDead(rng, id)
	}
}

// event is one parsed log line.
type event struct {
	kind  byte // a A d D C S Q R
	g     int
	seed  int64
	n     int
	first uint64
	hash  uint64
	id    uint64
	count int
	epoch uint64
}

func parseLog(path string) (evs []event, inflight map[int]event, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil // killed before it created its log
	}
	if err != nil {
		return nil, nil, err
	}
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i < len(text)-1 {
		text = text[:i+1] // a torn last line was not written: drop it
	}
	inflight = map[int]event{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || len(f[0]) != 1 {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		nums := make([]uint64, len(f)-1)
		for i, s := range f[1:] {
			if nums[i], err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, nil, fmt.Errorf("%s: line %q: %v", path, sc.Text(), err)
			}
		}
		want := map[byte]int{'a': 3, 'A': 5, 'd': 2, 'D': 3, 'C': 2, 'S': 1, 'Q': 2, 'R': 1}[f[0][0]]
		if want == 0 || len(nums) != want {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		ev := event{kind: f[0][0]}
		if ev.kind != 'R' {
			ev.g = int(nums[0])
		}
		switch ev.kind {
		case 'a':
			ev.seed, ev.n = int64(nums[1]), int(nums[2])
		case 'A':
			ev.seed, ev.n, ev.first, ev.hash = int64(nums[1]), int(nums[2]), nums[3], nums[4]
		case 'd':
			ev.id = nums[1]
		case 'D':
			ev.id, ev.count = nums[1], int(nums[2])
		case 'C':
			ev.epoch = nums[1]
		case 'Q':
			ev.n = int(nums[1])
		case 'R':
			ev.epoch = nums[0]
		}
		switch ev.kind {
		case 'a', 'd':
			inflight[ev.g] = ev
		case 'A', 'D':
			p, ok := inflight[ev.g]
			if !ok || p.kind != ev.kind+('a'-'A') || p.seed != ev.seed || p.n != ev.n || p.id != ev.id {
				return nil, nil, fmt.Errorf("%s: ack %q does not match the intent %+v", path, sc.Text(), p)
			}
			delete(inflight, ev.g)
		}
		evs = append(evs, ev)
	}
	return evs, inflight, sc.Err()
}

// stats are the soak's totals.
type stats struct {
	rounds, crashes, beforeReady       int
	adds, vectors, deletes, deleted    int
	compactions, epochs, syncs, search int
	inflightAdds, keptAdds             int
	inflightDels, keptDels             int
	violations                         int
}

func (s *stats) ops() int { return s.adds + s.deletes + s.compactions + s.syncs + s.search }

type parent struct {
	dir     string
	rng     *rand.Rand
	m       *model
	st      stats
	verbose bool
}

func (p *parent) violation(format string, a ...any) {
	p.st.violations++
	if p.st.violations <= 50 {
		fmt.Printf("VIOLATION (round %d): %s\n", p.st.rounds, fmt.Sprintf(format, a...))
	}
}

func runParent(dir string, d time.Duration, seed int64, verbose bool) int {
	if _, err := os.Stat(storeDir(dir)); err == nil {
		fmt.Fprintf(os.Stderr, "soak: %s already holds a store; use a new -dir\n", storeDir(dir))
		return 2
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	fmt.Printf("soak: %v in %s, seed %d (-seed %d repeats the choices, not the timing)\n", d, dir, seed, seed)
	p := &parent{dir: dir, rng: rand.New(rand.NewSource(seed)), verbose: verbose,
		m: &model{live: map[uint64]*vec{}, alias: map[uint64]*vec{}}}
	start := time.Now()
	for time.Since(start) < d && p.st.violations == 0 {
		if err := p.writeState(); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 2
		}
		p.st.rounds++
		round := p.st.rounds
		noSync, auto := p.rng.Intn(3) == 0, p.rng.Intn(2) == 0
		delay := time.Duration(200+p.rng.Intn(2800)) * time.Millisecond
		args := []string{"-child", "-dir", dir, "-round", strconv.Itoa(round), "-seed", strconv.FormatInt(p.rng.Int63(), 10)}
		if noSync {
			args = append(args, "-nosync")
		}
		if auto {
			args = append(args, "-auto")
		}
		cmd := exec.Command(exe, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 2
		}
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		werr := cmd.Wait()
		timer.Stop()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			p.st.crashes++
		} else {
			p.violation("child exited by itself (%v): %s", werr, strings.TrimSpace(stderr.String()))
		}
		p.check(round, noSync, auto, delay)
		if p.verbose || round%25 == 0 {
			fmt.Printf("round %4d: NoSync %-5v auto %-5v killed after %-6v | %d live, epoch %d, %d ops, %d violations\n",
				round, noSync, auto, delay, len(p.m.live), p.m.epoch, p.st.ops(), p.st.violations)
		}
	}
	s := p.st
	fmt.Printf("soak: %v, %d rounds, %d crashes survived (SIGKILL; %d before the store was open)\n",
		time.Since(start).Round(time.Second), s.rounds, s.crashes, s.beforeReady)
	fmt.Printf("operations acknowledged: %d (%d Add batches = %d vectors, %d Deletes = %d deleted, %d Compacts = %d epochs, %d Syncs, %d searches)\n",
		s.ops(), s.adds, s.vectors, s.deletes, s.deleted, s.compactions, s.epochs, s.syncs, s.search)
	fmt.Printf("in flight at the kill: %d Adds (%d kept), %d Deletes (%d kept)\n",
		s.inflightAdds, s.keptAdds, s.inflightDels, s.keptDels)
	fmt.Printf("final store: %d live vectors, epoch %d\n", len(p.m.live), p.m.epoch)
	fmt.Printf("invariant violations: %d\n", s.violations)
	if s.violations > 0 {
		return 1
	}
	return 0
}

// writeState gives the next child the live IDs.
func (p *parent) writeState() error {
	var b strings.Builder
	for id := range p.m.live {
		b.WriteString(strconv.FormatUint(id, 10))
		b.WriteByte('\n')
	}
	return os.WriteFile(stateFile(p.dir), []byte(b.String()), 0o644)
}

// check reopens the store after round's child died and folds the round
// into the model; every mismatch is a violation.
func (p *parent) check(round int, noSync, auto bool, delay time.Duration) {
	m := p.m
	evs, inflight, err := parseLog(logFile(p.dir, round))
	if err != nil {
		p.violation("side log: %v", err)
		return
	}
	ready := false
	for _, ev := range evs {
		if ev.kind == 'R' {
			ready = true
		}
	}
	if !ready {
		p.st.beforeReady++
	}
	db, err := memvec.Open(storeDir(p.dir), memvec.Options{Dimension: dim, SegmentBytes: segmentBytes, DisableAutoCompaction: true})
	if err != nil {
		p.violation("Open after the kill: %v", err)
		return
	}
	defer func() {
		if err := db.Close(); err != nil {
			p.violation("Close: %v", err)
		}
	}()
	ctx := context.Background()
	st := db.Stats()
	if st.Total != st.Live+st.Deleted {
		p.violation("Stats %+v: Total != Live + Deleted", st)
	}

	// 1. Acknowledged adds join the model. Their IDs are above every ID
	// known before this round: none is ever handed out twice.
	floor := m.maxSeen
	var ackedDeletes []event
	maxCompacted := uint64(0)
	for _, ev := range evs {
		switch ev.kind {
		case 'A':
			vecs := batch(ev.seed, ev.n)
			if h := hashBatch(vecs); h != ev.hash {
				p.violation("batch of seed %d: the child hashed %x, the parent derives %x", ev.seed, ev.hash, h)
				return
			}
			if ev.first < floor {
				p.violation("Add acknowledged IDs from %d, below %d, which were handed out before", ev.first, floor)
			}
			for i, v := range vecs {
				id := ev.first + uint64(i)
				if m.alias[id] != nil {
					p.violation("Add acknowledged ID %d, which the model already knows", id)
				}
				m.insert(id, v)
			}
			p.st.adds++
			p.st.vectors += ev.n
		case 'D':
			ackedDeletes = append(ackedDeletes, ev)
			p.st.deletes++
		case 'C':
			p.st.compactions++
			maxCompacted = max(maxCompacted, ev.epoch)
		case 'S':
			p.st.syncs++
		case 'Q':
			p.st.search += ev.n
		}
	}

	// 2. Maps of every compaction committed since the last round.
	maps, err := db.IDMapsSince(m.epoch)
	if err != nil {
		p.violation("IDMapsSince(%d): %v", m.epoch, err)
		return
	}
	for _, mp := range maps {
		if mp.Epoch != m.epoch+1 {
			p.violation("IDMapsSince(%d) returned epoch %d after %d", m.epoch, mp.Epoch, m.epoch)
			return
		}
		var moves []*vec
		var news []uint64
		for _, r := range mp.Runs {
			for k := uint64(0); k < r.Len; k++ {
				if x := m.live[r.Old+k]; x != nil { // others: in-flight adds, resolved below
					moves = append(moves, x)
					news = append(news, r.New+k)
				}
			}
			m.maxSeen = max(m.maxSeen, r.New+r.Len)
		}
		for _, x := range moves {
			delete(m.live, x.cur)
		}
		for i, x := range moves {
			if m.live[news[i]] != nil || m.alias[news[i]] != nil {
				p.violation("map of epoch %d moves ID %d onto ID %d, which the model knows", mp.Epoch, x.cur, news[i])
			}
			x.cur = news[i]
			x.aliases = append(x.aliases, news[i])
			m.live[x.cur] = x
			m.alias[x.cur] = x
		}
		m.epoch = mp.Epoch
		p.st.epochs++
	}
	if m.epoch != st.Epoch {
		p.violation("maps read back through epoch %d, the store is at epoch %d", m.epoch, st.Epoch)
		return
	}
	if maxCompacted > st.Epoch {
		p.violation("Compact acknowledged epoch %d, the reopened store is at epoch %d", maxCompacted, st.Epoch)
	}

	// 3. Acknowledged deletes that deleted, then deletes in flight (whose
	// vector may be present or absent: the model follows the store), then
	// acknowledged deletes that deleted nothing: unless a delete in flight
	// may have taken it, a vector still live at the ID such a delete named
	// was missed (nothing moved it since, as it is still at that ID, and
	// every delete that took it is acknowledged).
	for _, ev := range ackedDeletes {
		switch x := m.alias[ev.id]; {
		case ev.count == 1 && x == nil:
			p.violation("Delete(%d) acknowledged 1 deleted, but the model knows no live vector that had that ID", ev.id)
		case ev.count == 1:
			m.remove(p.rng, x)
			p.st.deleted++
		case ev.count != 0:
			p.violation("Delete of one ID returned %d", ev.count)
		}
	}
	doubt := map[*vec]bool{}
	for _, ev := range inflight {
		if ev.kind != 'd' {
			continue
		}
		p.st.inflightDels++
		if x := m.alias[ev.id]; x != nil {
			doubt[x] = true
		}
	}
	for _, ev := range ackedDeletes {
		if x := m.alias[ev.id]; ev.count == 0 && x != nil && x.cur == ev.id && !doubt[x] {
			p.violation("Delete(%d) acknowledged 0 deleted, but the vector is still live at %d", ev.id, ev.id)
		}
	}

	// 5. Every live vector of the model reads back exactly, every other
	// ID it had reads as not found.
	for id, x := range m.live {
		got, err := db.Get(id)
		switch {
		case errors.Is(err, memvec.ErrNotFound) && doubt[x]:
			m.remove(p.rng, x)
			p.st.keptDels++
			continue
		case err != nil:
			p.violation("Get(%d) of an acknowledged vector: %v", id, err)
			continue
		case !memvectest.BitsEqual(got, x.v):
			p.violation("Get(%d) = %v, want %v", id, got, x.v)
		}
		for _, old := range x.aliases[:len(x.aliases)-1] {
			if _, err := db.Get(old); !errors.Is(err, memvec.ErrNotFound) {
				p.violation("Get(%d), retired when its vector moved to %d: %v", old, id, err)
			}
		}
	}
	for _, id := range m.dead {
		if _, err := db.Get(id); !errors.Is(err, memvec.ErrNotFound) {
			p.violation("Get(%d) of a dead ID: %v", id, err)
		}
	}

	// 6. Adds in flight: all or nothing, found by content.
	for _, ev := range inflight {
		if ev.kind != 'a' {
			continue
		}
		p.st.inflightAdds++
		vecs := batch(ev.seed, ev.n)
		res, err := db.SearchBatch(ctx, vecs, memvec.SearchOptions{TopK: 1, MinScore: 0.999})
		if err != nil {
			p.violation("SearchBatch for an in-flight batch: %v", err)
			continue
		}
		var found []uint64
		for i, r := range res {
			if len(r) == 0 {
				continue
			}
			if got, err := db.Get(r[0].ID); err == nil && memvectest.BitsEqual(got, vecs[i]) {
				found = append(found, r[0].ID)
			}
		}
		switch len(found) {
		case 0:
		case ev.n:
			p.st.keptAdds++
			for i, id := range found {
				if m.live[id] != nil {
					p.violation("in-flight batch found at ID %d, which holds another vector of the model", id)
				}
				m.insert(id, vecs[i])
			}
		default:
			p.violation("in-flight batch of %d vectors (seed %d) is partly present: %d found", ev.n, ev.seed, len(found))
		}
	}

	// 7. Counts, checksums and search.
	if st.Live != uint64(len(m.live)) {
		p.violation("Stats.Live = %d, the model holds %d", st.Live, len(m.live))
	}
	if err := db.Verify(ctx); err != nil {
		p.violation("Verify: %v", err)
	}
	p.checkSearch(ctx, db)

	if m.epoch > 0 {
		if err := db.ReleaseIDMaps(m.epoch); err != nil {
			p.violation("ReleaseIDMaps(%d): %v", m.epoch, err)
		}
	}
	// The next child knows only current IDs: older ones are needed no
	// more, except as dead IDs that must never read back.
	for _, x := range m.live {
		for _, old := range x.aliases[:len(x.aliases)-1] {
			delete(m.alias, old)
			m.addDead(p.rng, old)
		}
		x.aliases = x.aliases[len(x.aliases)-1:]
	}
	if p.verbose {
		fmt.Printf("round %4d: %d log lines, %d in flight\n", round, len(evs), len(inflight))
	}
}

// checkSearch compares a few searches with the model's brute force.
func (p *parent) checkSearch(ctx context.Context, db *memvec.DB) {
	if len(p.m.live) == 0 {
		return
	}
	const k, tol = 10, 1e-4
	for i := 0; i < 3; i++ {
		q := make([]float32, dim)
		for j := range q {
			q[j] = float32(p.rng.NormFloat64())
		}
		got, err := db.Search(ctx, q, memvec.SearchOptions{TopK: k, MinScore: -1})
		if err != nil {
			p.violation("Search: %v", err)
			return
		}
		type hit struct {
			id    uint64
			score float64
		}
		all := make([]hit, 0, len(p.m.live))
		for id, x := range p.m.live {
			all = append(all, hit{id, memvectest.Cosine64(q, x.v)})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
		if len(got) != min(k, len(all)) {
			p.violation("Search returned %d results, want %d", len(got), min(k, len(all)))
			return
		}
		for i, r := range got {
			x := p.m.live[r.ID]
			if x == nil {
				p.violation("Search returned ID %d, which the model does not hold", r.ID)
				return
			}
			if s := memvectest.Cosine64(q, x.v); math.Abs(s-float64(r.Score)) > tol || math.Abs(s-all[i].score) > tol {
				p.violation("Search result %d: ID %d score %v (exact %v); brute force's %d-th scores %v", i, r.ID, r.Score, s, i, all[i].score)
				return
			}
		}
	}
}
