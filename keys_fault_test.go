package memvec

import (
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/vfs"
)

// The fault-injection test of keyed records, fault_test.go's method
// applied to Put, DeleteKeys and GetRecord. A base store of keyed records
// (sealed and active segments, replaced keys, deleted keys, a compaction)
// is built once; every case copies it, opens the copy through a
// vfs.Fault, runs one phase (Puts that fit the active segment, need new
// segments, replace keys held in sealed segments; DeleteKeys of keys in
// sealed and active segments; a Compact that moves keyed rows; GetRecord
// of every key) with the n-th
// operation of one kind failed (write, sync, read, stat, map, ...: every
// n of every kind the phase performs), and checks that
//
//   - the failing call returns an error wrapping the injected errno;
//   - GetRecord never answers wrong: each key reads back its acknowledged
//     record (or the failed call's), or the read fails with an error that
//     is not ErrNotFound; a later write succeeds or fails with the
//     injected errno;
//   - reopened on the real file system, every key holds its acknowledged
//     state, the failed call is wholly applied or wholly absent, no key
//     is live twice, and Stats().Live counts the live keys
//     (kcModel.check).
//
// MEMVEC_FAULT_FULL=1 tries every variant of each operation, not one per
// n, as for TestFaultInjection.

const kfKeys = 40

// kfPhase is a piece of keyed work to inject faults into.
type kfPhase struct {
	name string
	run  func(db *DB, m *kcModel, rng *rand.Rand) error
}

// kfRecords returns n records of distinct keys of the key space.
func kfRecords(m *kcModel, rng *rand.Rand, n int) []Record {
	recs := make([]Record, n)
	for i, j := range rng.Perm(len(m.space))[:n] {
		recs[i] = Record{Key: m.space[j], Vector: randVec(rng, crashDim), Payload: randPayload(rng)}
	}
	return recs
}

func kfPhases() []kfPhase {
	return []kfPhase{
		{name: "Put", run: func(db *DB, m *kcModel, rng *rand.Rand) error {
			// fits the active segment; needs a new one; spans two
			for _, n := range []int{3, 30, 40} {
				if err := m.put(db, kfRecords(m, rng, n)); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "DeleteKeys", run: func(db *DB, m *kcModel, rng *rand.Rand) error {
			return m.deleteKeys(db, []string{m.space[0], m.space[5], m.space[5], m.space[len(m.space)-1], "absent"})
		}},
		{name: "Compact", run: func(db *DB, m *kcModel, rng *rand.Rand) error {
			// Keyed rows move to new segments with their keys and
			// payloads; a failed compaction moves nothing.
			if err := m.deleteKeys(db, []string{m.space[6], m.space[7], m.space[30]}); err != nil {
				return err
			}
			return m.compactKeys(db)
		}},
		{name: "GetRecord", run: func(db *DB, m *kcModel, rng *rand.Rand) error {
			for _, k := range m.space {
				if err := kfCheckKey(db, m, k); err != nil {
					return err
				}
			}
			return nil
		}},
	}
}

// kfCheckKey reads k: it must hold its acknowledged or a maybe state, or
// the read must fail with an error other than ErrNotFound, which it
// returns.
func kfCheckKey(db *DB, m *kcModel, k string) error {
	got, err := db.GetRecord(k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	for _, want := range append([]kRec{m.keys[k]}, m.maybe[k]...) {
		if want.matches(got, err == nil) {
			return nil
		}
	}
	return fmt.Errorf("GetRecord(%.20q) = %+v, %v; the model says %v: %w", k, got, err, m.keys[k], errKFWrong)
}

var errKFWrong = errors.New("wrong answer")

// buildKeysFaultBase makes the store every case starts from.
func buildKeysFaultBase(t *testing.T) (string, *kcModel) {
	dir := filepath.Join(t.TempDir(), "base")
	rng := rand.New(rand.NewSource(1))
	db, err := openT(t, dir, faultOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	m := newKCModel(keySpace(kfKeys), false)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{kfKeys, 20, 10} {
		must(m.put(db, kfRecords(m, rng, n)))
	}
	must(m.deleteKeys(db, []string{m.space[1], m.space[2]}))
	must(m.compactKeys(db))
	must(m.put(db, kfRecords(m, rng, 4)))
	must(m.deleteKeys(db, []string{m.space[3]}))
	must(db.Close())
	return dir, m
}

// compactKeys runs Compact (keys do not change).
func (m *kcModel) compactKeys(db *DB) error {
	_, err := compactWithin(db, matrixCompactTimeout)
	return err
}

func TestKeysFaultInjection(t *testing.T) {
	base, baseModel := buildKeysFaultBase(t)
	start := time.Now()
	for _, ph := range kfPhases() {
		t.Run(ph.name, func(t *testing.T) {
			counts := runKeysFaultPhase(t, base, baseModel, ph, 0, 0, faultVariant{})
			cases := 0
			eachFault(counts, func(k vfs.Kind, n int, v faultVariant) {
				runKeysFaultPhase(t, base, baseModel, ph, k, n, v)
				cases++
			})
			t.Logf("%s: operations per run %v; %d cases", ph.name, formatCounts(counts), cases)
		})
	}
	t.Logf("in %v", time.Since(start).Round(time.Millisecond))
}

// runKeysFaultPhase runs phase ph on a fresh copy of the base store with
// the n-th operation of kind k failed as v (k == 0: no fault; it then
// returns how many operations of each kind the phase did) and checks the
// outcome.
func runKeysFaultPhase(t *testing.T, base string, baseModel *kcModel, ph kfPhase, k vfs.Kind, n int, v faultVariant) map[vfs.Kind]int {
	t.Helper()
	name := fmt.Sprintf("%s: %v #%d (%v)", ph.name, k, n, v)
	dir := filepath.Join(t.TempDir(), "s")
	copyStore(t, base, dir)
	m := newKCModel(baseModel.space, false)
	for key, r := range baseModel.keys {
		m.keys[key] = r
	}
	rng := rand.New(rand.NewSource(int64(n)*31 + int64(k)))
	f := vfs.NewFault(nil, uint64(n))
	in := injectFault(f, k, n, v)
	counts := in.counts
	var bad []string
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	db, err := openT(t, dir, faultOptions(f))
	if err != nil {
		t.Fatalf("%s: open: %v", name, err)
	}
	in.armed = true
	err = ph.run(db, m, rng)
	in.armed = false
	switch {
	case k == 0 && err != nil:
		t.Fatalf("%s: the run without faults failed: %v", name, err)
	case k != 0 && in.hit == nil:
		db.Close()
		return counts // the phase took another path this time
	case errors.Is(err, errKFWrong):
		fail("%v", err)
	case err != nil && !errors.Is(err, v.err):
		fail("the phase failed with %v, which does not wrap the injected %v", err, v.err)
	}
	// Reads never answer wrong; a write succeeds or fails with the
	// injected error.
	for _, key := range m.space {
		if err := kfCheckKey(db, m, key); err != nil && !errors.Is(err, v.err) {
			fail("after the phase: %v", err)
		}
	}
	if err := m.put(db, kfRecords(m, rng, 2)); err != nil && !errors.Is(err, v.err) {
		fail("a Put after the phase failed with %v, which does not wrap the injected %v", err, v.err)
	}
	db.Close()
	bad = append(bad, checkKeysAfterCrash(dir, m)...)
	if len(bad) > 0 {
		t.Errorf("%s:\n  %s\n  the calls: %s", name, strings.Join(bad, "\n  "), strings.Join(m.log, "; "))
	}
	return counts
}
