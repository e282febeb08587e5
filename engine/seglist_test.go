package engine

import (
	"math/rand"
	"testing"
)

// TestSegListPersistent checks the list against plain slices: every
// version built by with stays as it was, whatever is done to later ones.
func TestSegListPersistent(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 31, 32, 33, 1024, 1025, 40000} {
		want := make([]segView, n)
		for i := range want {
			want[i].rows = uint64(i)
		}
		l := newSegList(want)
		type snap struct {
			l    segList
			want []segView
		}
		snaps := []snap{{l, append([]segView(nil), want...)}}
		for k := 0; k < 50 && n > 0; k++ {
			i := rng.Intn(n)
			want[i].rows = uint64(1e9 + k)
			l = l.with(i, want[i])
			snaps = append(snaps, snap{l, append([]segView(nil), want...)})
		}
		for _, s := range snaps {
			if s.l.len() != n {
				t.Fatalf("n=%d: len %d", n, s.l.len())
			}
			got := s.l.appendTo(nil)
			for i := range s.want {
				if s.l.at(i).rows != s.want[i].rows || got[i].rows != s.want[i].rows {
					t.Fatalf("n=%d: view %d: at %d, appendTo %d, want %d", n, i, s.l.at(i).rows, got[i].rows, s.want[i].rows)
				}
			}
			j := 0
			for i, v := range s.l.all() {
				if i != j || v.rows != s.want[i].rows {
					t.Fatalf("n=%d: all yielded %d, %d at %d", n, i, v.rows, j)
				}
				j++
			}
			if j != n {
				t.Fatalf("n=%d: all yielded %d views", n, j)
			}
		}
	}
}
