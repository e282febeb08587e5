package segment

import (
	"cmp"
	"math/bits"
	"slices"
)

// keyEntry is one entry of the key table before encoding: a key's hash
// and the last row holding it.
type keyEntry struct{ h, row uint64 }

func compareKeyEntries(a, b keyEntry) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return cmp.Compare(a.row, b.row)
}

// sortKeyEntries sorts entries, which are in order by row, by hash then
// row. A seal sorts one entry
// per distinct key (about 250,000 in a segment of 64 MiB of small
// vectors), where a comparison sort cost most of the seal. The hashes are
// uniform, so the entries are distributed by the top bits of their hash
// into buckets of about eight (one counting pass, one scattering pass),
// and each bucket is then sorted on its own. Buckets are only large when
// hashes are not uniform (tests force collisions); they are still sorted,
// only more slowly.
func sortKeyEntries(entries []keyEntry) {
	n := len(entries)
	if n < 256 {
		slices.SortFunc(entries, compareKeyEntries)
		return
	}
	b := bits.Len(uint(n)) - 3 // 2^b buckets: n/8 to n/4
	shift := 64 - b
	start := make([]uint32, 1<<b+1)
	for _, e := range entries {
		start[e.h>>shift+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	next := slices.Clone(start[:1<<b])
	out := make([]keyEntry, n)
	for _, e := range entries {
		k := e.h >> shift
		out[next[k]] = e
		next[k]++
	}
	for k := range 1 << b {
		bucket := out[start[k]:start[k+1]]
		if len(bucket) > 16 {
			slices.SortFunc(bucket, compareKeyEntries)
			continue
		}
		// Insertion sort by hash alone: it is stable, and so was the
		// scattering, so equal hashes keep their order by row.
		for i := 1; i < len(bucket); i++ {
			for j := i; j > 0 && bucket[j-1].h > bucket[j].h; j-- {
				bucket[j-1], bucket[j] = bucket[j], bucket[j-1]
			}
		}
	}
	copy(entries, out)
}
