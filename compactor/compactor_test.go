package compactor

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

func TestPickAuto(t *testing.T) {
	const cap = 100
	cases := []struct {
		name string
		segs []SegmentInfo
		want []uint64
	}{
		{"none", nil, nil},
		{"below ratio", []SegmentInfo{{Number: 1, Rows: 100, Deleted: 19, Sealed: true}}, nil},
		{"at ratio", []SegmentInfo{{Number: 1, Rows: 100, Deleted: 20, Sealed: true}}, []uint64{1}},
		{"active never", []SegmentInfo{{Number: 1, Rows: 100, Deleted: 90}}, nil},
		{"three small are not enough", []SegmentInfo{
			{Number: 1, Rows: 10, Sealed: true}, {Number: 2, Rows: 10, Sealed: true}, {Number: 3, Rows: 10, Sealed: true},
		}, nil},
		{"four small merge", []SegmentInfo{
			{Number: 1, Rows: 10, Sealed: true}, {Number: 2, Rows: 10, Sealed: true},
			{Number: 3, Rows: 100, Sealed: true}, {Number: 4, Rows: 10, Sealed: true}, {Number: 5, Rows: 20, Sealed: true},
		}, []uint64{1, 2, 4, 5}},
		{"garbage and small", []SegmentInfo{
			{Number: 1, Rows: 50, Deleted: 40, Sealed: true},
			{Number: 2, Rows: 5, Sealed: true}, {Number: 3, Rows: 5, Sealed: true}, {Number: 4, Rows: 5, Sealed: true}, {Number: 6, Rows: 5, Sealed: true},
		}, []uint64{1, 2, 3, 4, 6}},
	}
	for _, c := range cases {
		if got := pickAuto(c.segs, DefaultGarbageRatio, cap); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: pickAuto = %v, want %v", c.name, got, c.want)
		}
	}
	manual := []SegmentInfo{{Number: 1, Rows: 10, Deleted: 1}, {Number: 2, Rows: 10, Sealed: true}, {Number: 3, Rows: 10, Deleted: 10, Sealed: true}}
	if got := pickManual(manual); !reflect.DeepEqual(got, []uint64{1, 3}) {
		t.Errorf("pickManual = %v", got)
	}
}

// source builds a sealed segment whose rows hold the given runs, with row
// values equal to their IDs.
func source(t *testing.T, dir string, n uint64, runs []segment.Run, dead ...uint64) Source {
	t.Helper()
	var rows uint64
	for _, r := range runs {
		rows += r.Count
	}
	seg, err := segment.Create(nil, dir, n, 2, rows, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		vecs := make([][]float32, r.Count)
		inv := make([]float32, r.Count)
		for i := range vecs {
			vecs[i] = []float32{float32(r.FirstID + uint64(i)), 1}
			inv[i] = 0.5
		}
		if err := seg.Append(r.FirstID, vecs, inv, false); err != nil {
			t.Fatal(err)
		}
	}
	tomb := bitset.New(rows)
	for _, id := range dead {
		for _, r := range runs {
			if id >= r.FirstID && id < r.FirstID+r.Count {
				tomb.Add(r.FirstRow + id - r.FirstID)
			}
		}
	}
	t.Cleanup(func() { seg.Close() })
	return Source{Seg: seg, Rows: rows, Runs: seg.Runs(), Tomb: tomb, Verify: func() error { return nil }}
}

func TestCopyInIDOrderAcrossInterleavedSources(t *testing.T) {
	dir := t.TempDir()
	// Segment 1 holds IDs 0-4 and 20-24; segment 2 holds 10-14.
	a := source(t, dir, 1, []segment.Run{{FirstID: 0, FirstRow: 0, Count: 5}, {FirstID: 20, FirstRow: 5, Count: 5}}, 2, 21)
	b := source(t, dir, 2, []segment.Run{{FirstID: 10, FirstRow: 0, Count: 5}}, 14)
	job := &Job{Ctx: context.Background(), Dir: dir, Dim: 2, SegCap: 4, Sources: []Source{a, b},
		FirstID: 100, Live: 12, Segments: []uint64{7, 8, 9}}
	out, err := Copy(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Remove()
	want := []manifest.IDRun{
		{Old: 0, New: 100, Len: 2}, {Old: 3, New: 102, Len: 2},
		{Old: 10, New: 104, Len: 4},
		{Old: 20, New: 108, Len: 1}, {Old: 22, New: 109, Len: 3},
	}
	if !reflect.DeepEqual(out.Runs, want) {
		t.Fatalf("runs %+v\nwant %+v", out.Runs, want)
	}
	if len(out.Segments) != 3 || out.Segments[2].Capacity() != 4 || len(out.Seals) != 3 {
		t.Fatalf("%d output segments, last capacity %d, %d seals", len(out.Segments), out.Segments[2].Capacity(), len(out.Seals))
	}
	// Row contents follow the map: the new row holds its old ID.
	next := uint64(100)
	for i, seg := range out.Segments {
		for r := uint64(0); r < seg.Rows(); r++ {
			old := seg.Vectors(r, r+1)[0]
			newID := next + r
			var want uint64
			for _, run := range out.Runs {
				if newID >= run.New && newID < run.New+run.Len {
					want = run.Old + newID - run.New
				}
			}
			if uint64(old) != want || seg.InvNorms(r, r+1)[0] != 0.5 {
				t.Fatalf("segment %d row %d holds old ID %v, want %d", i, r, old, want)
			}
		}
		next += seg.Rows()
		if seal := out.Seals[i]; seal.Rows != seg.Rows() || seal.Checksum != seg.DataSum(seg.Rows()) {
			t.Fatalf("segment %d seal %+v", i, seal)
		}
	}
}

func TestCopyCancelledRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	a := source(t, dir, 1, []segment.Run{{FirstID: 0, FirstRow: 0, Count: 3000}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &Job{Ctx: context.Background(), Dir: dir, Dim: 2, SegCap: 1000, Sources: []Source{a},
		FirstID: 5000, Live: 3000, Segments: []uint64{7, 8, 9}}
	if _, err := Copy(ctx, job); !errors.Is(err, context.Canceled) {
		t.Fatalf("Copy with a cancelled context: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a cancelled copy left files: %v", entries)
	}
}

func TestCopyStopsOnDamagedSource(t *testing.T) {
	dir := t.TempDir()
	a := source(t, dir, 1, []segment.Run{{FirstID: 0, FirstRow: 0, Count: 3}})
	bad := errors.New("damaged")
	a.Verify = func() error { return bad }
	job := &Job{Ctx: context.Background(), Dir: dir, Dim: 2, SegCap: 10, Sources: []Source{a}, FirstID: 5, Live: 3, Segments: []uint64{2}}
	if _, err := Copy(context.Background(), job); !errors.Is(err, bad) {
		t.Fatalf("Copy of a source that fails verification: %v", err)
	}
}
