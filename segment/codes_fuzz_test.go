package segment

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// fuzzCodedSegment builds, deterministically, the bytes of a small
// segment with codes (fixed salt, fixed rows, some codes given), sealed
// or active, and the model of what it holds.
func fuzzCodedSegment(tb testing.TB, dim int, capacity uint64, sealed bool) ([]byte, *model, Seal) {
	dir, s := fuzzSegment(tb, dim, capacity)
	m := &model{dim: dim}
	appendCoded(tb, s, m, rand.New(rand.NewPCG(93, 94)), codedSpecs())
	var seal Seal
	if sealed {
		var err error
		if seal, err = s.Seal(); err != nil {
			tb.Fatal(err)
		}
	}
	mustClose(tb, s)
	b, err := os.ReadFile(segPath(dir, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return b, m, seal
}

// FuzzSealedCodes damages a sealed segment with codes anywhere (each 3
// input bytes: a 2-byte offset and an xor mask) and opens it with its
// seal. VerifyData, the gate a segment passes before it is served, and
// Verify either report ErrCorrupt or pass, and when they pass every row,
// norm, code and meta is the original bit for bit: damage to a code or a
// meta is never served.
func FuzzSealedCodes(f *testing.F) {
	const dim, capacity = 3, 12
	orig, m, seal := fuzzCodedSegment(f, dim, capacity, true)
	lay := newLayout(dim, capacity)
	at := func(off int64, mask byte) []byte { return []byte{byte(off), byte(off >> 8), mask} }
	f.Add(at(lay.codeOff, 0x01))
	f.Add(at(lay.codeOff+int64(m.rows())*dim-1, 0x80))
	f.Add(at(lay.codeOff+int64(m.rows())*dim, 0x80)) // past the rows: unused
	f.Add(at(lay.metaOff+17, 0x04))
	f.Add(at(lay.metaOff+int64(m.rows())*16-1, 0xff))
	f.Add(at(lay.recordAt(1)+56, 0x01))
	f.Fuzz(func(t *testing.T, damage []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segPath(dir, 1), withDamage(orig, damage), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(nil, dir, 1, dim, capacity, &seal)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) && !errors.Is(err, errs.ErrVersion) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		defer s.Close()
		data := s.VerifyData(context.Background(), &seal)
		full := s.Verify(context.Background(), &seal)
		for _, err := range []error{data, full} {
			if err != nil && !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("verify: %v, want nil or ErrCorrupt", err)
			}
		}
		if data == nil {
			checkModel(t, s, m)
		}
		if full == nil && data != nil {
			t.Fatalf("Verify passed what VerifyData refused: %v", data)
		}
	})
}

// FuzzAppendBatchCodes appends batches whose rows, codes and metas come
// from the input, given or left to the segment to encode, and checks that
// they read back bit for bit after a reopen and a seal.
func FuzzAppendBatchCodes(f *testing.F) {
	f.Add(uint8(3), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add(uint8(1), []byte{0xff, 0x7f, 0x80, 0, 0, 0, 0, 0, 0x80, 0x3f})
	f.Add(uint8(0x85), make([]byte, 200))
	f.Fuzz(func(t *testing.T, shape uint8, data []byte) {
		dim := 1 + int(shape&7)
		given := shape&0x80 != 0
		const capacity = 16
		dir := t.TempDir()
		s := mustCreate(t, dir, 1, dim, capacity)
		m := &model{dim: dim}
		next := func(n int) []byte {
			b := make([]byte, n)
			k := copy(b, data)
			data = data[k:]
			return b
		}
		for id := uint64(1); len(data) > 0 && s.Free() > 0; id += 10 {
			n := min(1+int(next(1)[0])%4, int(s.Free()))
			raw := next(n * dim * 4)
			vecs := make([][]float32, n)
			for i := range vecs {
				vecs[i] = bytesFloats(raw[i*dim*4 : (i+1)*dim*4])
			}
			norms := bytesFloats(next(n * 4))
			b := Batch{FirstID: id, Vecs: vecs, InvNorms: norms}
			codes, metas := EncodeCodes(vecs)
			if given {
				codes, metas = next(n*dim), next(n*16)
				b.Codes, b.Meta = codes, metas
			}
			if err := s.AppendBatch(b, false); err != nil {
				t.Fatalf("AppendBatch: %v", err)
			}
			m.addCodes(id, vecs, norms, 0, codes, metas)
		}
		checkModel(t, s, m)
		mustClose(t, s)
		s = mustOpen(t, dir, 1, dim, capacity, nil)
		checkModel(t, s, m)
		seal := mustSeal(t, s)
		s = reopenSealed(t, s, seal)
		defer s.Close()
		checkModel(t, s, m)
		if err := s.VerifyData(context.Background(), &seal); err != nil {
			t.Fatalf("VerifyData: %v", err)
		}
	})
}

// bytesFloats returns the float32s whose bits b holds (len(b) a multiple
// of 4), little-endian.
func bytesFloats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	copy(floatBytes(v), b)
	return v
}
