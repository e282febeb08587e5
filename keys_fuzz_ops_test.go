package memvec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
)

// The keyed operations of FuzzOps (fuzz_ops_test.go): Put, DeleteKeys and
// GetRecord over a small key space, with empty, over-long and repeated
// keys, payloads up to and over MaxPayloadLen and every kind of bad
// vector. The model (fzKeys) follows the oracle's IDs: a Put deletes the
// row its key held, Delete by ID drops the key of a keyed row, and
// Compact moves keys and payloads with their rows. Every search result
// must carry its row's key (and its payload only when asked for), and
// checkAll reads every key back.

// fzKeys is the keyed part of the FuzzOps model: each live key's row,
// and each keyed row's key and payload.
type fzKeys struct {
	id      map[string]uint64
	key     map[uint64]string
	payload map[uint64][]byte
}

func newFZKeys() fzKeys {
	return fzKeys{id: map[string]uint64{}, key: map[uint64]string{}, payload: map[uint64][]byte{}}
}

// fzKeySpace is how many keys an input picks from.
const fzKeySpace = 12

// pickKey decodes a key: mostly one of the key space, sometimes empty or
// over MaxKeyLen bytes, or of exactly MaxKeyLen bytes.
func (s *fzState) pickKey() string {
	b := s.r.byte()
	switch b % 16 {
	case 14:
		return ""
	case 15:
		return strings.Repeat("k", MaxKeyLen+int(b/16%2))
	}
	return fmt.Sprintf("key-%d", int(b)%fzKeySpace)
}

// keyError is the documented verdict on a key.
func keyError(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return ErrInvalidArgument
	}
	return nil
}

func (s *fzState) put() {
	r := s.r
	n := int(r.byte() % 6)
	var recs []Record
	if n > 0 || r.byte()&1 == 0 {
		recs = make([]Record, n)
	}
	var want error
	bad := -1
	seen := map[string]bool{}
	for i := range recs {
		recs[i].Key = s.pickKey()
		switch b := r.byte(); b % 8 {
		case 0:
		case 1:
			recs[i].Payload = []byte{}
		case 2:
			recs[i].Payload = make([]byte, MaxPayloadLen+int(b/8%2))
		default:
			recs[i].Payload = bytes.Repeat([]byte{b}, int(b))
		}
		recs[i].Vector = s.vector()
		if want != nil {
			continue
		}
		// Checked in this order, record by record (engine.checkRecords).
		switch {
		case keyError(recs[i].Key) != nil:
			want = keyError(recs[i].Key)
		case seen[recs[i].Key]:
			want = ErrInvalidArgument
		case len(recs[i].Payload) > MaxPayloadLen:
			want = ErrInvalidArgument
		default:
			want = vectorError(recs[i].Vector, s.dim)
		}
		if want != nil {
			bad = i
		}
		seen[recs[i].Key] = true
	}
	if want == nil && s.added+n > fzMaxVectors {
		return
	}
	s.logf("Put(%d records, first bad %d: %v)", n, bad, want)
	before := s.db.Stats()
	ids, err := s.db.Put(recs)
	if want != nil {
		if !errors.Is(err, want) || ids != nil {
			s.fatalf("Put with bad record %d: %v, %v; want %v", bad, ids, err, want)
		}
		if after := s.db.Stats(); after != before {
			s.fatalf("a refused Put changed the store: %+v -> %+v", before, after)
		}
		return
	}
	if err != nil || len(ids) != n {
		s.fatalf("Put(%d good records) = %v, %v", n, ids, err)
	}
	for i, rec := range recs {
		if ids[i] != s.o.next+uint64(i) {
			s.fatalf("Put returned IDs %v; want consecutive from %d", ids, s.o.next)
		}
		if old, ok := s.k.id[rec.Key]; ok {
			s.o.delete([]uint64{old})
			s.forgetID(old)
			s.dead = append(s.dead, old)
			s.deleted++
		}
	}
	s.o.add(ids, vectorsOf(recs))
	for i, rec := range recs {
		s.k.id[rec.Key] = ids[i]
		s.k.key[ids[i]] = rec.Key
		s.k.payload[ids[i]] = bytes.Clone(rec.Payload)
	}
	s.live = nil
	s.added += n
	s.trimDead()
	if n > 0 {
		recs[0].Vector[0] = float32(math.NaN()) // Put copies
	}
}

func vectorsOf(recs []Record) [][]float32 {
	out := make([][]float32, len(recs))
	for i, r := range recs {
		out[i] = r.Vector
	}
	return out
}

// forgetID drops the key of a row that is no longer live.
func (s *fzState) forgetID(id uint64) {
	if k, ok := s.k.key[id]; ok {
		delete(s.k.id, k)
		delete(s.k.key, id)
		delete(s.k.payload, id)
	}
}

// moveKeys moves keys and payloads as a compaction moved their rows.
func (s *fzState) moveKeys(m IDMap) {
	moved := newFZKeys()
	for id, k := range s.k.key {
		nid, ok := m.Lookup(id)
		if !ok {
			nid = id
		}
		moved.id[k], moved.key[nid], moved.payload[nid] = nid, k, s.k.payload[id]
	}
	s.k = moved
}

func (s *fzState) deleteKeys() {
	n := int(s.r.byte() % 5)
	var keys []string
	if n > 0 || s.r.byte()&1 == 0 {
		keys = make([]string, n)
	}
	var want error
	for i := range keys {
		keys[i] = s.pickKey()
		if want == nil {
			want = keyError(keys[i])
		}
	}
	var ids []uint64
	seen := map[string]bool{}
	for _, k := range keys {
		if id, ok := s.k.id[k]; ok && !seen[k] {
			ids = append(ids, id)
		}
		seen[k] = true
	}
	s.logf("DeleteKeys(%d keys) want %d, %v", n, len(ids), want)
	got, err := s.db.DeleteKeys(keys)
	if want != nil {
		if !errors.Is(err, want) || got != 0 {
			s.fatalf("DeleteKeys with a bad key = %d, %v; want %v", got, err, want)
		}
		return
	}
	if err != nil || got != len(ids) {
		s.fatalf("DeleteKeys(%d keys) = %d, %v; want %d", n, got, err, len(ids))
	}
	s.o.delete(ids)
	for _, id := range ids {
		s.forgetID(id)
	}
	s.dead = append(s.dead, ids...)
	s.deleted += uint64(len(ids))
	s.live = nil
	s.trimDead()
}

// getRecord reads k back and checks it against the model; the
// operations log it, whether the input picked it or checkKeys reads it.
func (s *fzState) getRecord(k string) {
	s.logf("GetRecord(%.20q)", k)
	got, err := s.db.GetRecord(k)
	if want := keyError(k); want != nil {
		if !errors.Is(err, want) {
			s.fatalf("GetRecord of a bad key: %+v, %v; want %v", got, err, want)
		}
		return
	}
	id, ok := s.k.id[k]
	if !ok {
		if !errors.Is(err, ErrNotFound) {
			s.fatalf("GetRecord(%q) of an absent key = %+v, %v; want ErrNotFound", k, got, err)
		}
		return
	}
	if err != nil || got.ID != id || got.Key != k || !bitsEqual(got.Vector, s.o.vecs[id]) || !bytes.Equal(got.Payload, s.k.payload[id]) {
		s.fatalf("GetRecord(%q) = %+v, %v; want ID %d, vector %v, payload %.12q", k, got, err, id, s.o.vecs[id], s.k.payload[id])
	}
}

// checkResultKeys checks the key and payload of every search result.
func (s *fzState) checkResultKeys(opts SearchOptions, got []Result) {
	s.t.Helper()
	for _, h := range got {
		var want []byte
		if opts.WithPayload && s.k.key[h.ID] != "" {
			want = s.k.payload[h.ID]
		}
		if h.Key != s.k.key[h.ID] || !bytes.Equal(h.Payload, want) || (!opts.WithPayload && h.Payload != nil) {
			s.fatalf("search (%+v) hit %d: key %q, payload %.12q; want key %q, payload %.12q", opts, h.ID, h.Key, h.Payload, s.k.key[h.ID], want)
		}
	}
}

// checkKeys reads every key of the key space back.
func (s *fzState) checkKeys() {
	for i := 0; i < fzKeySpace; i++ {
		s.getRecord(fmt.Sprintf("key-%d", i))
	}
}
