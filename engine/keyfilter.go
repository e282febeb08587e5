package engine

import (
	"math/bits"
	"runtime"
	"slices"
)

// keyFilter is a store-wide filter of the keys of sealed segments: a
// blocked bloom filter over their key hashes (segment.HashKey), so that a
// key new to the store costs one probe rather than one bloom probe per
// sealed segment (a Put of new keys asked every segment's filter about
// every key). It is derived, in memory only, and built lazily by the first
// Put or DeleteKeys that needs it (keyFilterLocked), never at Open: Open
// must not read every key.
//
// A published keyFilter is immutable: a writer (under writeMu) that adds
// segments copies the blocks and publishes the copy in Engine.kf, so
// readers (GetRecord, SearchInKeys) load it without a lock. What it
// promises is one-sided: for a segment in covered, each of whose keys was
// added, a key whose hash the filter rejects is in none of the segment's
// rows. A segment it does not cover (the active one, one sealed since,
// one whose key index could not be read) is asked as before, so the
// filter never calls a key absent on behalf of a segment whose keys it did
// not see. Segments are matched by *segRef: a sealed segment's keys never
// change, and compaction writes new segments (new refs) rather than
// changing old ones.
type keyFilter struct {
	blocks []filterBlock
	// covered are the segments whose keys were all added.
	covered map[*segRef]struct{}
	// capacity is the keys the blocks were sized for (filterBitsPerKey
	// each); inserted the keys of the segments added since (KeyCount),
	// which counts again the keys a compaction copied (the bits they set are set already, so the false-positive
	// rate stays at or below the design rate while inserted <= capacity).
	capacity, inserted uint64
}

// filterBlock is one cache line: a key sets one bit in each word.
type filterBlock [8]uint64

const (
	// filterBitsPerKey at capacity; a rebuild sizes the filter for
	// twice the keys then held, so it holds 10 to 20 bits per key, a
	// false-positive rate of about 1% down to 0.05%.
	filterBitsPerKey = 10
	minFilterKeys    = 1 << 14
	// filterProbeAhead: see mayHoldList.
	filterProbeAhead = 8
)

// filterSalts pick a key's bit in each word of its block (the split block
// bloom filter of Parquet, with 64-bit words): one multiplication each of
// the hash's low half, whose top 6 bits are the bit.
var filterSalts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

func newKeyFilter(capacity uint64) *keyFilter {
	capacity = max(capacity, minFilterKeys)
	n := (capacity*filterBitsPerKey + 511) / 512
	return &keyFilter{blocks: make([]filterBlock, n), covered: map[*segRef]struct{}{}, capacity: capacity}
}

// block returns the block of h: h scaled to the number of blocks
// (Lemire's multiply-shift), which its high bits decide, while the words'
// bits come from its low half.
func (f *keyFilter) block(h uint64) *filterBlock {
	i, _ := bits.Mul64(h, uint64(len(f.blocks)))
	return &f.blocks[i]
}

func (f *keyFilter) add(h uint64) {
	b := f.block(h)
	lo := uint32(h)
	for i, s := range filterSalts {
		b[i] |= 1 << ((lo * s) >> 26)
	}
}

func (f *keyFilter) mayHold(h uint64) bool {
	b := f.block(h)
	lo := uint32(h)
	var miss uint64
	for i, s := range filterSalts {
		miss |= ^b[i] & (1 << ((lo * s) >> 26))
	}
	return miss == 0
}

// keyList is a list of keys to look up, with their hashes; idx[j] is the
// position of keys[j] in the caller's list (nil: j itself).
type keyList struct {
	idx    []int
	keys   [][]byte
	hashes []uint64
}

func (l *keyList) orig(j int) int {
	if l.idx == nil {
		return j
	}
	return l.idx[j]
}

// mayHoldList returns the keys of l whose hash the filter may hold. Each
// probe first loads the block of the key filterProbeAhead on, so that the
// cache misses of several keys overlap rather than follow each other.
func (f *keyFilter) mayHoldList(l keyList) keyList {
	var out keyList
	var touched uint64
	for j, h := range l.hashes {
		if k := j + filterProbeAhead; k < len(l.hashes) {
			touched ^= f.block(l.hashes[k])[0]
		}
		if f.mayHold(h) {
			out.idx = append(out.idx, l.orig(j))
			out.keys = append(out.keys, l.keys[j])
			out.hashes = append(out.hashes, h)
		}
	}
	runtime.KeepAlive(touched)
	return out
}

// covers reports whether every key of r was added.
func (f *keyFilter) covers(r *segRef) bool {
	_, ok := f.covered[r]
	return ok
}

// filterable reports whether a segment's keys can be in the filter: it
// holds keys and is sealed, so they no longer change.
func filterable(r *segRef) bool { return r.seg.Keyed() && r.seg.Sealed() }

// addSegment adds the keys of r, sealed, and marks it covered unless its
// key index could not be read (the segment's lookups report that error;
// KeyHashes then added nothing).
func (f *keyFilter) addSegment(r *segRef) {
	if r.seg.KeyHashes(f.add) == nil {
		f.inserted += r.seg.KeyCount()
		f.covered[r] = struct{}{}
	}
}

// keyFilterLocked returns the filter for lookups in v, the current
// version, first adding the sealed keyed segments of v it does not cover,
// or nil when v has none. It rebuilds the filter from v's segments when
// the keys added would pass its capacity: so it grows with the store, and
// sheds the keys of segments a compaction retired. Callers hold writeMu,
// which serialises the filter's writers; e.kfSet is the segment set last
// seen, so that a Put into an unchanged set costs nothing here.
func (e *Engine) keyFilterLocked(v *version) *keyFilter {
	f := e.kf.Load()
	if v.set == e.kfSet {
		return f
	}
	var live, todo uint64
	var add []*segRef
	for _, r := range v.set.segs {
		if !filterable(r) {
			continue
		}
		n := r.seg.KeyCount()
		live += n
		if f == nil || !f.covers(r) {
			add = append(add, r)
			todo += n
		}
	}
	e.kfSet = v.set
	if f == nil && live == 0 {
		return nil // no sealed segment holds a key: nothing to rule out
	}
	var next *keyFilter
	if f == nil || f.inserted+todo > f.capacity {
		next = newKeyFilter(2 * live)
		add = add[:0]
		for _, r := range v.set.segs {
			if filterable(r) {
				add = append(add, r)
			}
		}
	} else {
		// Readers may be probing f: the next filter shares its blocks
		// only when it adds nothing to them. Its covered set drops the
		// segments v no longer lists.
		next = &keyFilter{blocks: f.blocks, covered: make(map[*segRef]struct{}, len(f.covered)+len(add)), capacity: f.capacity, inserted: f.inserted}
		if len(add) > 0 {
			next.blocks = slices.Clone(f.blocks)
		}
		for _, r := range v.set.segs {
			if f.covers(r) {
				next.covered[r] = struct{}{}
			}
		}
	}
	for _, r := range add {
		next.addSegment(r)
	}
	e.kf.Store(next)
	return next
}
