package filenames

import (
	"math"
	"testing"
)

// TestTable: every kind has exactly one spelling, and no two kinds can
// produce the same name (a forgotten row would make Make return "").
func TestTable(t *testing.T) {
	seen := map[string]Type{}
	for ty := Type(1); ty < numTypes; ty++ {
		s := table[ty]
		if (s.fixed == "") == (s.suffix == "") {
			t.Fatalf("%d: want exactly one of fixed and suffix, got %+v", ty, s)
		}
		key := s.fixed + s.suffix
		if prev, dup := seen[key]; dup {
			t.Fatalf("%v and %v are spelled alike", prev, ty)
		}
		seen[key] = ty
	}
}

func TestMakeParse(t *testing.T) {
	for ty := Type(1); ty < numTypes; ty++ {
		for _, n := range []uint64{0, 1, 42, 999999, 1000000, math.MaxUint64} {
			name := Make(ty, n)
			want := n
			if !ty.Numbered() {
				want = 0
			}
			got, gn, ok := Parse(name)
			if !ok || got != ty || gn != want {
				t.Errorf("Parse(%q) = %v, %d, %v; want %v, %d", name, got, gn, ok, ty, want)
			}
		}
	}
	for name, want := range map[string]string{
		"000007.seg": "000007.seg", "000042.tombs": "000042.tombs", "123456.idmap": "123456.idmap",
		"1234567.seg": "1234567.seg", "MANIFEST": "MANIFEST", "MANIFEST.tmp": "MANIFEST.tmp", "LOCK": "LOCK", "wal": "wal",
	} {
		ty, n, ok := Parse(name)
		if !ok || Make(ty, n) != want {
			t.Errorf("Parse(%q) = %v, %d, %v", name, ty, n, ok)
		}
	}
	// Only the exact forms Make writes.
	for _, name := range []string{
		"1.seg", "0000001.seg", "+00001.seg", "-00001.seg", "00000x.seg", ".seg", "000001.SEG",
		"000001.seg.tmp", "manifest", "MANIFEST.TMP", "lock", "WAL", "18446744073709551616.seg", "notes.txt", "",
	} {
		if ty, n, ok := Parse(name); ok {
			t.Errorf("Parse(%q) = %v, %d, true; want not a store file", name, ty, n)
		}
	}
}

func TestMakeUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Make(0, 0) did not panic")
		}
	}()
	Make(0, 0)
}
