package memvec

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"testing"
)

// TestRange checks that Range yields every live vector bit for bit, by
// ascending ID, across segments, deletes, a compaction and a reopen.
func TestRange(t *testing.T) {
	db, dir := openTest(t, 8)
	rng := rand.New(rand.NewSource(1))
	o := newOracle(8)
	add, _ := modelOps(t, db, o, rng)
	for b := 0; b < 5; b++ {
		add(100 + b)
	}
	var del []uint64
	for id := uint64(0); id < o.next; id += 7 {
		del = append(del, id)
	}
	if _, err := db.Delete(del); err != nil {
		t.Fatal(err)
	}
	o.delete(del)

	check := func(db *DB, o *oracle) {
		t.Helper()
		var got []uint64
		err := db.Range(context.Background(), func(id uint64, vec []float32) error {
			want, ok := o.vecs[id]
			if !ok {
				t.Fatalf("Range yielded id %d, which is not live", id)
			}
			if !slices.Equal(vec, want) {
				t.Fatalf("id %d: Range vector differs from the one added", id)
			}
			got = append(got, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(o.vecs) {
			t.Fatalf("Range yielded %d vectors, want %d", len(got), len(o.vecs))
		}
		if !slices.IsSorted(got) {
			t.Fatal("Range is not in ascending ID order")
		}
	}
	check(db, o)

	m, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	moved := newOracle(8)
	for id, v := range o.vecs {
		if n, ok := m.Lookup(id); ok {
			moved.vecs[n] = v
		} else {
			moved.vecs[id] = v
		}
	}
	check(db, moved)
	db = reopen(t, db, dir)
	check(db, moved)
}

func TestRangeStopsEarly(t *testing.T) {
	db, _ := openTest(t, 2)
	if _, err := db.Add([][]float32{{1, 1}, {1, 2}, {1, 3}}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := db.Range(context.Background(), func(uint64, []float32) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("Range = %v after %d calls, want fn's error after 1", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err := db.Range(ctx, func(uint64, []float32) error { calls++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Range = %v after %d calls, want context.Canceled after 1", err, calls)
	}
	if err := db.Range(ctx, func(uint64, []float32) error { t.Fatal("called"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Range with a done ctx = %v", err)
	}

	// fn may use the DB; closing it stops Range with ErrClosed.
	calls = 0
	err = db.Range(context.Background(), func(id uint64, vec []float32) error {
		calls++
		if _, err := db.Get(id); err != nil {
			return err
		}
		return db.Close()
	})
	if !errors.Is(err, ErrClosed) || calls != 1 {
		t.Fatalf("Range = %v after %d calls, want ErrClosed after 1", err, calls)
	}
	if err := db.Range(context.Background(), func(uint64, []float32) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Range on a closed DB = %v", err)
	}
}

func TestSegmentInfo(t *testing.T) {
	db, dir := openTest(t, 8)
	rng := rand.New(rand.NewSource(2))
	vecs := make([][]float32, 700)
	for i := range vecs {
		vecs[i] = randVec(rng, 8)
	}
	if _, err := db.Add(vecs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete([]uint64{3, 4, 699}); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) []SegmentInfo {
		t.Helper()
		segs, err := db.SegmentInfo()
		if err != nil {
			t.Fatal(err)
		}
		st := db.Stats()
		if len(segs) != st.Segments {
			t.Fatalf("%d segments, Stats says %d", len(segs), st.Segments)
		}
		var rows, deleted uint64
		active := 0
		for i, s := range segs {
			rows += s.Rows
			deleted += s.Deleted
			if !s.Sealed {
				active++
			}
			if i > 0 && s.Number <= segs[i-1].Number {
				t.Fatalf("not by number: %+v", segs)
			}
			if s.Bytes <= 0 || s.Rows > s.Capacity || (s.Rows > 0 && (s.Runs < 1 || s.LastID-s.FirstID+1 < s.Rows)) {
				t.Fatalf("bad segment %+v", s)
			}
		}
		if rows != st.Total || deleted != st.Deleted || active > 1 {
			t.Fatalf("segments hold %d rows, %d deleted, %d active; Stats %+v", rows, deleted, active, st)
		}
		return segs
	}
	segs := check(db)
	if len(segs) < 2 || segs[0].FirstID != 0 || segs[0].Deleted != 2 {
		t.Fatalf("segments %+v", segs)
	}
	db = reopen(t, db, dir)
	check(db)
	if _, err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(db)
	db.Close()
	if _, err := db.SegmentInfo(); !errors.Is(err, ErrClosed) {
		t.Fatalf("SegmentInfo on a closed DB = %v", err)
	}
}
