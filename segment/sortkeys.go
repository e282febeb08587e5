package segment

import (
	"cmp"
	"slices"
)

// keyEntry is one entry of the key table before encoding: a key's hash
// and the last row holding it.
type keyEntry struct{ h, row uint64 }

// sortKeyEntries sorts entries by hash, then row. A seal sorts one entry
// per distinct key (about 250,000 in a segment of 64 MiB of small
// vectors): a least-significant-digit radix sort by hash, a byte per pass,
// skipping the passes whose byte is the same in every entry, costs a few
// linear passes where a comparison sort cost most of the seal. Entries
// with equal hashes (distinct keys that collide) are then put in row
// order; they are rare, but tests force them.
func sortKeyEntries(entries []keyEntry) {
	byHashRow := func(a, b keyEntry) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	}
	if len(entries) < 256 {
		slices.SortFunc(entries, byHashRow)
		return
	}
	var counts [8][256]int
	for _, e := range entries {
		for d := range 8 {
			counts[d][byte(e.h>>(8*d))]++
		}
	}
	src, dst := entries, make([]keyEntry, len(entries))
	for d := range 8 {
		c := &counts[d]
		if c[byte(src[0].h>>(8*d))] == len(src) {
			continue // every entry has this byte: the pass would not move one
		}
		at := 0
		for b := range c {
			at, c[b] = at+c[b], at
		}
		for _, e := range src {
			b := byte(e.h >> (8 * d))
			dst[c[b]] = e
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &entries[0] {
		copy(entries, src)
	}
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].h == entries[i].h {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(entries[i:j], byHashRow)
		}
		i = j
	}
}
