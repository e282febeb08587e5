package segment

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The in-memory index against a model, through many batches (so that its
// table grows many times, and rows and keys fill many chunks), keys of
// many lengths given again within a batch and across batches, rows
// without keys, and hashes forced to collide in part: every
// lookup as of every row count answers the last row below it holding the
// key, and distinct gives each key once with its last row.
func TestMemIndexModel(t *testing.T) {
	keyOf := func(i int) string { return fmt.Sprintf("k%d-", i) + strings.Repeat("x", i*37%(MaxKeyLen-8)) }
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprintf("collide=%v", collide), func(t *testing.T) {
			if collide {
				old := hashKey
				// Half the keys share one hash, so one slot's tag and
				// probe sequence; the others keep theirs.
				hashKey = func(b []byte) uint64 {
					if b[len(b)-1]%2 == 0 {
						return 42
					}
					return old(b)
				}
				defer func() { hashKey = old }()
			}
			rng := rand.New(rand.NewPCG(7, 8))
			m := &memIndex{}
			var model [][]byte // key by row, nil: none
			var off uint64
			for range 40 {
				n := 1 + rng.IntN(60)
				keys := make([][]byte, n)
				for i := range keys {
					if rng.IntN(8) > 0 {
						keys[i] = []byte(keyOf(rng.IntN(300)))
					}
				}
				raw := encodeBlob(keys, nil, nil)
				bl, err := decodeBlob(raw, uint32(n))
				if err != nil {
					t.Fatal(err)
				}
				first := uint64(len(model))
				if rng.IntN(4) == 0 { // an unkeyed batch before: a gap
					first += uint64(1 + rng.IntN(5))
					for uint64(len(model)) < first {
						model = append(model, nil)
					}
				}
				m.add(Record{Rows: uint32(n), FirstRow: first, BlobOff: off, BlobLen: uint64(len(raw))}, raw, bl)
				off += uint64(len(raw))
				model = append(model, keys...)
			}
			last := func(k string, rows uint64) (uint64, bool) {
				for r := min(rows, uint64(len(model))); r > 0; r-- {
					if string(model[r-1]) == k {
						return r - 1, true
					}
				}
				return 0, false
			}
			for rows := uint64(0); rows <= uint64(len(model)); rows += 1 + uint64(rng.IntN(7)) {
				for i := range 310 {
					k := keyOf(i)
					want, wok := last(k, rows)
					got, gok := m.lookup([]byte(k), hashKey([]byte(k)), rows)
					if got != want || gok != wok {
						t.Fatalf("lookup(%s) below %d = %d, %v, want %d, %v", k, rows, got, gok, want, wok)
					}
				}
			}
			seen := map[string]bool{}
			m.distinct(func(h, row uint64) {
				k := string(m.key(row))
				if seen[k] {
					t.Fatalf("distinct gave %s twice", k)
				}
				seen[k] = true
				if want, _ := last(k, uint64(len(model))); want != row || h != hashKey([]byte(k)) {
					t.Fatalf("distinct gave %s at row %d hash %#x, want row %d hash %#x", k, row, h, want, hashKey([]byte(k)))
				}
			})
			if len(seen) != m.n {
				t.Fatalf("distinct gave %d keys, index counts %d", len(seen), m.n)
			}
		})
	}
}

// The bucket sort orders entries given by row as the comparison sort it
// replaced: by hash, then row, with hashes that share bytes, collide, or
// are few.
func TestSortKeyEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 255, 256, 1000, 5000, 70000} {
		for _, hashes := range []func() uint64{
			rng.Uint64,
			func() uint64 { return rng.Uint64() & 0xff00ff00 },
			func() uint64 { return uint64(rng.IntN(3)) << 60 },
			func() uint64 { return 7 },
		} {
			in := make([]keyEntry, n)
			for i := range in {
				in[i] = keyEntry{h: hashes(), row: uint64(rng.IntN(1 << 20))}
			}
			// As distinct gives them: by row.
			slices.SortFunc(in, func(a, b keyEntry) int { return cmp.Compare(a.row, b.row) })
			want := slices.Clone(in)
			slices.SortFunc(want, func(a, b keyEntry) int {
				if c := cmp.Compare(a.h, b.h); c != 0 {
					return c
				}
				return cmp.Compare(a.row, b.row)
			})
			sortKeyEntries(in)
			if !slices.Equal(in, want) {
				t.Fatalf("%d entries: radix order differs from the comparison sort's", n)
			}
		}
	}
}

// reserve grows the table ahead of a stream of large batches, within the
// segment's capacity, and keeps it small for small batches; either way it
// stays at most half full.
func TestMemIndexReserveAhead(t *testing.T) {
	for _, c := range []struct {
		expect      uint64
		keys, batch int
		min, max    int // slots
	}{
		{0, 10_000, 10_000, 2 * 10_000, 4 * 10_000},          // capacity unknown: as needed
		{200_000, 10_000, 10_000, 2 * 170_000, 4 * 170_000},  // 16 batches ahead
		{100_000, 10_000, 10_000, 2 * 100_000, 4 * 100_000},  // no further than the capacity
		{200_000, 1, 1, 16, 64},                              // a small batch, a small table
		{200_000, 250_000, 10_000, 2 * 250_000, 4 * 250_000}, // past a wrong capacity: still half full
	} {
		m := &memIndex{expect: c.expect}
		m.reserve(c.keys, c.batch)
		if n := len(m.slots); n < c.min || n > c.max {
			t.Errorf("expect %d, reserve(%d, %d): %d slots, want %d to %d", c.expect, c.keys, c.batch, n, c.min, c.max)
		}
	}
}
