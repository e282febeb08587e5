package segment

import (
	"fmt"
	"math"
	"runtime"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

// maxKeyedRows bounds the rows that can carry keys: the sealed key table
// holds rows as u32.
const maxKeyedRows = 1 << 32

// hashKey is the hash of the sealed key table and its bloom filter. Tests
// replace it to force collisions; files are written with xxhash64.
var hashKey = xxhash.Sum64

// keyLoc places a row's key and its payload in the file: the key at off,
// the payload right after it. A row without a key has klen 0.
type keyLoc struct {
	off  uint64
	plen uint32
	klen uint16
}

// addBatch records a written batch's blob (writer side), after
// indexBatch.
func (s *Segment) addBatch(rec Record, bl blob) {
	s.supersedes = append(s.supersedes, bl.supersedes...)
	s.blobEnd = int64(rec.BlobOff + rec.BlobLen)
	if s.blobEnd > s.size.Load() {
		s.size.Store(s.blobEnd)
	}
}

// indexBatch adds the keyed rows of a batch about to be written to the
// active segment's key index. AppendBatch runs it beside the batch's
// writes (see indexAhead): the index serves rows only below a row count
// its caller read from Rows (LookupKeysBelow, Key), so the rows of a batch
// not yet visible are never found, and a failed write poisons the
// segment, whose rows then never pass that count.
func (s *Segment) indexBatch(rec Record, raw []byte, bl blob) {
	s.kmu.Lock()
	s.mem.add(rec, raw, bl)
	s.kmu.Unlock()
}

// indexAhead is the fewest keyed rows for which AppendBatch indexes a
// batch on a goroutine of its own, beside its checksum and writes: a
// large NoSync Put then uses the second core for the one cache miss per
// key of the index inserts (about 1.3 ms of 10,000 keys) rather than
// adding them to the writes' time. A small batch indexes in line.
const indexAhead = 256

// Version returns the segment's format version: a file keeps the version
// it was created with.
func (s *Segment) Version() uint32 { return s.hdr.Version }

// Keyed reports whether the segment's format (version 3 and later) holds
// keys, payloads and superseded IDs, so that AppendRecords takes them. An
// active segment of an older version must be sealed before a keyed batch.
func (s *Segment) Keyed() bool { return s.lay.keyed() }

// Supersedes returns the IDs superseded by the batches of the active
// segment, in the order they were appended (those of the batches found at
// open, then those appended since): recovery deletes them again, which is
// idempotent. It is nil for a segment opened sealed. Writer side: not
// safe concurrently with AppendRecords.
func (s *Segment) Supersedes() []uint64 { return append([]uint64(nil), s.supersedes...) }

// Key returns a copy of the key of row (nil for a row without a key), for
// a row below a count obtained from Rows. It may be called from any
// goroutine. A damaged sealed key index is rebuilt from the blobs (see
// TablesErr); an error wraps ErrCorrupt when neither serves, or is the
// failed read.
func (s *Segment) Key(row uint64) ([]byte, error) {
	k, _, err := s.keyPayload(row, false)
	return k, err
}

// Payload returns a copy of the payload of row (nil when it has none), as
// Key does for the key.
func (s *Segment) Payload(row uint64) ([]byte, error) {
	_, p, err := s.keyPayload(row, true)
	return p, err
}

func (s *Segment) keyPayload(row uint64, payload bool) (key, pay []byte, err error) {
	if row >= s.Rows() {
		return nil, nil, fmt.Errorf("segment %s: row %d of %d: %w", s.path, row, s.Rows(), errs.ErrInvalidArgument)
	}
	if !s.lay.keyed() {
		return nil, nil, nil
	}
	var l keyLoc
	var disk *diskIndex
	err = s.withIndex(func(m *memIndex, d *diskIndex) error {
		if m != nil {
			l = m.loc(row)
			return nil
		}
		disk = d
		l, err = d.loc(row)
		return err
	})
	if err != nil || l.klen == 0 {
		return nil, nil, err
	}
	off, n := int64(l.off), int(l.klen)
	if payload {
		off, n = off+int64(l.klen), int(l.plen)
		if n == 0 {
			return nil, nil, nil
		}
	}
	b := make([]byte, n)
	if disk != nil {
		copy(b, disk.file[off:]) // d.loc checked the bounds
	} else if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, nil, fmt.Errorf("segment %s: read row %d's key at %d: %w", s.path, row, off, err)
	}
	if payload {
		return nil, b, nil
	}
	return b, nil, nil
}

// LookupKey returns the row holding key: the last row appended with it.
// On the active segment it is an in-memory hash table; on a sealed one
// it asks the bloom filter, then binary-searches the key table by the
// key's hash and compares the key bytes of each row with that hash.
//
// Any goroutine may call it. On the active segment, a lookup concurrent
// with AppendRecords sees the batch or not (the index is updated before
// the rows are published): LookupKeyBelow answers for a row count the
// caller holds. A damaged key index that cannot be rebuilt from the blobs
// finds nothing: IndexErr says why.
func (s *Segment) LookupKey(key []byte) (row uint64, ok bool) {
	return s.LookupKeyBelow(key, math.MaxUint64)
}

// LookupKeyBelow is LookupKey among rows [0, rows): the last of them
// appended with key. A reader whose snapshot shows rows rows of the
// active segment gets the key's row as of that snapshot, even while an
// append of the key is being published. (A sealed segment's rows never
// change; its tables hold only the last row of each key.)
func (s *Segment) LookupKeyBelow(key []byte, rows uint64) (row uint64, ok bool) {
	if !s.lay.keyed() || len(key) == 0 || len(key) > MaxKeyLen {
		return 0, false
	}
	s.withIndex(func(m *memIndex, d *diskIndex) error {
		row, ok = lookupIn(m, d, key, hashKey(key), rows)
		return nil
	})
	return row, ok
}

// HashKey returns the hash of key that LookupKeysBelow takes: a caller
// that looks a key up in many segments hashes it once.
func HashKey(key []byte) uint64 { return hashKey(key) }

// LookupKeysBelow is LookupKeyBelow for many keys, at the cost of one
// lookup each and one lock for all: it calls found(i, row) for each
// keys[i] held by a row below rows (the last such row), in order.
// hashes[i] is HashKey(keys[i]).
func (s *Segment) LookupKeysBelow(keys [][]byte, hashes []uint64, rows uint64, found func(i int, row uint64)) {
	if !s.lay.keyed() {
		return
	}
	s.withIndex(func(m *memIndex, d *diskIndex) error {
		lookupBatch(m, d, keys, hashes, rows, found)
		return nil
	})
}

// lookupBatch is LookupKeysBelow in the index withIndex gives. Each
// lookup first loads the slot (or bloom filter byte) of the key
// probeAhead on, so that the cache misses of several keys overlap rather
// than follow each other.
func lookupBatch(m *memIndex, d *diskIndex, keys [][]byte, hashes []uint64, rows uint64, found func(i int, row uint64)) {
	var touched uint64
	for i, key := range keys {
		if j := i + probeAhead; j < len(keys) {
			if m != nil {
				touched ^= m.touch(hashes[j])
			} else {
				touched ^= d.bloom.touch(hashes[j])
			}
		}
		if len(key) == 0 || len(key) > MaxKeyLen {
			continue
		}
		if row, ok := lookupIn(m, d, key, hashes[i], rows); ok {
			found(i, row)
		}
	}
	runtime.KeepAlive(touched)
}

// lookupIn returns the last row below rows holding key, whose hash is h,
// in the index withIndex gives.
func lookupIn(m *memIndex, d *diskIndex, key []byte, h, rows uint64) (uint64, bool) {
	if m != nil {
		return m.lookup(key, h, rows)
	}
	if row, ok := d.lookupHashed(key, h); ok && row < rows {
		return row, true
	}
	return 0, false
}

// withIndex calls f with the segment's key index (exactly one of m and d
// is non-nil), loading a sealed segment's tables on first use.
func (s *Segment) withIndex(f func(m *memIndex, d *diskIndex) error) error {
	s.kmu.RLock()
	if !s.loaded {
		s.kmu.RUnlock()
		s.kmu.Lock()
		if !s.loaded {
			s.loadIndex()
		}
		s.kmu.Unlock()
		s.kmu.RLock()
	}
	defer s.kmu.RUnlock()
	if s.indexErr != nil {
		return s.indexErr
	}
	return f(s.mem, s.disk)
}

// TablesErr reports why the sealed key tables are not used and the index
// was (or will be, on first use) rebuilt in memory from the blobs, or nil:
// damage wraps ErrCorrupt and names file and offset; a seal that could not
// write its tables (a full disk) leaves a zero trailer and an error that
// is not ErrCorrupt. The tables are derived data, so either costs memory
// and time, never keys. Damage to the tables themselves is known once a
// lookup or Key loaded the index.
func (s *Segment) TablesErr() error {
	s.kmu.RLock()
	defer s.kmu.RUnlock()
	return s.tablesErr
}

// IndexErr reports why the segment has no key index, or nil: the tables
// were bad and so were the blobs they are rebuilt from (ErrCorrupt), or a
// read failed. Lookups then find nothing and Key fails with this error.
func (s *Segment) IndexErr() error {
	s.kmu.RLock()
	defer s.kmu.RUnlock()
	return s.indexErr
}
