package engine

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/segment"
)

// Limits of a keyed record (package segment enforces them on disk too).
const (
	MaxKeyLen     = segment.MaxKeyLen
	MaxPayloadLen = segment.MaxPayloadLen
)

// Record is a vector stored under a key of the application's choosing:
// what Put stores and GetRecord returns. Put ignores ID.
type Record struct {
	ID      uint64
	Key     string
	Vector  []float32
	Payload []byte
}

// checkRecords validates a Put batch and returns it as a batch with no
// supersedes yet, its keys hashed, in a putBuf to release: every key 1 to
// MaxKeyLen bytes and unique in the batch, every payload at most
// MaxPayloadLen bytes, every vector valid.
func (e *Engine) checkRecords(recs []Record) (*putBuf, error) {
	p := getPutBuf(len(recs))
	b := &p.b
	fail := func(err error) (*putBuf, error) {
		p.release()
		return nil, err
	}
	for i, r := range recs {
		if err := checkKey(r.Key); err != nil {
			return fail(fmt.Errorf("record %d: %w", i, err))
		}
		if len(r.Payload) > MaxPayloadLen {
			return fail(fmt.Errorf("record %d: payload of %d bytes, at most %d: %w", i, len(r.Payload), MaxPayloadLen, errs.ErrInvalidArgument))
		}
		inv, err := e.checkVector(r.Vector)
		if err != nil {
			return fail(fmt.Errorf("record %d: %w", i, err))
		}
		// The key's bytes are only read (copied into the batch's blob,
		// compared by lookups), so they are not copied here.
		k := unsafe.Slice(unsafe.StringData(r.Key), len(r.Key))
		b.vecs[i], b.inv[i], b.keys[i], b.payloads[i], b.hashes[i] = r.Vector, inv, k, r.Payload, segment.HashKey(k)
	}
	p.dup = dupTable(p.dup, len(recs))
	if i, j, dup := firstDup(b.keys, b.hashes, p.dup); dup {
		return fail(fmt.Errorf("record %d: key %q also in record %d: %w", j, recs[j].Key, i, errs.ErrInvalidArgument))
	}
	e.encodeBatch(b)
	return p, nil
}

// firstDup returns i < j with keys[i] == keys[j], j the least such, and
// true; or false when the keys are distinct. hashes[i] is the hash of
// keys[i]: an open-addressing table of the indices by hash (slots, from
// dupTable: at most half full) compares key bytes only on equal hashes,
// where a map of strings hashed and compared each key again.
func firstDup(keys [][]byte, hashes []uint64, slots []int32) (i, j int, dup bool) {
	mask := uint64(len(slots) - 1) // slots: 1 + index into keys; 0: empty
	for j, h := range hashes {
		for s := h & mask; ; s = (s + 1) & mask {
			i := int(slots[s]) - 1
			if i < 0 {
				slots[s] = int32(j + 1)
				break
			}
			if hashes[i] == h && string(keys[i]) == string(keys[j]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// checkKey refuses a key outside 1 to MaxKeyLen bytes.
func checkKey(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return fmt.Errorf("key of %d bytes, want 1 to %d: %w", len(k), MaxKeyLen, errs.ErrInvalidArgument)
	}
	return nil
}

// Put stores each record under its key, replacing the live record that
// holds the key, if any: its row is deleted in the same durable step that
// adds the new one (the new batch names it as superseded; see package
// doc). It returns the IDs of the new rows, in order.
func (e *Engine) Put(recs []Record) ([]uint64, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.opMu.RUnlock()
	if len(recs) == 0 {
		return nil, nil
	}
	p, err := e.checkRecords(recs)
	if err != nil {
		return nil, err
	}
	defer p.release()
	b := &p.b
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.writable(); err != nil {
		return nil, err
	}
	v := e.cur.Load()
	err = v.findKeys(b.keys, b.hashes, e.keyFilterLocked(v), func(_ int, h keyHit) {
		b.supersedes = append(b.supersedes, h.id)
	})
	if err != nil {
		return nil, err
	}
	return e.appendLocked(b)
}

// keyHit is where a key's live row is in a version.
type keyHit struct {
	seg int
	row uint64
	id  uint64
}

// findKeys finds the live rows holding keys, whose hashes
// (segment.HashKey) are given: it calls found(i, hit) for each keys[i]
// that is live in v, in order. Within a segment only the last row holding
// a key can be live (a later Put of the key superseded the earlier rows),
// and no key is live in two rows, so the first live row found, newest
// segment first, is the one. Each segment is asked about the rows v shows
// of it, so a reader's snapshot gets a key's row as of that snapshot even
// while a Put of the key is being published. Each segment is asked once
// about the keys not yet found live, so that a key is hashed once and a
// segment's index locked once per call rather than per key. A segment
// whose key index is lost (its tables and its blobs damaged) fails the
// lookup with the damage rather than report its keys absent.
//
// f, the store's key filter or nil, spares the sealed segments it covers
// the keys it rejects: they hold none of them. A batch of new keys thus
// costs one filter probe each plus the lookups in the segments f does not
// cover (the active one), rather than a lookup in every segment.
func (v *version) findKeys(keys [][]byte, hashes []uint64, f *keyFilter, found func(i int, h keyHit)) error {
	all := keyList{keys: keys, hashes: hashes}
	// maybe: the keys f may hold, asked of the segments f covers
	// (covered[si]); the others are asked all the keys.
	var (
		covered []bool
		maybe   keyList
	)
	if f != nil {
		for si := range v.segs.len() {
			if f.covers(v.segs.at(si).ref) {
				if covered == nil {
					covered = make([]bool, v.segs.len())
				}
				covered[si] = true
			}
		}
		if covered != nil {
			maybe = f.mayHoldList(all)
		}
	}
	// By index into keys; seg -1: not found. A batch of new keys finds
	// none, so it is made at the first hit.
	var hits []keyHit
	for si := v.segs.len() - 1; si >= 0 && len(all.keys) > 0; si-- {
		s := v.segs.at(si)
		if !s.ref.seg.Keyed() {
			continue
		}
		l := &all
		if covered != nil && covered[si] {
			l = &maybe
		}
		if len(l.keys) == 0 {
			continue
		}
		any := false
		s.ref.seg.LookupKeysBelow(l.keys, l.hashes, s.rows, func(j int, row uint64) {
			if s.tomb.has(row) {
				return
			}
			if hits == nil {
				hits = make([]keyHit, len(keys))
				for i := range hits {
					hits[i].seg = -1
				}
			}
			id, _ := segment.RowID(s.runs, row)
			hits[l.orig(j)], any = keyHit{seg: si, row: row, id: id}, true
		})
		// A damaged index finds nothing: a key it may hold is not absent.
		if err := s.ref.seg.IndexErr(); err != nil {
			return err
		}
		if any {
			all, maybe = all.unfound(hits), maybe.unfound(hits)
		}
	}
	for i, h := range hits {
		if h.seg >= 0 {
			found(i, h)
		}
	}
	return nil
}

// unfound returns the keys of l that hits does not place, in a list of
// its own (l's slices may be the caller's).
func (l keyList) unfound(hits []keyHit) keyList {
	var out keyList
	for j, k := range l.keys {
		if i := l.orig(j); hits[i].seg < 0 {
			out.idx = append(out.idx, i)
			out.keys = append(out.keys, k)
			out.hashes = append(out.hashes, l.hashes[j])
		}
	}
	return out
}

// GetRecord returns the live record holding key, or ErrNotFound.
func (e *Engine) GetRecord(key string) (Record, error) {
	if err := checkKey(key); err != nil {
		return Record{}, err
	}
	v, hits, done, err := e.readingKeys([][]byte{[]byte(key)})
	if err != nil {
		return Record{}, err
	}
	defer done()
	if len(hits) == 0 {
		return Record{}, fmt.Errorf("key %q: %w", key, errs.ErrNotFound)
	}
	h := hits[0]
	s := v.segs.at(h.seg)
	if err := s.ref.checkRows(h.row, h.row+1); err != nil {
		return Record{}, err
	}
	if err := s.ref.checkBlobs(); err != nil {
		return Record{}, err
	}
	payload, err := s.ref.seg.Payload(h.row)
	if err != nil {
		return Record{}, err
	}
	return Record{ID: h.id, Key: key, Vector: append([]float32(nil), s.ref.seg.Vectors(h.row, h.row+1)...), Payload: payload}, nil
}

// readingKeys enters a read (as reading does) and returns where the live
// rows holding keys are in its snapshot, absent keys skipped. It uses the
// key filter as it is: a reader never builds it.
func (e *Engine) readingKeys(keys [][]byte) (v *version, hits []keyHit, done func(), err error) {
	v, done, err = e.reading()
	if err != nil {
		return nil, nil, nil, err
	}
	hits = make([]keyHit, 0, len(keys))
	err = v.findKeys(keys, hashKeys(keys), e.kf.Load(), func(_ int, h keyHit) { hits = append(hits, h) })
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return v, hits, done, nil
}

// hashKeys returns segment.HashKey of each key.
func hashKeys(keys [][]byte) []uint64 {
	hashes := make([]uint64, len(keys))
	for i, k := range keys {
		hashes[i] = segment.HashKey(k)
	}
	return hashes
}

// DeleteKeys deletes the live records holding keys and returns how many
// there were; absent and repeated keys count 0. The deletes go to the WAL
// as Delete's do.
func (e *Engine) DeleteKeys(keys []string) (int, error) {
	kbs := make([][]byte, len(keys))
	check := func() error {
		for i, k := range keys {
			if err := checkKey(k); err != nil {
				return fmt.Errorf("key %d: %w", i, err)
			}
			kbs[i] = []byte(k)
		}
		return nil
	}
	return e.deleteRows(len(keys), check, func(v *version) ([]uint64, error) {
		var ids []uint64
		err := v.findKeys(kbs, hashKeys(kbs), e.keyFilterLocked(v), func(_ int, h keyHit) { ids = append(ids, h.id) })
		return ids, err
	})
}

// attachKeys fills the key of every hit (and its payload with payload)
// from v, the version the hits were found in. Rows without a key (added
// by Add) keep an empty key.
func (v *version) attachKeys(hits []Hit, payload bool) error {
	for i := range hits {
		si, row, ok := v.index.Find(hits[i].ID)
		if !ok {
			continue
		}
		ref := v.segs.at(si).ref
		seg := ref.seg
		if !seg.Keyed() {
			continue
		}
		if err := ref.checkBlobs(); err != nil {
			return err
		}
		k, err := seg.Key(row)
		if err != nil {
			return err
		}
		hits[i].Key = string(k)
		if payload && len(k) > 0 {
			if hits[i].Payload, err = seg.Payload(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// SearchInKeys is SearchInWith over the live records holding keys (absent
// ones are ignored), resolved on the snapshot the search reads.
func (e *Engine) SearchInKeys(ctx context.Context, q []float32, keys []string, k int, minScore float32, payload bool) ([]Hit, error) {
	kbs := make([][]byte, len(keys))
	for i, key := range keys {
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		kbs[i] = []byte(key)
	}
	v, hits, done, err := e.readingKeys(kbs)
	if err != nil {
		return nil, err
	}
	defer done()
	ids := make([]uint64, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return e.searchIn(ctx, v, q, ids, k, minScore, payload)
}
