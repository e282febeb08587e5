package segment

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "000000.seg"},
		{1, "000001.seg"},
		{999999, "999999.seg"},
		{1234567, "1234567.seg"},
	} {
		if got := FileName(tc.n); got != tc.want {
			t.Errorf("FileName(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		dim      int
		capacity uint64
	}{
		{1, 1}, {1, 7}, {2, 9}, {3, 10}, {4, 11}, {128, 1000}, {4096, 1}, {1536, 333}, {512, 77},
		{quant.MaxDim, 2}, {quant.MaxDim + 1, 3},
	} {
		for _, version := range []uint32{2, 3, Version} {
			l := layoutFor(version, tc.dim, tc.capacity)
			c := int64(tc.capacity)
			if want := int64(HeaderSize) + c*int64(tc.dim)*4; l.normsOff != want {
				t.Errorf("v%d dim %d cap %d: normsOff %d, want %d", version, tc.dim, c, l.normsOff, want)
			}
			normsEnd := l.normsOff + c*4
			wantStride, wantMeta := int64(0), int64(0)
			if version >= 4 && tc.dim <= quant.MaxDim {
				wantStride, wantMeta = int64(tc.dim), quant.MetaSize
			}
			if l.codeStride != wantStride || l.metaSize != wantMeta || l.hasCodes() != (wantStride > 0) {
				t.Errorf("v%d dim %d: code stride %d meta %d, want %d %d", version, tc.dim, l.codeStride, l.metaSize, wantStride, wantMeta)
			}
			dataEnd := normsEnd // the end of the last area before the records
			if version >= 4 {
				// The code area is the 64-aligned end of the norms, the
				// meta area the 64-aligned end of the codes.
				if l.codeOff%64 != 0 || l.codeOff < normsEnd || l.codeOff >= normsEnd+64 {
					t.Errorf("v%d dim %d cap %d: codeOff %d not the 64-aligned end of the norms (%d)", version, tc.dim, c, l.codeOff, normsEnd)
				}
				codesEnd := l.codeOff + c*l.codeStride
				if l.metaOff%64 != 0 || l.metaOff < codesEnd || l.metaOff >= codesEnd+64 {
					t.Errorf("v%d dim %d cap %d: metaOff %d not the 64-aligned end of the codes (%d)", version, tc.dim, c, l.metaOff, codesEnd)
				}
				dataEnd = l.metaOff + c*l.metaSize
			}
			if l.recordOff%8 != 0 || l.recordOff < dataEnd || l.recordOff >= dataEnd+8 {
				t.Errorf("v%d dim %d cap %d: recordOff %d not the 8-aligned end of the areas before (%d)", version, tc.dim, c, l.recordOff, dataEnd)
			}
			end := l.recordOff + c*l.recSize
			if l.size%4096 != 0 || l.size < end || l.size >= end+4096 {
				t.Errorf("v%d dim %d cap %d: size %d not the 4096-aligned end of the records (%d)", version, tc.dim, c, l.size, end)
			}
			if got := l.vectorOff(tc.capacity); got != l.normsOff {
				t.Errorf("vectorOff(capacity) = %d, want normsOff %d", got, l.normsOff)
			}
		}
		if got, l := FileSize(tc.dim, tc.capacity), newLayout(tc.dim, tc.capacity); got != l.size {
			t.Errorf("FileSize(%d, %d) = %d, want %d", tc.dim, tc.capacity, got, l.size)
		}
	}
}

func TestCapacity(t *testing.T) {
	for dim := 1; dim <= 4096; dim++ {
		if c := Capacity(dim, 8192); c < 1 {
			t.Fatalf("Capacity(%d, 8192) = %d, want >= 1", dim, c)
		}
	}
	if c := Capacity(4096, 1); c != 1 {
		t.Errorf("Capacity(4096, 1) = %d, want 1", c)
	}
	for _, b := range []int64{-1, 0, 1, HeaderSize, HeaderSize + 1} {
		if c := Capacity(8, b); c != 1 {
			t.Errorf("Capacity(8, %d) = %d, want 1", b, c)
		}
	}
	for _, dim := range []int{1, 3, 128, 768, 4096} {
		prev := uint64(0)
		for _, b := range []int64{1 << 12, 1 << 16, 1 << 20, 1 << 26, 1 << 30, 1 << 36, 1 << 40, 1 << 50, math.MaxInt64 - 1<<20} {
			c := Capacity(dim, b)
			if c < prev {
				t.Errorf("Capacity(%d, %d) = %d, smaller than %d for a smaller size", dim, b, c, prev)
			}
			prev = c
			if c > maxCapacity(dim) {
				t.Errorf("Capacity(%d, %d) = %d exceeds maxCapacity %d", dim, b, c, maxCapacity(dim))
			}
			// The file is "about" b bytes: its fixed part ends within b
			// rounded up to a page.
			if c > 1 {
				if size := FileSize(dim, c); size > align(b, 4096) {
					t.Errorf("FileSize(%d, Capacity(%d, %d) = %d) = %d, want about %d", dim, dim, b, c, size, b)
				}
			}
		}
		if FileSize(dim, maxCapacity(dim)) > maxFileSize+4096 {
			t.Errorf("dim %d: maxCapacity's file is %d bytes, over the bound", dim, FileSize(dim, maxCapacity(dim)))
		}
	}
}

func TestCreateInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		dim      int
		capacity uint64
	}{
		{"zero dim", 0, 4},
		{"negative dim", -3, 4},
		{"zero capacity", 4, 0},
		{"capacity over max", 4, maxCapacity(4) + 1},
		{"huge capacity", 1, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Create(nil, dir, 7, tc.dim, tc.capacity, 0)
			if !errors.Is(err, errs.ErrInvalidArgument) {
				t.Fatalf("Create: got %v, %v; want ErrInvalidArgument", s, err)
			}
			if _, err := os.Stat(segPath(dir, 7)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed Create left a file behind: %v", err)
			}
		})
	}
}

func TestCreateExisting(t *testing.T) {
	dir := t.TempDir()
	s := mustCreate(t, dir, 3, 4, 8)
	defer s.Close()
	if _, err := Create(nil, dir, 3, 4, 8, 0); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Create of the same number: %v, want os.ErrExist", err)
	}
	// The first one is untouched.
	if err := s.Append(1, [][]float32{{1, 2, 3, 4}}, []float32{0.5}, true); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAppendReopen(t *testing.T) {
	const dim, capacity = 5, 40
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	s := mustCreate(t, dir, 12, dim, capacity)

	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != FileSize(dim, capacity) || s.Size() != fi.Size() {
		t.Fatalf("file is %d bytes, Size() %d, FileSize %d", fi.Size(), s.Size(), FileSize(dim, capacity))
	}
	if s.Path() != segPath(dir, 12) || s.Number() != 12 || s.Dim() != dim || s.Capacity() != capacity || s.Sealed() {
		t.Fatalf("accessors: path %q number %d dim %d capacity %d sealed %v", s.Path(), s.Number(), s.Dim(), s.Capacity(), s.Sealed())
	}
	m := &model{dim: dim}
	checkModel(t, s, m)
	if s.Vectors(0, 0) != nil || s.InvNorms(3, 3) != nil {
		t.Fatal("empty ranges must return nil")
	}

	specs := []batchSpec{
		{firstID: 100, rows: 1, durable: true},
		{firstID: 101, rows: 7},
		{firstID: 108, rows: 3, durable: true},
		{firstID: 500, rows: 10},
		{firstID: 510, rows: 2, syncAfter: true},
	}
	for _, b := range specs {
		appendBatches(t, s, m, rng, []batchSpec{b})
		checkModel(t, s, m) // visible right after Append returns
	}
	// Partial ranges read the right rows.
	got := s.Vectors(8, 11)
	for i := range 3 {
		for j := range dim {
			if math.Float32bits(got[i*dim+j]) != math.Float32bits(m.vecs[8+i][j]) {
				t.Fatalf("Vectors(8, 11) row %d differs", i)
			}
		}
	}
	if n := s.InvNorms(20, 23); math.Float32bits(n[2]) != math.Float32bits(m.norms[22]) {
		t.Fatal("InvNorms(20, 23) differs")
	}
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatalf("Verify active: %v", err)
	}
	mustClose(t, s)

	// Reopen active: the same rows and runs, recovered from the records.
	s = mustOpen(t, dir, 12, dim, capacity, nil)
	checkModel(t, s, m)
	if s.Sealed() {
		t.Fatal("reopened active segment says sealed")
	}
	checkRecordsZeroFrom(t, s.Path(), s.lay, uint64(len(m.start)))
	// It keeps appending where it left off.
	appendBatches(t, s, m, rng, []batchSpec{{firstID: 512, rows: 4}})
	checkModel(t, s, m)

	seal, err := s.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Sealed() {
		t.Fatal("Sealed() false after Seal")
	}
	if seal.Rows != m.rows() || !runsEqual(seal.Runs, m.runs()) || seal.Checksum != s.DataSum(m.rows()) {
		t.Fatalf("Seal() = %+v, want rows %d runs %+v checksum %#x", seal, m.rows(), m.runs(), s.DataSum(m.rows()))
	}
	if err := s.Append(600, [][]float32{make([]float32, dim)}, []float32{1}, false); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("Append after Seal: %v, want ErrInvalidArgument", err)
	}
	// The seal's Runs is a copy: changing it does not reach the segment.
	if len(seal.Runs) > 0 {
		seal.Runs[0].Count = 999
		if s.Runs()[0].Count == 999 {
			t.Fatal("Seal().Runs aliases the segment's runs")
		}
		seal.Runs[0].Count = m.runs()[0].Count
	}
	mustClose(t, s)

	// Reopen sealed: trusted rows and runs, and Verify passes.
	s = mustOpen(t, dir, 12, dim, capacity, &seal)
	defer s.Close()
	if !s.Sealed() {
		t.Fatal("segment opened with a seal is not Sealed()")
	}
	checkModel(t, s, m)
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify sealed: %v", err)
	}
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatalf("Verify sealed segment's records: %v", err)
	}
	if s.DataSum(seal.Rows) != seal.Checksum {
		t.Fatal("DataSum after reopen differs from the seal's checksum")
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync on sealed: %v", err)
	}
	if err := s.Append(600, [][]float32{make([]float32, dim)}, []float32{1}, false); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("Append to segment opened sealed: %v, want ErrInvalidArgument", err)
	}
}

func TestDataSumCoversVectorsAndNorms(t *testing.T) {
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, 2, 4)
	defer s.Close()
	if err := s.Append(1, [][]float32{{1, 2}, {3, 4}}, []float32{0.25, 0.5}, false); err != nil {
		t.Fatal(err)
	}
	sum2 := s.DataSum(2)
	if s.DataSum(1) == sum2 || s.DataSum(0) == sum2 {
		t.Fatal("DataSum does not depend on the row count")
	}
	// Damage a norm through the file: DataSum must see it.
	xorByte(t, s.Path(), s.lay.normsOff+4, 0x01)
	if s.DataSum(2) == sum2 {
		t.Fatal("DataSum ignores the norm bytes")
	}
	xorByte(t, s.Path(), s.lay.normsOff+4, 0x01)
	xorByte(t, s.Path(), s.lay.vectorOff(1)+7, 0x80)
	if s.DataSum(2) == sum2 {
		t.Fatal("DataSum ignores the vector bytes")
	}
}

func TestRuns(t *testing.T) {
	type app struct {
		firstID uint64
		rows    int
	}
	for _, tc := range []struct {
		name string
		apps []app
		want []Run
	}{
		{"single", []app{{10, 3}}, []Run{{10, 0, 3}}},
		{"consecutive merge", []app{{10, 3}, {13, 2}, {15, 4}}, []Run{{10, 0, 9}}},
		{"gap", []app{{10, 3}, {20, 2}}, []Run{{10, 0, 3}, {20, 3, 2}}},
		{"gap then merge", []app{{0, 1}, {5, 2}, {7, 1}}, []Run{{0, 0, 1}, {5, 1, 3}}},
		{"gap of one", []app{{1, 1}, {3, 1}}, []Run{{1, 0, 1}, {3, 1, 1}}},
		{"backwards", []app{{10, 2}, {5, 2}}, []Run{{10, 0, 2}, {5, 2, 2}}},
		{"overlapping IDs", []app{{10, 2}, {11, 1}}, []Run{{10, 0, 2}, {11, 2, 1}}},
		{"repeated ID", []app{{4, 1}, {4, 1}}, []Run{{4, 0, 1}, {4, 1, 1}}},
		{"merge after gap", []app{{1, 2}, {9, 1}, {10, 1}, {11, 3}, {30, 1}}, []Run{{1, 0, 2}, {9, 2, 5}, {30, 7, 1}}},
		{"huge IDs", []app{{math.MaxUint64 - 5, 2}, {math.MaxUint64 - 3, 2}}, []Run{{math.MaxUint64 - 5, 0, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const dim = 3
			dir := t.TempDir()
			s := mustCreate(t, dir, 1, dim, 16)
			for _, a := range tc.apps {
				vecs := make([][]float32, a.rows)
				for i := range vecs {
					vecs[i] = []float32{1, 2, 3}
				}
				if err := s.Append(a.firstID, vecs, make([]float32, a.rows), false); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Runs(); !runsEqual(got, tc.want) {
				t.Fatalf("Runs() = %+v, want %+v", got, tc.want)
			}
			// Runs returns a copy.
			r := s.Runs()
			r[0].Count = 1000
			if s.Runs()[0].Count == 1000 {
				t.Fatal("Runs() aliases the segment's slice")
			}
			mustClose(t, s)
			// Rebuilt from the batch records on reopen.
			s = mustOpen(t, dir, 1, dim, 16, nil)
			if got := s.Runs(); !runsEqual(got, tc.want) {
				t.Fatalf("Runs() after reopen = %+v, want %+v", got, tc.want)
			}
			seal, err := s.Seal()
			if err != nil {
				t.Fatal(err)
			}
			mustClose(t, s)
			// Taken from the seal when sealed.
			s = mustOpen(t, dir, 1, dim, 16, &seal)
			defer s.Close()
			if got := s.Runs(); !runsEqual(got, tc.want) {
				t.Fatalf("Runs() sealed = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAppendInvalid(t *testing.T) {
	const dim, capacity = 3, 8
	row := func(n int) []float32 { return make([]float32, n) }
	rows := func(n int) [][]float32 {
		v := make([][]float32, n)
		for i := range v {
			v[i] = []float32{float32(i), 1, 2}
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		vecs  [][]float32
		norms []float32
		want  error
	}{
		{"beyond capacity", rows(3), make([]float32, 3), errs.ErrInvalidArgument},
		{"far beyond capacity", rows(100), make([]float32, 100), errs.ErrInvalidArgument},
		{"zero rows", nil, nil, errs.ErrInvalidArgument},
		{"fewer norms", rows(2), make([]float32, 1), errs.ErrInvalidArgument},
		{"more norms", rows(1), make([]float32, 2), errs.ErrInvalidArgument},
		{"short first row", [][]float32{row(2), row(3)}, make([]float32, 2), errs.ErrDimension},
		{"long last row", [][]float32{row(3), row(4)}, make([]float32, 2), errs.ErrDimension},
		{"empty row", [][]float32{row(0)}, make([]float32, 1), errs.ErrDimension},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, s, m, rng := newSegment(t, 1, dim, capacity, 3, 4)
			defer s.Close()
			appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 4}, {firstID: 5, rows: 2, durable: true}})
			before, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			err = s.Append(7, tc.vecs, tc.norms, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append: %v, want %v", err, tc.want)
			}
			// Nothing changed: not the visible state, not one byte on disk.
			checkModel(t, s, m)
			after, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("a rejected Append changed the file")
			}
			// A rejected argument does not poison the segment.
			appendBatches(t, s, m, rng, []batchSpec{{firstID: 7, rows: 2}})
			checkModel(t, s, m)
			if s.Free() != 0 {
				t.Fatalf("Free() = %d, want 0", s.Free())
			}
			if err := s.Append(9, rows(1), make([]float32, 1), false); !errors.Is(err, errs.ErrInvalidArgument) {
				t.Fatalf("Append to a full segment: %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestFillToCapacity(t *testing.T) {
	const dim, capacity = 2, 7
	dir, s, m, rng := newSegment(t, 1, dim, capacity, 5, 6)
	// One row per batch: as many records as rows, the most a segment holds.
	for i := range capacity {
		appendBatches(t, s, m, rng, []batchSpec{{firstID: uint64(2 * i), rows: 1}})
	}
	checkModel(t, s, m)
	mustClose(t, s)
	s = mustOpen(t, dir, 1, dim, capacity, nil)
	defer s.Close()
	checkModel(t, s, m)
	if len(s.Runs()) != capacity {
		t.Fatalf("%d runs, want %d", len(s.Runs()), capacity)
	}
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestCloseAndRemove(t *testing.T) {
	dir := t.TempDir()
	s := mustCreate(t, dir, 4, 2, 2)
	mustClose(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = mustOpen(t, dir, 4, 2, 2, nil)
	if err := s.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(segPath(dir, 4)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after Remove: %v", err)
	}
	if err := s.Remove(); err != nil {
		t.Fatalf("Remove of a removed segment: %v", err)
	}
}

// TestConcurrentReaders checks the visibility invariant under the race
// detector: a reader that obtained n from Rows sees complete rows [0, n)
// while a writer keeps appending.
func TestConcurrentReaders(t *testing.T) {
	const dim, capacity, batches = 4, 600, 150
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, dim, capacity)
	defer s.Close()
	value := func(row uint64, j int) float32 { return float32(row*dim+uint64(j)) + 0.5 }

	var wg sync.WaitGroup
	var stop atomic.Bool // set if the writer fails, so that readers end
	errc := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := uint64(0)
			for seen < batches*4 && !stop.Load() {
				n := s.Rows()
				if n < seen {
					errc <- errors.New("Rows went backwards")
					return
				}
				seen = n
				if n == 0 {
					continue
				}
				v := s.Vectors(0, n)
				norms := s.InvNorms(0, n)
				for _, r := range []uint64{0, n / 2, n - 1} {
					for j := range dim {
						if v[r*dim+uint64(j)] != value(r, j) {
							errc <- errors.New("reader saw an incomplete row")
							return
						}
					}
					if norms[r] != float32(r) {
						errc <- errors.New("reader saw an incomplete norm")
						return
					}
				}
			}
		}()
	}
	for b := range uint64(batches) {
		vecs := make([][]float32, 4)
		norms := make([]float32, 4)
		for i := range vecs {
			r := b*4 + uint64(i)
			vecs[i] = make([]float32, dim)
			for j := range dim {
				vecs[i][j] = value(r, j)
			}
			norms[i] = float32(r)
		}
		if err := s.Append(b*4, vecs, norms, false); err != nil {
			t.Error(err)
			stop.Store(true)
			break
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := s.Runs(); len(got) != 1 || got[0] != (Run{0, 0, batches * 4}) {
		t.Fatalf("Runs() = %+v", got)
	}
}
