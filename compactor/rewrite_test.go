package compactor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/segment"
)

// oldSegment writes sealed segment n of the given format version and
// dimension in dir: batches with and without keys (a key given twice,
// payloads), a batch that supersedes IDs (version 3 on), and IDs that
// jump, so that it has several runs. It returns it reopened sealed.
func oldSegment(t *testing.T, dir string, n uint64, version uint32, dim int) *segment.Segment {
	t.Helper()
	seg, err := segment.CreateVersion(nil, dir, n, dim, 40, 0, version)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(version), uint64(dim)))
	rows := func(k int) ([][]float32, []float32) {
		vecs, inv := make([][]float32, k), make([]float32, k)
		for i := range vecs {
			vecs[i] = make([]float32, dim)
			for j := range vecs[i] {
				vecs[i][j] = float32(rng.NormFloat64())
			}
			inv[i] = rng.Float32()
		}
		return vecs, inv
	}
	keyed := seg.Keyed()
	for i, b := range []struct {
		first uint64
		n     int
		keys  []string
		sup   []uint64
	}{
		{first: 10, n: 3},
		{first: 13, n: 4, keys: []string{"a", "", "b", "a"}},
		{first: 100, n: 2, sup: []uint64{11}},
		{first: 102, n: 5, keys: []string{"c", "d", "", "", "b"}},
		{first: 7, n: 1},
	} {
		vecs, inv := rows(b.n)
		var keys, pays [][]byte
		var sup []uint64
		if keyed {
			for j, k := range b.keys {
				keys = append(keys, []byte(k))
				var p []byte
				if k != "" && j%2 == 0 {
					p = fmt.Appendf(nil, "payload %d %d", i, j)
				}
				pays = append(pays, p)
			}
			sup = b.sup
		}
		if err := seg.AppendRecords(b.first, vecs, inv, keys, pays, sup, false); err != nil {
			t.Fatal(err)
		}
	}
	seal, err := seg.Seal()
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	if seg, err = segment.Open(nil, dir, n, dim, 40, &seal); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// checkRewritten asserts that out holds exactly src's rows: the same runs,
// vectors and norms bit for bit, keys, payloads and key lookups, and
// codes: src's own when it has them, else quant.Encode's.
func checkRewritten(t *testing.T, src, out *segment.Segment) {
	t.Helper()
	if out.Version() != segment.Version || out.HasCodes() != (segment.CodeStrideFor(src.Dim()) > 0) {
		t.Fatalf("rewritten: version %d, HasCodes %v", out.Version(), out.HasCodes())
	}
	rows := src.Rows()
	if out.Rows() != rows || !slices.Equal(out.Runs(), src.Runs()) || !slices.Equal(out.SealInfo().Runs, src.SealInfo().Runs) {
		t.Fatalf("rewritten: %d rows, runs %v; source %d rows, runs %v", out.Rows(), out.Runs(), rows, src.Runs())
	}
	bits := func(v []float32) []uint32 {
		b := make([]uint32, len(v))
		for i, x := range v {
			b[i] = math.Float32bits(x)
		}
		return b
	}
	if !slices.Equal(bits(out.Vectors(0, rows)), bits(src.Vectors(0, rows))) || !slices.Equal(bits(out.InvNorms(0, rows)), bits(src.InvNorms(0, rows))) {
		t.Fatal("rewritten: vectors or norms differ")
	}
	dim := src.Dim()
	for r := range rows {
		sk, err1 := src.Key(r)
		ok, err2 := out.Key(r)
		sp, err3 := src.Payload(r)
		op, err4 := out.Payload(r)
		if err := errors.Join(err1, err2, err3, err4); err != nil || !bytes.Equal(sk, ok) || !bytes.Equal(sp, op) {
			t.Fatalf("row %d: key %q payload %q, source %q %q (%v)", r, ok, op, sk, sp, err)
		}
		if len(sk) > 0 {
			srow, _ := src.LookupKey(sk)
			orow, found := out.LookupKey(sk)
			if !found || orow != srow {
				t.Fatalf("LookupKey(%q) = %d, %v; source %d", sk, orow, found, srow)
			}
		}
		if !out.HasCodes() {
			continue
		}
		var want, wantMeta []byte
		if src.HasCodes() {
			want, wantMeta = int8Bytes(src.Codes(r, r+1)), src.CodeMeta(r, r+1)
		} else {
			want, wantMeta = make([]byte, dim), make([]byte, quant.MetaSize)
			quant.Encode(src.Vectors(r, r+1), want).Put(wantMeta)
		}
		if !bytes.Equal(int8Bytes(out.Codes(r, r+1)), want) || !bytes.Equal(out.CodeMeta(r, r+1), wantMeta) {
			t.Fatalf("row %d: codes or meta differ", r)
		}
	}
}

// Rewrite gives a sealed segment of every older format the current one,
// codes included, without moving any ID; the result is sealed, verifies,
// and reads back the same after a reopen.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		version uint32
		dim     int
	}{{1, 3}, {2, 3}, {3, 1}, {3, 3}, {3, 512}, {3, quant.MaxDim + 1}} {
		t.Run(fmt.Sprintf("v%d/dim=%d", tc.version, tc.dim), func(t *testing.T) {
			dir := t.TempDir()
			src := oldSegment(t, dir, 1, tc.version, tc.dim)
			if src.HasCodes() {
				t.Fatal("an old segment has codes")
			}
			out, seal, err := Rewrite(context.Background(), nil, dir, src, 2, src.Capacity(), 5)
			if err != nil {
				t.Fatal(err)
			}
			checkRewritten(t, src, out)
			if seal.Rows != src.Rows() || seal.Checksum != out.DataSum(seal.Rows) || !slices.Equal(seal.Runs, src.SealInfo().Runs) {
				t.Fatalf("seal %+v", seal)
			}
			out.Close()
			if h, err := segment.ReadHeader(nil, filepath.Join(dir, segment.FileName(2))); err != nil || h.Gen != 5 || h.Number != 2 {
				t.Fatalf("header %+v, %v", h, err)
			}
			out, err = segment.Open(nil, dir, 2, tc.dim, src.Capacity(), &seal)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if err := out.Verify(context.Background(), &seal); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkRewritten(t, src, out)
		})
	}
}

// A rewrite of a segment that has codes copies them bit for bit (here
// bytes no encoder would write), never re-encodes them.
func TestRewriteCopiesCodes(t *testing.T) {
	const dim = 4
	dir := t.TempDir()
	seg, err := segment.Create(nil, dir, 1, dim, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	vecs := [][]float32{{1, 2, 3, 4}, {0, 0, 1, 0}, {-5, 1, 1, 1}}
	codes := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	metas := bytes.Repeat([]byte{0xab}, 3*quant.MetaSize)
	if err := seg.AppendBatch(segment.Batch{FirstID: 40, Vecs: vecs, InvNorms: []float32{1, 1, 1}, Codes: codes, Meta: metas}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := seg.Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	out, _, err := Rewrite(context.Background(), nil, dir, seg, 2, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	checkRewritten(t, seg, out)
	if !bytes.Equal(int8Bytes(out.Codes(0, 3)), codes) || !bytes.Equal(out.CodeMeta(0, 3), metas) {
		t.Fatal("codes re-encoded, not copied")
	}
}

// Rewrite refuses an active segment and a capacity below the rows, and a
// damaged source is ErrCorrupt, with no file left behind.
func TestRewriteRefuses(t *testing.T) {
	dir := t.TempDir()
	src := oldSegment(t, dir, 1, 3, 3)
	active, err := segment.Create(nil, dir, 9, 3, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer active.Close()
	for name, tc := range map[string]struct {
		seg      *segment.Segment
		capacity uint64
	}{
		"active":         {active, 4},
		"small capacity": {src, src.Rows() - 1},
	} {
		if _, _, err := Rewrite(context.Background(), nil, dir, tc.seg, 2, tc.capacity, 0); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Rewrite(ctx, nil, dir, src, 2, src.Capacity(), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Damage a vector byte of the source.
	seal := *src.SealInfo()
	path := src.Path()
	src.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[segment.HeaderSize+5] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = segment.Open(nil, dir, 1, 3, 40, &seal)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, _, err := Rewrite(context.Background(), nil, dir, src, 2, src.Capacity(), 0); !errors.Is(err, errs.ErrCorrupt) {
		t.Errorf("damaged source: %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(dir, segment.FileName(2))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed rewrite left its file: %v", err)
	}
}
