package memvec

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/memvectest"
)

// The child of TestRealFSPowerCut (realfs_test.go): this test binary, re-run
// with -test.run=^TestRealFSHelper$, opens a store on the mounted file
// system with one option combination and runs a random workload until the
// parent cuts the power and kills it. It prints, one write(2) per line, an
// intent line before each call and an ack line after it returned, and a
// map line for every committed compaction, in epoch order; the parent
// rebuilds the acknowledged state from these lines alone.
//
// Deletes race with background compactions: an ID the child picked may
// have moved by the time Delete runs. So each delete is tagged with the
// epoch it was issued at (every map up to it printed first), and
// Stats().Epoch is read again after it. The same epoch means no commit
// came in between and the delete is exact; a later epoch means it may
// have missed the IDs those commits moved, so the child prints it as
// ambiguous and deletes the moved IDs again under their new IDs.

const (
	rfEnvDir   = "MEMVEC_REALFS_DIR"
	rfEnvSeed  = "MEMVEC_REALFS_CHILD_SEED"
	rfEnvCombo = "MEMVEC_REALFS_COMBO"
	rfPrefix   = "memvec-realfs "
	rfMaxBatch = 100 // spans three tiny segments (35 rows each)
	rfLimit    = 2 * time.Minute
)

// rfCombo is one option combination of the crash matrix (matrix_test.go);
// on a real file system "tiny" segments hold 35 rows (testSegmentBytes),
// not 4, so that a round's files stay few.
type rfCombo = matrixCombo

func rfCombos() []rfCombo { return matrixCombos() }

func parseCombo(s string) (rfCombo, error) { return parseMatrixCombo(s) }

// rfOptions returns the Options of c on a real file system.
func rfOptions(c rfCombo) Options {
	o := Options{Dimension: crashDim, NoSync: c.noSync, DisableAutoCompaction: !c.auto}
	if c.tiny {
		o.SegmentBytes = testSegmentBytes
	}
	return o
}

// TestRealFSHelper is the child process of TestRealFSPowerCut; it does
// nothing unless MEMVEC_REALFS_DIR is set, and never returns.
func TestRealFSHelper(t *testing.T) {
	dir := os.Getenv(rfEnvDir)
	if dir == "" {
		t.Skip("helper process of TestRealFSPowerCut")
	}
	seed, err1 := strconv.ParseInt(os.Getenv(rfEnvSeed), 10, 64)
	combo, err2 := parseCombo(os.Getenv(rfEnvCombo))
	if err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "realfs child: bad environment: %v %v\n", err1, err2)
		os.Exit(2)
	}
	c := &rfChild{dir: dir, combo: combo, rng: rand.New(rand.NewSource(seed)),
		maps: map[uint64]IDMap{}}
	os.Exit(c.run())
}

type rfChild struct {
	dir   string
	combo rfCombo
	rng   *rand.Rand
	db    *DB
	next  uint64 // one past the last ID Add returned

	mu      sync.Mutex // orders the output; guards what follows
	printed uint64     // the epoch of the last map printed
	maps    map[uint64]IDMap
	live    memvectest.IDSet // IDs the child believes live, for picking deletes
}

func (c *rfChild) sayLocked(format string, a ...any) {
	memvectest.Say(rfPrefix, format, a...)
}

func (c *rfChild) say(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sayLocked(format, a...)
}

// printLocked prints the map of the next epoch and moves the live set.
func (c *rfChild) printLocked(m IDMap) {
	c.maps[m.Epoch] = m
	c.printed = m.Epoch
	for _, r := range m.Runs {
		for i := range r.Len {
			c.live.Move(r.Old+i, r.New+i)
		}
	}
	c.sayLocked("map %d %s", m.Epoch, formatRuns(m.Runs))
}

// onCompact is Options.OnCompact. A map that does not follow the last one
// printed (the child reopened, or a call was skipped while closing) is
// left to the next catchUpLocked, which reads them all from disk.
func (c *rfChild) onCompact(m IDMap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Epoch == c.printed+1 {
		c.printLocked(m)
	}
}

func (c *rfChild) catchUpLocked() error {
	maps, err := c.db.IDMapsSince(c.printed)
	for _, m := range maps {
		if m.Epoch == c.printed+1 {
			c.printLocked(m)
		}
	}
	return err
}

// settle prints every committed map and returns the store's epoch, which
// is then the epoch of the last map printed.
func (c *rfChild) settle() (uint64, error) {
	for {
		c.mu.Lock()
		err := c.catchUpLocked()
		p := c.printed
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		switch e := c.db.Stats().Epoch; {
		case e == p:
			return e, nil
		case e < p:
			return 0, fmt.Errorf("Stats().Epoch %d is below the epoch %d of a map already read", e, p)
		}
	}
}

// translate maps IDs of epoch from to their IDs at epoch to.
func (c *rfChild) translate(ids []uint64, from, to uint64) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return translateIDs(ids, c.maps, from, to)
}

func translateIDs(ids []uint64, maps map[uint64]IDMap, from, to uint64) []uint64 {
	out := append([]uint64(nil), ids...)
	for e := from + 1; e <= to; e++ {
		for i, id := range out {
			if nid, ok := maps[e].Lookup(id); ok {
				out[i] = nid
			}
		}
	}
	return out
}

func (c *rfChild) open() error {
	opts := rfOptions(c.combo)
	opts.OnCompact = c.onCompact
	db, err := Open(c.dir, opts)
	if err != nil {
		return err
	}
	c.db = db
	st := db.Stats()
	c.next = st.NextID
	c.say("ready %d %d", st.NextID, st.Epoch)
	_, err = c.settle()
	return err
}

func (c *rfChild) run() int {
	if err := c.open(); err != nil {
		return c.fail("open", err)
	}
	deadline := time.Now().Add(rfLimit)
	for time.Now().Before(deadline) {
		var op string
		var err error
		// Syncs are rare enough that a cut often finds acknowledged
		// NoSync writes to lose.
		switch r := c.rng.Intn(100); {
		case r < 48:
			op, err = "add", c.add()
		case r < 88:
			op, err = "delete", c.del()
		case r < 94:
			if !c.combo.compact {
				continue
			}
			op = "compact"
			c.say("compact-begin")
			var m IDMap
			if m, err = c.db.Compact(context.Background()); err == nil {
				if _, err = c.settle(); err == nil {
					c.say("compact %d", m.Epoch)
				}
			}
		case r < 98:
			if !c.combo.noSync {
				continue
			}
			op = "sync"
			c.say("sync-begin")
			if err = c.db.Sync(); err == nil {
				c.say("sync")
			}
		default:
			op = "close"
			c.say("close-begin")
			if err = c.db.Close(); err == nil {
				c.say("close")
				op, err = "open", c.open()
			}
		}
		if err != nil {
			return c.fail(op, err)
		}
	}
	return 3
}

// fail reports err and waits for the parent's kill: after the cut every
// call fails, and the parent, not the child, ends the round.
func (c *rfChild) fail(op string, err error) int {
	c.say("fail %s %s", op, strings.ReplaceAll(err.Error(), "\n", " "))
	io.Copy(io.Discard, os.Stdin) // returns when the parent closes it
	return 2
}

func (c *rfChild) add() error {
	n := 1 + c.rng.Intn(40)
	switch c.rng.Intn(10) {
	case 0:
		n = 40 + c.rng.Intn(rfMaxBatch-39)
	case 1, 2:
		n = 1 + c.rng.Intn(3)
	}
	seed := c.rng.Int63()
	c.say("add-begin %d %d", seed, n)
	ids, err := c.db.Add(crashBatch(seed, n))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sayLocked("add %d %d %d", ids[0], n, seed)
	for _, id := range ids {
		c.live.Add(id)
	}
	c.next = ids[n-1] + 1
	return nil
}

func (c *rfChild) pickDeletes() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]uint64, 1+c.rng.Intn(8))
	for i := range ids {
		switch r := c.rng.Intn(10); {
		case r < 7 && len(c.live.IDs) > 0:
			ids[i] = c.live.IDs[c.rng.Intn(len(c.live.IDs))]
		case r < 9 && c.next > 0:
			ids[i] = uint64(c.rng.Int63n(int64(c.next)))
		default:
			ids[i] = 1<<40 + uint64(c.rng.Intn(1000))
		}
	}
	return ids
}

// del deletes a few IDs, exactly once each, whatever compactions commit
// meanwhile (see the file comment).
func (c *rfChild) del() error {
	ids := c.pickDeletes()
	e0, err := c.settle()
	if err != nil {
		return err
	}
	ack := "del"
	for {
		c.say("del-begin %d %s", e0, formatIDs(ids))
		cnt, err := c.db.Delete(ids)
		if err != nil {
			return err
		}
		if e1 := c.db.Stats().Epoch; e1 != e0 {
			// Print the maps up to e1 first: the parent needs them to tell
			// which IDs moved before the delete could reach them.
			e2, err := c.settle()
			if err != nil {
				return err
			}
			c.say("del? %d %d %s", e0, e1, formatIDs(ids))
			ids, e0, ack = c.translate(ids, e0, e2), e2, "del!"
			continue
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.sayLocked("%s %d %d %s", ack, e0, cnt, formatIDs(ids))
		for _, id := range translateIDs(ids, c.maps, e0, c.printed) {
			c.live.Remove(id)
		}
		return nil
	}
}
