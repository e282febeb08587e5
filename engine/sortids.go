package engine

import (
	"math/bits"
	"slices"
)

// sortIDs returns the distinct IDs of ids below limit, ascending. It calls
// stop before starting and then every sortBlock IDs of each pass, and
// returns its error, so that a cancelled SearchIn over millions of IDs
// returns within one block rather than after the whole sort.
//
// Large sets are sorted by LSD radix (radixBits per pass over the
// bits.Len64(limit-1) bits an ID below limit can have: 3 passes for IDs
// below 2^33), which also makes the sort O(len(ids)) where a comparison
// sort of 5M IDs took about 250 ms.
func sortIDs(ids []uint64, limit uint64, stop func() error) ([]uint64, error) {
	if err := stop(); err != nil {
		return nil, err
	}
	a := make([]uint64, 0, len(ids))
	for from := 0; from < len(ids); from += sortBlock {
		if from > 0 {
			if err := stop(); err != nil {
				return nil, err
			}
		}
		for _, id := range ids[from:min(from+sortBlock, len(ids))] {
			if id < limit {
				a = append(a, id)
			}
		}
	}
	if len(a) < radixMin {
		slices.Sort(a)
		return slices.Compact(a), nil
	}
	b := make([]uint64, len(a))
	width := bits.Len64(limit - 1)
	for shift := 0; shift < width; shift += radixBits {
		var at [1 << radixBits]int
		for from := 0; from < len(a); from += sortBlock {
			if err := stop(); err != nil {
				return nil, err
			}
			for _, x := range a[from:min(from+sortBlock, len(a))] {
				at[(x>>shift)&radixMask]++
			}
		}
		sum := 0
		for d, c := range at {
			at[d] = sum
			sum += c
		}
		for from := 0; from < len(a); from += sortBlock {
			if err := stop(); err != nil {
				return nil, err
			}
			for _, x := range a[from:min(from+sortBlock, len(a))] {
				d := (x >> shift) & radixMask
				b[at[d]] = x
				at[d]++
			}
		}
		a, b = b, a
	}
	return slices.Compact(a), nil
}

const (
	sortBlock = 1 << 16 // IDs between two calls of stop
	radixMin  = 1 << 12 // below this, a comparison sort is as fast
	radixBits = 11      // 2,048 counters: 16 KiB, in L1
	radixMask = 1<<radixBits - 1
)
