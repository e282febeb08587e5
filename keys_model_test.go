package memvec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
)

// Shared pieces of the keyed-record tests (keys_*_test.go): what a key
// must hold (kRec), and readKeyed, which reads every key of a store and
// checks that the store's own answers about keys agree with each other.

// kRec is what a key holds, or may hold, after a sequence of calls: a
// vector and payload, or nothing (present false).
type kRec struct {
	present bool
	vec     []float32
	payload []byte
}

func (r kRec) String() string {
	if !r.present {
		return "absent"
	}
	return fmt.Sprintf("{vec %v, payload %d bytes %.12q}", r.vec, len(r.payload), r.payload)
}

// kRecOf is the state a Put of rec leaves its key in (copies).
func kRecOf(rec Record) kRec {
	return kRec{present: true, vec: append([]float32(nil), rec.Vector...), payload: bytes.Clone(rec.Payload)}
}

// matches reports whether got (present) or its absence is r, bit for bit.
// A nil and an empty payload are the same payload.
func (r kRec) matches(got Record, present bool) bool {
	if r.present != present {
		return false
	}
	return !present || bitsEqual(got.Vector, r.vec) && bytes.Equal(got.Payload, r.payload)
}

// keyedView is what readKeyed found: the live record of each key it was
// asked about (absent keys are not in recs), and every live row.
type keyedView struct {
	recs    map[string]Record
	rows    map[uint64][]float32 // every live row, by ID (Range)
	keyOf   map[uint64]string    // the key of every keyed live row (search)
	unkeyed int                  // live rows without a key
}

// readKeyed reads every key of space with GetRecord, every live row with
// Range and the key and payload of every live row with one search over
// the whole store (TopK above Stats().Live), with and without WithPayload.
// It returns the view and every disagreement between these answers:
// GetRecord's vector must be Get's and Range's for its ID, the search must
// name each key at most once (no key is live twice) and at GetRecord's ID,
// with GetRecord's payload when asked for and none otherwise, keys outside
// space must not appear, and Range, the search and Stats().Live must count
// the same rows. The store must be quiescent (no compaction running).
func readKeyed(db *DB, space []string) (*keyedView, []string) {
	var bad []string
	fail := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	ctx := context.Background()
	v := &keyedView{recs: map[string]Record{}, rows: map[uint64][]float32{}, keyOf: map[uint64]string{}}
	inSpace := make(map[string]bool, len(space))
	for _, k := range space {
		inSpace[k] = true
		r, err := db.GetRecord(k)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			fail("GetRecord(%.20q): %v", k, err)
			continue
		case r.Key != k:
			fail("GetRecord(%.20q) returned key %.20q", k, r.Key)
		}
		v.recs[k] = r
		if got, err := db.Get(r.ID); err != nil || !bitsEqual(got, r.Vector) {
			fail("GetRecord(%.20q) = ID %d, vector %v; Get(%d) = %v, %v", k, r.ID, r.Vector, r.ID, got, err)
		}
	}
	err := db.Range(ctx, func(id uint64, vec []float32) error {
		v.rows[id] = append([]float32(nil), vec...)
		return nil
	})
	if err != nil {
		fail("Range: %v", err)
	}
	st := db.Stats()
	if uint64(len(v.rows)) != st.Live {
		fail("Range found %d live rows, Stats().Live is %d", len(v.rows), st.Live)
	}
	q := make([]float32, db.Dimension())
	q[0] = 1
	topK := len(v.rows) + 1
	for _, withPayload := range []bool{false, true} {
		res, err := db.Search(ctx, q, SearchOptions{TopK: topK, MinScore: -2, WithPayload: withPayload})
		if err != nil {
			fail("Search(all, WithPayload %v): %v", withPayload, err)
			continue
		}
		if len(res) != len(v.rows) {
			fail("Search(all, WithPayload %v) returned %d hits; Range found %d live rows", withPayload, len(res), len(v.rows))
		}
		seen := map[string]uint64{}
		unkeyed := 0
		for _, h := range res {
			if _, ok := v.rows[h.ID]; !ok {
				fail("Search hit ID %d, which Range did not find", h.ID)
			}
			if !withPayload && h.Payload != nil {
				fail("Search without WithPayload: hit %d (key %.20q) carries a payload of %d bytes", h.ID, h.Key, len(h.Payload))
			}
			if h.Key == "" {
				unkeyed++
				if h.Payload != nil {
					fail("Search: hit %d without a key carries a payload of %d bytes", h.ID, len(h.Payload))
				}
				continue
			}
			if prev, dup := seen[h.Key]; dup {
				fail("key %.20q is live twice: IDs %d and %d", h.Key, prev, h.ID)
			}
			seen[h.Key] = h.ID
			v.keyOf[h.ID] = h.Key
			r, ok := v.recs[h.Key]
			switch {
			case !inSpace[h.Key]:
				fail("Search: hit %d has key %.20q, which no call ever used", h.ID, h.Key)
			case !ok:
				fail("Search: hit %d has key %.20q, but GetRecord says it is not found", h.ID, h.Key)
			case r.ID != h.ID:
				fail("Search: key %.20q at ID %d; GetRecord says ID %d", h.Key, h.ID, r.ID)
			case withPayload && !bytes.Equal(h.Payload, r.Payload):
				fail("Search WithPayload: key %.20q has payload %.12q; GetRecord says %.12q", h.Key, h.Payload, r.Payload)
			}
		}
		if len(seen) != len(v.recs) {
			fail("Search found %d keyed rows; GetRecord found %d keys live", len(seen), len(v.recs))
		}
		v.unkeyed = unkeyed
	}
	for k, r := range v.recs {
		if vec, ok := v.rows[r.ID]; !ok || !bitsEqual(vec, r.Vector) {
			fail("GetRecord(%.20q) = ID %d, %v; Range has %v", k, r.ID, r.Vector, vec)
		}
	}
	return v, bad
}

// checkKeysAgainst compares the keys of view with what each may hold:
// allowed(k) lists the admissible states of key k. It returns the
// disagreements.
func checkKeysAgainst(view *keyedView, space []string, allowed func(k string) []kRec) []string {
	var bad []string
	for _, k := range space {
		got, present := view.recs[k]
		ok := false
		for _, want := range allowed(k) {
			if want.matches(got, present) {
				ok = true
				break
			}
		}
		if !ok {
			have := "absent"
			if present {
				have = kRecOf(got).String()
			}
			alts := make([]string, 0)
			for _, a := range allowed(k) {
				alts = append(alts, a.String())
			}
			bad = append(bad, fmt.Sprintf("key %.20q holds %s; it may hold only one of [%s]", k, have, strings.Join(alts, "; ")))
		}
	}
	return bad
}

// splitApplied sorts the keys of a call, which gives them the states
// after and found them in the states before, by what view shows: nw, the
// keys that hold their new state (and not the old one), and old, the
// others. A call applied wholly or not at all leaves one of them empty.
func splitApplied(view *keyedView, before, after map[string]kRec) (nw, old []string) {
	for k, r := range after {
		got, present := view.recs[k]
		switch {
		case before[k].matches(got, present) && r.matches(got, present):
		case r.matches(got, present):
			nw = append(nw, k)
		default:
			old = append(old, k)
		}
	}
	return nw, old
}

// keySpace returns n keys of the kinds an application uses: short ASCII
// names, a few bytes that are not UTF-8, a NUL, and keys of MaxKeyLen
// bytes that differ only in their last byte.
func keySpace(n int) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		switch i % 10 {
		case 3:
			out = append(out, fmt.Sprintf("\x00\xff%d", i))
		case 7:
			out = append(out, strings.Repeat("k", MaxKeyLen-4)+fmt.Sprintf("%04d", i))
		default:
			out = append(out, fmt.Sprintf("doc-%d", i))
		}
	}
	return out
}

// randPayload returns nil, an empty payload, a few bytes, a few KiB or,
// rarely, MaxPayloadLen bytes.
func randPayload(rng *rand.Rand) []byte {
	var n int
	switch r := rng.Intn(100); {
	case r < 35:
		return nil
	case r < 45:
		return []byte{}
	case r < 90:
		n = 1 + rng.Intn(40)
	case r < 98:
		n = 100 + rng.Intn(6000)
	default:
		n = MaxPayloadLen
	}
	p := make([]byte, n)
	rng.Read(p)
	return p
}
