package segment

import (
	"math/bits"
	"runtime"
	"slices"
)

// memIndex is the key index of the active segment (or of a sealed one
// whose tables were rebuilt): where each row's key is and which row holds
// each key. It holds no pointers but its slices, so the garbage collector
// does not walk it, and no string per key: the keys are copied into one
// arena. An open-addressing table (linear probing, at most half full)
// has one slot per distinct key naming the newest row holding it; that
// row starts a chain through the older rows of the same key, which a
// lookup as of a row count walks. A slot is one word: the key hash's top
// bits as a tag, so that a probe compares key bytes only on a likely
// match, and 1 + the row. The table replaced a Go map from hash to row:
// it is half the memory per key and a Put's batch of lookups and inserts
// costs about one cache miss per key.
type memIndex struct {
	locs  []keyLoc // by row; rows past its end have no key
	koff  []uint64 // by row: where its key starts in keys
	prev  []uint64 // by row: 1 + the previous row holding its key, 0: none
	hash  []uint64 // by row: hashKey of its key (rows without one: 0)
	keys  []byte   // every keyed row's key, in row order
	slots []uint64 // tag | 1 + row; 0: empty. Length 0 or a power of two
	shift uint     // 64 - log2(len(slots)): a key's first slot is its hash >> shift
	n     int      // occupied slots: distinct keys
}

// A slot's low slotRowBits bits are 1 + its row (rows are below
// maxKeyedRows = 2^32), the others the same bits of the key's hash.
const (
	slotRowBits = 33
	slotRowMask = 1<<slotRowBits - 1
	slotTagMask = ^uint64(slotRowMask)
)

// add indexes the keyed rows of a batch whose blob, decoded as bl, is raw.
func (m *memIndex) add(rec Record, raw []byte, bl blob) {
	if !bl.keyed {
		return
	}
	if gap := rec.FirstRow - uint64(len(m.locs)); gap > 0 {
		m.locs = append(m.locs, make([]keyLoc, gap)...)
		m.koff = append(m.koff, make([]uint64, gap)...)
		m.prev = append(m.prev, make([]uint64, gap)...)
		m.hash = append(m.hash, make([]uint64, gap)...)
	}
	// Room for the whole batch at once: growing row by row copied the
	// index over and over.
	n := len(bl.rows)
	m.locs, m.koff = grow(m.locs, n), grow(m.koff, n)
	m.prev, m.hash = grow(m.prev, n), grow(m.hash, n)
	var kbytes int
	for _, r := range bl.rows {
		kbytes += int(r.klen)
	}
	m.keys = grow(m.keys, kbytes)
	m.reserve(m.n + n)
	first := len(m.prev)
	for _, r := range bl.rows {
		m.locs = append(m.locs, keyLoc{off: rec.BlobOff + r.off, klen: r.klen, plen: r.plen})
		m.koff = append(m.koff, uint64(len(m.keys)))
		var h uint64
		if r.klen > 0 {
			key := raw[r.off : r.off+uint64(r.klen)]
			m.keys = append(m.keys, key...)
			h = hashKey(key)
		}
		m.hash = append(m.hash, h)
	}
	// Then the table, in a second pass that knows the hashes ahead: each
	// insert loads the slot of the key probeAhead rows on, so that the
	// cache misses of several keys overlap rather than follow each other.
	var touched uint64
	for i, r := range bl.rows {
		if j := first + i + probeAhead; j < len(m.hash) {
			touched ^= m.touch(m.hash[j])
		}
		if r.klen == 0 { // a row without a key
			m.prev = append(m.prev, 0)
			continue
		}
		row := rec.FirstRow + uint64(i)
		h := m.hash[row]
		slot, found := m.find(m.key(row), h)
		var prev uint64
		if found {
			prev = m.slots[slot] & slotRowMask
		} else {
			m.n++
		}
		m.prev = append(m.prev, prev)
		m.slots[slot] = h&slotTagMask | (row + 1)
	}
	runtime.KeepAlive(touched)
}

// probeAhead is how many keys ahead a batch of inserts or lookups loads
// the slot (or bloom filter byte) it will need.
const probeAhead = 8

// grow returns s with room for n more elements, at least doubling its
// capacity when it must grow: append's growth of large slices by a
// quarter copied the index of a segment filled by batches of 10,000 rows
// every other batch.
func grow[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	return slices.Grow(s, max(n, cap(s)))
}

// reserve makes the table at most half full with keys distinct keys.
func (m *memIndex) reserve(keys int) {
	if 2*keys <= len(m.slots) {
		return
	}
	size := 1 << bits.Len(uint(max(2*keys, 16)-1))
	old := m.slots
	m.slots = make([]uint64, size)
	m.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	// A slot's tag holds the top bits of its hash, which place it: the
	// old table is read in order and the new one written nearly in order.
	fromTag := size <= 1<<(64-slotRowBits)
	for _, s := range old {
		if s == 0 {
			continue
		}
		h := s & slotTagMask
		if !fromTag {
			h = m.hash[s&slotRowMask-1]
		}
		i := h >> m.shift
		for m.slots[i] != 0 {
			i = (i + 1) & mask
		}
		m.slots[i] = s
	}
}

// find returns the slot of key, whose hash is h, and true; or the empty
// slot where it would go and false. The table has an empty slot.
func (m *memIndex) find(key []byte, h uint64) (int, bool) {
	mask := uint64(len(m.slots) - 1)
	tag := h & slotTagMask
	for i := h >> m.shift; ; i = (i + 1) & mask {
		s := m.slots[i]
		if s == 0 {
			return int(i), false
		}
		if s&slotTagMask == tag && string(m.key(s&slotRowMask-1)) == string(key) {
			return int(i), true
		}
	}
}

// touch loads the first slot a key of hash h probes, and returns it: see
// probeAhead.
func (m *memIndex) touch(h uint64) uint64 {
	if len(m.slots) == 0 {
		return 0
	}
	return m.slots[h>>m.shift]
}

// key returns the key of row (empty for a row without one).
func (m *memIndex) key(row uint64) []byte {
	return m.keys[m.koff[row] : m.koff[row]+uint64(m.locs[row].klen)]
}

// lookup returns the last row below rows holding key, whose hash is h.
func (m *memIndex) lookup(key []byte, h, rows uint64) (row uint64, ok bool) {
	if m.n == 0 {
		return 0, false
	}
	i, found := m.find(key, h)
	if !found {
		return 0, false
	}
	for r := m.slots[i] & slotRowMask; r != 0; r = m.prev[r-1] {
		if r-1 < rows {
			return r - 1, true
		}
	}
	return 0, false
}

// distinct calls f with each key's hash and the last row holding it, once
// per key (the key tables' entries), by ascending row. It reads the
// by-row slices in order: a row is the last holding its key unless a
// later row names it as its previous one.
func (m *memIndex) distinct(f func(h, row uint64)) {
	older := make([]uint64, (len(m.prev)+63)/64)
	for _, p := range m.prev {
		if p != 0 {
			older[(p-1)/64] |= 1 << ((p - 1) % 64)
		}
	}
	for row, l := range m.locs {
		if l.klen > 0 && older[row/64]&(1<<(row%64)) == 0 {
			f(m.hash[row], uint64(row))
		}
	}
}

// hasKeys reports whether any row has a key.
func (m *memIndex) hasKeys() bool { return m != nil && m.n > 0 }

func (m *memIndex) loc(row uint64) keyLoc {
	if row < uint64(len(m.locs)) {
		return m.locs[row]
	}
	return keyLoc{}
}
