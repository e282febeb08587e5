package segment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/memvec/memvec/internal/quant"
)

// model is what a test believes a segment holds, row by row.
type model struct {
	dim   int
	vecs  [][]float32
	norms []float32
	ids   []uint64
	// codes and metas of each row, as a segment with codes holds them:
	// quant.Encode's unless the batch gave its own (addCodes).
	codes, metas [][]byte
	// per batch
	start  []uint64 // first row
	count  []int    // rows
	synced []uint64 // the Synced field its record was written with
}

// batchSpec describes one Append call.
type batchSpec struct {
	firstID   uint64
	rows      int
	durable   bool // Append(..., durable)
	syncAfter bool // call Sync after the Append
}

// randomRows returns n rows of dimension dim and n norms with arbitrary bit
// patterns (NaN payloads, -0, infinities included): the segment stores bytes
// and must give every one of them back unchanged.
func randomRows(rng *rand.Rand, n, dim int) ([][]float32, []float32) {
	vecs := make([][]float32, n)
	for i := range vecs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = math.Float32frombits(rng.Uint32())
		}
		vecs[i] = v
	}
	norms := make([]float32, n)
	for i := range norms {
		norms[i] = math.Float32frombits(rng.Uint32())
	}
	return vecs, norms
}

func (m *model) rows() uint64 { return uint64(len(m.ids)) }

// add records a successful Append in the model.
func (m *model) add(firstID uint64, vecs [][]float32, norms []float32, synced uint64) {
	codes, metas := EncodeCodes(vecs)
	m.addCodes(firstID, vecs, norms, synced, codes, metas)
}

// addCodes is add for a batch appended with the given codes and metas.
func (m *model) addCodes(firstID uint64, vecs [][]float32, norms []float32, synced uint64, codes, metas []byte) {
	m.start = append(m.start, m.rows())
	m.count = append(m.count, len(vecs))
	m.synced = append(m.synced, synced)
	for i := range vecs {
		m.vecs = append(m.vecs, vecs[i])
		m.norms = append(m.norms, norms[i])
		m.ids = append(m.ids, firstID+uint64(i))
		m.codes = append(m.codes, codes[i*m.dim:(i+1)*m.dim])
		m.metas = append(m.metas, metas[i*quant.MetaSize:(i+1)*quant.MetaSize])
	}
}

// prefix returns the model of the first k batches.
func (m *model) prefix(k int) *model {
	rows := 0
	if k < len(m.start) {
		rows = int(m.start[k])
	} else {
		rows = len(m.ids)
	}
	return &model{
		dim:    m.dim,
		vecs:   append([][]float32(nil), m.vecs[:rows]...),
		norms:  append([]float32(nil), m.norms[:rows]...),
		ids:    append([]uint64(nil), m.ids[:rows]...),
		codes:  append([][]byte(nil), m.codes[:rows]...),
		metas:  append([][]byte(nil), m.metas[:rows]...),
		start:  append([]uint64(nil), m.start[:k]...),
		count:  append([]int(nil), m.count[:k]...),
		synced: append([]uint64(nil), m.synced[:k]...),
	}
}

// runs derives the ID runs of the model independently of addRun: a new run
// starts wherever an ID is not its predecessor plus one.
func (m *model) runs() []Run {
	var out []Run
	for r, id := range m.ids {
		if k := len(out); k > 0 && out[k-1].FirstID+out[k-1].Count == id {
			out[k-1].Count++
			continue
		}
		out = append(out, Run{FirstID: id, FirstRow: uint64(r), Count: 1})
	}
	return out
}

// appendBatches appends each spec with fresh random rows, tracking the Synced
// value each record must carry.
func appendBatches(t testing.TB, s *Segment, m *model, rng *rand.Rand, specs []batchSpec) {
	t.Helper()
	synced := s.synced
	for _, b := range specs {
		vecs, norms := randomRows(rng, b.rows, m.dim)
		if err := s.Append(b.firstID, vecs, norms, b.durable); err != nil {
			t.Fatalf("Append(%d, %d rows): %v", b.firstID, b.rows, err)
		}
		m.add(b.firstID, vecs, norms, synced)
		synced = syncedAfter(t, s, m, b, synced)
	}
}

// syncedAfter returns the Synced value the records after batch b carry,
// given synced, b's own: every row so far when b was durable or has
// syncAfter (the Sync is called here), else synced unchanged.
func syncedAfter(t testing.TB, s *Segment, m *model, b batchSpec, synced uint64) uint64 {
	t.Helper()
	if b.durable {
		synced = m.rows()
	}
	if b.syncAfter {
		if err := s.Sync(); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		synced = m.rows()
	}
	return synced
}

// checkModel asserts that s holds exactly the rows, norms and runs of m,
// bit for bit.
func checkModel(t testing.TB, s *Segment, m *model) {
	t.Helper()
	if got, want := s.Rows(), m.rows(); got != want {
		t.Fatalf("Rows() = %d, want %d", got, want)
	}
	if got, want := s.Free(), s.Capacity()-m.rows(); got != want {
		t.Fatalf("Free() = %d, want %d", got, want)
	}
	if got, want := s.Runs(), m.runs(); !runsEqual(got, want) {
		t.Fatalf("Runs() = %+v, want %+v", got, want)
	}
	rows := m.rows()
	vecs := s.Vectors(0, rows)
	if len(vecs) != int(rows)*m.dim {
		t.Fatalf("Vectors(0, %d) has %d floats, want %d", rows, len(vecs), int(rows)*m.dim)
	}
	for r := range m.vecs {
		for j, want := range m.vecs[r] {
			if got := vecs[r*m.dim+j]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("row %d component %d = %#x, want %#x", r, j, math.Float32bits(got), math.Float32bits(want))
			}
		}
	}
	norms := s.InvNorms(0, rows)
	if len(norms) != int(rows) {
		t.Fatalf("InvNorms(0, %d) has %d floats", rows, len(norms))
	}
	for r, want := range m.norms {
		if math.Float32bits(norms[r]) != math.Float32bits(want) {
			t.Fatalf("norm %d = %#x, want %#x", r, math.Float32bits(norms[r]), math.Float32bits(want))
		}
	}
	checkCodes(t, s, m)
}

// checkCodes asserts that s holds the codes and metas of m's rows bit for
// bit when it has codes, and none when it has not.
func checkCodes(t testing.TB, s *Segment, m *model) {
	t.Helper()
	rows := m.rows()
	codes, metas := s.Codes(0, rows), s.CodeMeta(0, rows)
	wantCodes, stride := s.lay.version >= 4 && m.dim <= quant.MaxDim, 0
	if wantCodes {
		stride = m.dim
	}
	if s.HasCodes() != wantCodes || s.CodeStride() != stride {
		t.Fatalf("format %d dim %d: HasCodes %v CodeStride %d", s.lay.version, m.dim, s.HasCodes(), s.CodeStride())
	}
	if !wantCodes {
		if codes != nil || metas != nil {
			t.Fatalf("a segment without codes returns %d code and %d meta bytes", len(codes), len(metas))
		}
		return
	}
	if len(codes) != int(rows)*m.dim || len(metas) != int(rows)*quant.MetaSize {
		t.Fatalf("Codes(0, %d) has %d bytes, CodeMeta %d", rows, len(codes), len(metas))
	}
	for r := range m.codes {
		got := codes[r*m.dim : (r+1)*m.dim]
		for j, c := range m.codes[r] {
			if byte(got[j]) != c {
				t.Fatalf("row %d code %d = %d, want %d", r, j, got[j], int8(c))
			}
		}
		if gm := metas[r*quant.MetaSize : (r+1)*quant.MetaSize]; !bytes.Equal(gm, m.metas[r]) {
			t.Fatalf("row %d meta = %x, want %x", r, gm, m.metas[r])
		}
	}
}

func runsEqual(a, b []Run) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func mustCreate(t testing.TB, dir string, n uint64, dim int, capacity uint64) *Segment {
	t.Helper()
	s, err := Create(nil, dir, n, dim, capacity, 0)
	if err != nil {
		t.Fatalf("Create(%d, dim %d, capacity %d): %v", n, dim, capacity, err)
	}
	return s
}

func mustOpen(t testing.TB, dir string, n uint64, dim int, capacity uint64, seal *Seal) *Segment {
	t.Helper()
	s, err := Open(nil, dir, n, dim, capacity, seal)
	if err != nil {
		t.Fatalf("Open(%d): %v", n, err)
	}
	return s
}

// mustSeal seals s and returns the seal.
func mustSeal(t testing.TB, s *Segment) Seal {
	t.Helper()
	seal, err := s.Seal()
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return seal
}

// reopenSealed closes s and opens its file again, sealed by seal.
func reopenSealed(t testing.TB, s *Segment, seal Seal) *Segment {
	t.Helper()
	dir, n, dim, capacity := filepath.Dir(s.Path()), s.Number(), s.Dim(), s.Capacity()
	mustClose(t, s)
	return mustOpen(t, dir, n, dim, capacity, &seal)
}

func mustClose(t testing.TB, s *Segment) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// xorByte damages a closed (or open: the mapping is shared) segment file by
// xoring the byte at off with mask, through an ordinary file descriptor.
func xorByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatalf("read byte at %d: %v", off, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatalf("write byte at %d: %v", off, err)
	}
}

// writeAt overwrites bytes of a file at off.
func writeAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write %d bytes at %d: %v", len(b), off, err)
	}
}

// readAt returns n bytes of a file at off.
func readAt(t testing.TB, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %d bytes at %d: %v", n, off, err)
	}
	return b
}

func recordOffset(l layout, i uint64) int64 { return l.recordOff + int64(i)*recordSize }

// checkRecordsZeroFrom asserts that every record slot from index k on is
// zero on disk: no stale record survives a recovery.
func checkRecordsZeroFrom(t testing.TB, path string, l layout, k uint64) {
	t.Helper()
	n := int(l.capacity-k) * recordSize
	if n == 0 {
		return
	}
	b := readAt(t, path, recordOffset(l, k), n)
	for i, c := range b {
		if c != 0 {
			t.Fatalf("record slot %d is not zero after recovery", k+uint64(i/recordSize))
		}
	}
}

func segPath(dir string, n uint64) string { return filepath.Join(dir, FileName(n)) }

// writeClosed creates segment 1 of dim and capacity in a fresh directory,
// appends specs with values drawn from a PCG seeded with seed1 and seed2,
// and closes it, for a test to damage and reopen. It returns the
// directory, the file's path and layout, the model of what was appended
// and the random source, for the test to go on with.
func writeClosed(t testing.TB, dim int, capacity uint64, seed1, seed2 uint64, specs []batchSpec) (dir, path string, lay layout, m *model, rng *rand.Rand) {
	t.Helper()
	dir, s, m, rng := newSegment(t, 1, dim, capacity, seed1, seed2)
	appendBatches(t, s, m, rng, specs)
	path, lay = s.Path(), s.lay
	mustClose(t, s)
	return dir, path, lay, m, rng
}

// newSegment creates segment n of dim and capacity in a fresh directory
// and returns the directory, the segment, an empty model of it and a PCG
// seeded with seed1 and seed2 to draw its rows from.
func newSegment(t testing.TB, n uint64, dim int, capacity uint64, seed1, seed2 uint64) (string, *Segment, *model, *rand.Rand) {
	t.Helper()
	dir := t.TempDir()
	return dir, mustCreate(t, dir, n, dim, capacity), &model{dim: dim}, rand.New(rand.NewPCG(seed1, seed2))
}
