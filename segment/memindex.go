package segment

import (
	"math/bits"
	"runtime"
)

// memIndex is the key index of the active segment (or of a sealed one
// whose tables were rebuilt): where each row's key is and which row holds
// each key. It holds no pointers but those to its chunks, so the garbage
// collector does not walk it, and no string per key: the keys are copied
// into the chunks of an arena. Rows and keys live in fixed-size chunks
// rather than in slices grown by doubling, which copied the index of a
// filling segment again and again and made the collector run more often.
//
// An open-addressing table (linear probing, at most half full) has one
// slot per distinct key naming the newest row holding it; that row starts
// a chain through the older rows of the same key, which a lookup as of a
// row count walks. A slot is one word: the key hash's top bits as a tag,
// so that a probe compares key bytes only on a likely match, and 1 + the
// row. The table replaced a Go map from hash to row: it is half the
// memory per key and a Put's batch of lookups and inserts costs about one
// cache miss per key.
type memIndex struct {
	chunks []*rowChunk // rows [i*chunkRows, (i+1)*chunkRows)
	rows   uint64      // rows indexed; rows past it have no key
	arena  [][]byte    // the keys, in row order, in chunks of keyChunk bytes
	slots  []uint64    // tag | 1 + row; 0: empty. Length 0 or a power of two
	shift  uint        // 64 - log2(len(slots)): a key's first slot is its hash >> shift
	n      int         // occupied slots: distinct keys
	// expect is the most keys the segment can hold (its capacity in
	// rows; 0: unknown), which bounds how far ahead reserve sizes the
	// table for a stream of large batches.
	expect uint64
}

const (
	chunkRows = 1 << 10
	keyChunk  = 1 << 16 // bytes of an arena chunk; a key is at most MaxKeyLen
)

// rowChunk holds chunkRows rows of a memIndex.
type rowChunk struct {
	locs [chunkRows]keyLoc
	koff [chunkRows]uint64 // where the row's key starts: arena chunk << 16 | offset
	prev [chunkRows]uint64 // 1 + the previous row holding its key, 0: none
	hash [chunkRows]uint64 // hashKey of its key (rows without one: 0)
}

// chunk returns the chunk of row, below m.rows, and row's place in it.
func (m *memIndex) chunk(row uint64) (*rowChunk, uint64) {
	return m.chunks[row/chunkRows], row % chunkRows
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
	n := uint64(len(bl.rows))
	// Rows before FirstRow not indexed yet (unkeyed batches) have no key:
	// their chunks are zero.
	for uint64(len(m.chunks))*chunkRows < rec.FirstRow+n {
		m.chunks = append(m.chunks, new(rowChunk))
	}
	m.rows = rec.FirstRow + n
	m.reserve(m.n+len(bl.rows), len(bl.rows))
	for i, r := range bl.rows {
		c, j := m.chunk(rec.FirstRow + uint64(i))
		c.locs[j] = keyLoc{off: rec.BlobOff + r.off, klen: r.klen, plen: r.plen}
		if r.klen > 0 {
			key := raw[r.off : r.off+uint64(r.klen)]
			c.koff[j] = m.putKey(key)
			c.hash[j] = hashKey(key)
		}
	}
	// Then the table, in a second pass that knows the hashes ahead: each
	// insert loads the slot of the key probeAhead rows on, so that the
	// cache misses of several keys overlap rather than follow each other.
	var touched uint64
	for i, r := range bl.rows {
		if ahead := uint64(i + probeAhead); ahead < n {
			c, j := m.chunk(rec.FirstRow + ahead)
			touched ^= m.touch(c.hash[j])
		}
		if r.klen == 0 { // a row without a key
			continue
		}
		row := rec.FirstRow + uint64(i)
		c, j := m.chunk(row)
		h := c.hash[j]
		slot, found := m.find(m.key(row), h)
		if found {
			c.prev[j] = m.slots[slot] & slotRowMask
		} else {
			m.n++
		}
		m.slots[slot] = h&slotTagMask | (row + 1)
	}
	runtime.KeepAlive(touched)
}

// putKey copies key into the arena and returns where it starts.
func (m *memIndex) putKey(key []byte) uint64 {
	last := len(m.arena) - 1
	if last < 0 || len(m.arena[last])+len(key) > keyChunk {
		m.arena = append(m.arena, make([]byte, 0, keyChunk))
		last++
	}
	at := uint64(last)<<16 | uint64(len(m.arena[last]))
	m.arena[last] = append(m.arena[last], key...)
	return at
}

// aheadBatches: see reserve.
const aheadBatches = 16

// probeAhead is how many keys ahead a batch of inserts or lookups loads
// the slot (or bloom filter byte) it will need.
const probeAhead = 8

// reserve makes the table at most half full with keys distinct keys,
// batch of them arriving now. When it must grow, it grows for
// aheadBatches more batches of that size too (within expect): a segment
// filled by batches of 10,000 new keys rehashed its table again and again
// (about a tenth of a Put's time), while one of small batches keeps a
// small table.
func (m *memIndex) reserve(keys, batch int) {
	if 2*keys <= len(m.slots) {
		return
	}
	want := keys
	if ahead := keys + aheadBatches*batch; m.expect > uint64(keys) {
		want = int(min(uint64(ahead), m.expect))
	}
	size := 1 << bits.Len(uint(max(2*want, 16)-1))
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
			c, j := m.chunk(s&slotRowMask - 1)
			h = c.hash[j]
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

// key returns the key of row, below m.rows (empty for a row without one).
func (m *memIndex) key(row uint64) []byte {
	c, j := m.chunk(row)
	at, n := c.koff[j], uint64(c.locs[j].klen)
	if n == 0 {
		return nil
	}
	off := at & (1<<16 - 1)
	return m.arena[at>>16][off : off+n]
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
	for r := m.slots[i] & slotRowMask; r != 0; {
		if r-1 < rows {
			return r - 1, true
		}
		c, j := m.chunk(r - 1)
		r = c.prev[j]
	}
	return 0, false
}

// distinct calls f with each key's hash and the last row holding it, once
// per key (the key tables' entries), by ascending row. It reads the rows
// in order: a row is the last holding its key unless a later row names
// it as its previous one.
func (m *memIndex) distinct(f func(h, row uint64)) {
	older := make([]uint64, (m.rows+63)/64)
	for row := range m.rows {
		if c, j := m.chunk(row); c.prev[j] != 0 {
			p := c.prev[j] - 1
			older[p/64] |= 1 << (p % 64)
		}
	}
	for row := range m.rows {
		if c, j := m.chunk(row); c.locs[j].klen > 0 && older[row/64]&(1<<(row%64)) == 0 {
			f(c.hash[j], row)
		}
	}
}

// hasKeys reports whether any row has a key.
func (m *memIndex) hasKeys() bool { return m != nil && m.n > 0 }

func (m *memIndex) loc(row uint64) keyLoc {
	if row < m.rows {
		c, j := m.chunk(row)
		return c.locs[j]
	}
	return keyLoc{}
}
