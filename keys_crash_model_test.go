package memvec

import (
	"errors"
	"fmt"
	"strings"
)

// kcModel is the acknowledged state of a keyed store under the power-cut
// and fault-injection tests (keys_powerloss_test.go, keys_fault_test.go),
// and what else each key may hold after a cut or a failed call.
type kcModel struct {
	space  []string
	noSync bool
	keys   map[string]kRec // the state of the last acknowledged call
	// maybe are the other states a key may hold after a reopen: with
	// NoSync, those of the acknowledged calls since the last Sync or
	// Close (a power cut may undo each of them); and those of the calls
	// that failed or were cut (each wholly applied or wholly absent).
	maybe map[string][]kRec
	// failed are the calls that failed or were cut, as the states they
	// give their keys and the states those keys had before: without
	// NoSync each must be found wholly applied or wholly absent.
	failed []kcCall
	acked  int      // calls acknowledged
	log    []string // the calls, for failure messages
}

type kcCall struct {
	what     string
	old, new map[string]kRec
}

func newKCModel(space []string, noSync bool) *kcModel {
	return &kcModel{space: space, noSync: noSync, keys: map[string]kRec{}, maybe: map[string][]kRec{}}
}

func (m *kcModel) live() int {
	n := 0
	for _, r := range m.keys {
		if r.present {
			n++
		}
	}
	return n
}

// settle records the outcome of a call that changes the keys of changes
// (their new states): acknowledged (err nil) or not.
func (m *kcModel) settle(what string, changes map[string]kRec, err error) {
	m.log = append(m.log, fmt.Sprintf("%s: %v", what, err))
	if err != nil {
		call := kcCall{what: what, old: map[string]kRec{}, new: changes}
		for k, r := range changes {
			call.old[k] = m.keys[k]
			m.maybe[k] = append(m.maybe[k], r)
		}
		m.failed = append(m.failed, call)
		return
	}
	m.acked++
	for k, r := range changes {
		if m.noSync {
			m.maybe[k] = append(m.maybe[k], m.keys[k])
		}
		m.keys[k] = r
	}
}

// put runs db.Put(recs) and records it.
func (m *kcModel) put(db *DB, recs []Record) error {
	changes := map[string]kRec{}
	for _, r := range recs {
		changes[r.Key] = kRecOf(r)
	}
	ids, err := db.Put(recs)
	if err == nil && len(ids) != len(recs) {
		err = fmt.Errorf("Put of %d records returned %d IDs", len(recs), len(ids))
	}
	m.settle(fmt.Sprintf("Put of %d records", len(recs)), changes, err)
	return err
}

// deleteKeys runs db.DeleteKeys(keys) and records it.
func (m *kcModel) deleteKeys(db *DB, keys []string) error {
	changes := map[string]kRec{}
	want := 0
	for _, k := range keys {
		if _, done := changes[k]; !done && m.keys[k].present {
			want++
		}
		changes[k] = kRec{}
	}
	n, err := db.DeleteKeys(keys)
	if err == nil && n != want {
		// Reported, and recorded as a call that may or may not have
		// happened, so that the checks after it stay meaningful.
		err = fmt.Errorf("DeleteKeys(%d keys) = %d; the model says %d were live", len(keys), n, want)
	}
	m.settle(fmt.Sprintf("DeleteKeys of %d keys", len(keys)), changes, err)
	return err
}

// synced says that a Sync or Close returned: every acknowledged call is
// durable.
func (m *kcModel) synced() {
	if !m.noSync {
		return
	}
	for k := range m.maybe {
		delete(m.maybe, k)
	}
	for _, c := range m.failed {
		for k, r := range c.new {
			m.maybe[k] = append(m.maybe[k], r)
		}
	}
}

// check compares the store db, reopened after a cut or a failure, with
// the model: every key holds its acknowledged state or one of its maybe
// states, a failed call is all or nothing (without NoSync), no key is
// live twice and Stats().Live counts the live keys. The model then takes
// the state found. It returns every violation.
func (m *kcModel) check(db *DB) []string {
	view, bad := readKeyed(db, m.space)
	bad = append(bad, checkKeysAgainst(view, m.space, func(k string) []kRec {
		return append([]kRec{m.keys[k]}, m.maybe[k]...)
	})...)
	if !m.noSync {
		for _, c := range m.failed {
			nw, old := splitApplied(view, c.old, c.new)
			if len(nw) > 0 && len(old) > 0 {
				bad = append(bad, fmt.Sprintf("the failed %s is partly applied: keys %q new, %q old", c.what, nw, old))
			}
		}
	}
	if uint64(len(view.recs)) != db.Stats().Live {
		bad = append(bad, fmt.Sprintf("Stats().Live %d; %d keys are live (and no row without a key)", db.Stats().Live, len(view.recs)))
	}
	// The model follows what was found.
	for _, k := range m.space {
		if r, ok := view.recs[k]; ok {
			m.keys[k] = kRecOf(r)
		} else {
			m.keys[k] = kRec{}
		}
	}
	m.maybe, m.failed = map[string][]kRec{}, nil
	return bad
}

// checkKeysAfterCrash opens dir on the real file system (the background
// compactor off, so that nothing moves), checks it against m and closes
// it.
func checkKeysAfterCrash(dir string, m *kcModel) []string {
	db, err := Open(dir, Options{DisableAutoCompaction: true})
	if err != nil {
		return []string{fmt.Sprintf("reopen: %v", err)}
	}
	bad := m.check(db)
	if err := checkStore(db, dir, nil, true); err != nil {
		bad = append(bad, fmt.Sprintf("structural check: %v", err))
	}
	if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) {
		bad = append(bad, fmt.Sprintf("Close: %v", err))
	}
	for i := range bad {
		bad[i] = strings.TrimSpace(bad[i])
	}
	return bad
}
