package engine

import (
	"errors"
	"math/rand"
	"slices"
	"testing"
)

func TestSortIDs(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	never := func() error { return nil }
	for _, n := range []int{0, 1, 5, radixMin - 1, radixMin, 100000, 300000} {
		for _, limit := range []uint64{0, 1, 1000, 1 << 20, 1 << 40, 1<<64 - 1} {
			ids := make([]uint64, n)
			for i := range ids {
				switch rng.Intn(3) {
				case 0:
					ids[i] = rng.Uint64()
				case 1:
					ids[i] = uint64(rng.Intn(2000))
				default:
					ids[i] = rng.Uint64()
					if limit < 1<<64-1 {
						ids[i] %= limit + 1
					}
				}
			}
			var want []uint64
			for _, id := range ids {
				if id < limit {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)
			got, err := sortIDs(ids, limit, never)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("n=%d limit=%d: sortIDs differs from a sort (err %v, %d vs %d IDs)", n, limit, err, len(got), len(want))
			}
		}
	}
}

// TestSortIDsStops checks that a stop that fails ends the sort within one
// block of IDs, in the filtering pass and in every radix pass.
func TestSortIDsStops(t *testing.T) {
	ids := make([]uint64, 10*sortBlock)
	for i := range ids {
		ids[i] = uint64(len(ids) - i)
	}
	errStop := errors.New("stop")
	for failAt := 1; failAt < 40; failAt++ {
		calls := 0
		_, err := sortIDs(ids, 1<<40, func() error {
			calls++
			if calls >= failAt {
				return errStop
			}
			return nil
		})
		if err != errStop || calls != failAt {
			t.Fatalf("stop failing at call %d: err %v after %d calls", failAt, err, calls)
		}
	}
}
