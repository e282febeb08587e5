package compactor

import (
	"bytes"
	"context"
	"testing"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/segment"
)

// A compaction copies the codes and metas of a format 4 source bit for bit
// (here bytes no encoder would write, so a re-encoding would show) and
// encodes those of the rows of an older source, all in one output.
func TestCopyCodes(t *testing.T) {
	const dim = 3
	dir := t.TempDir()
	// Source 1 (format 4): IDs 0-3, codes given; source 2 (format 3): IDs 4-6.
	a, err := segment.Create(nil, dir, 1, dim, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	vecsA := [][]float32{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {-1, -2, -3}}
	codes := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	metas := make([]byte, 4*quant.MetaSize)
	for i := range metas {
		metas[i] = byte(i)
	}
	if err := a.AppendBatch(segment.Batch{FirstID: 0, Vecs: vecsA, InvNorms: []float32{1, 1, 1, 1}, Codes: codes, Meta: metas}, false); err != nil {
		t.Fatal(err)
	}
	b, err := segment.CreateVersion(nil, dir, 2, dim, 3, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	vecsB := [][]float32{{0.5, 0, 1}, {3, -3, 0.25}, {1e-3, 7, 100}}
	if err := b.AppendRecords(4, vecsB, []float32{1, 1, 1}, [][]byte{[]byte("k"), nil, []byte("j")}, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*segment.Segment{a, b} {
		if _, err := s.Seal(); err != nil {
			t.Fatal(err)
		}
	}
	src := func(s *segment.Segment, dead ...uint64) Source {
		tomb := bitset.New(s.Rows())
		for _, r := range dead {
			tomb.Add(r)
		}
		return Source{Seg: s, Rows: s.Rows(), Runs: s.Runs(), Tomb: tomb, Verify: func() error { return nil }}
	}
	job := &Job{Ctx: context.Background(), Dir: dir, Dim: dim, SegCap: 4, Sources: []Source{src(b, 1), src(a, 2)},
		FirstID: 10, Live: 5, Segments: []uint64{7, 8}}
	out, err := Copy(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Remove()
	var gotCodes, gotMetas []byte
	for _, s := range out.Segments {
		if !s.HasCodes() {
			t.Fatal("an output segment has no codes")
		}
		gotCodes = append(gotCodes, int8Bytes(s.Codes(0, s.Rows()))...)
		gotMetas = append(gotMetas, s.CodeMeta(0, s.Rows())...)
	}
	// Rows in old-ID order: A's 0, 1, 3 (2 is deleted), then B's 4, 6.
	var wantCodes, wantMetas []byte
	for _, r := range []int{0, 1, 3} {
		wantCodes = append(wantCodes, codes[r*dim:(r+1)*dim]...)
		wantMetas = append(wantMetas, metas[r*quant.MetaSize:(r+1)*quant.MetaSize]...)
	}
	for _, r := range []int{0, 2} {
		c, m := make([]byte, dim), make([]byte, quant.MetaSize)
		quant.Encode(vecsB[r], c).Put(m)
		wantCodes, wantMetas = append(wantCodes, c...), append(wantMetas, m...)
	}
	if !bytes.Equal(gotCodes, wantCodes) || !bytes.Equal(gotMetas, wantMetas) {
		t.Fatalf("codes %v metas %x\nwant %v %x", gotCodes, gotMetas, wantCodes, wantMetas)
	}
	for i, s := range out.Segments {
		if err := s.Verify(context.Background(), &out.Seals[i]); err != nil {
			t.Fatalf("output %d: Verify: %v", i, err)
		}
	}
}
