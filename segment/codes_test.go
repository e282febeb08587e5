package segment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/internal/vfs"
)

// codeDims are the dimensions the code tests run at: the smallest, an odd
// one (the code area's rows are not aligned), a real one, and one past
// quant.MaxDim, which has no codes.
var codeDims = []int{1, 3, 512, quant.MaxDim + 1}

// codeCapacity keeps the files of the largest dimension small.
func codeCapacity(dim int) uint64 {
	if dim > quant.MaxDim {
		return 4
	}
	return 12
}

// codedSpec is one batch of a code test: encoded by the segment, or with
// codes and metas given (random bytes: the segment must write them as
// they are, never re-encode them).
type codedSpec struct {
	batchSpec
	given bool
	keyed bool
}

// appendCoded appends specs with rows from rng and records them in m.
func appendCoded(t testing.TB, s *Segment, m *model, rng *rand.Rand, specs []codedSpec) {
	t.Helper()
	synced := s.synced
	for _, b := range specs {
		vecs, norms := randomRows(rng, b.rows, m.dim)
		codes, metas := EncodeCodes(vecs)
		batch := Batch{FirstID: b.firstID, Vecs: vecs, InvNorms: norms}
		if b.given && CodeStrideFor(m.dim) > 0 {
			for i := range codes {
				codes[i] = byte(rng.Uint32())
			}
			for i := range metas {
				metas[i] = byte(rng.Uint32())
			}
			batch.Codes, batch.Meta = codes, metas
		}
		if b.keyed {
			for i := range b.rows {
				batch.Keys = append(batch.Keys, fmt.Appendf(nil, "key-%d-%d", b.firstID, i))
			}
		}
		if err := s.AppendBatch(batch, b.durable); err != nil {
			t.Fatalf("AppendBatch(%d, %d rows): %v", b.firstID, b.rows, err)
		}
		m.addCodes(b.firstID, vecs, norms, synced, codes, metas)
		synced = syncedAfter(t, s, m, b.batchSpec, synced)
	}
}

func codedSpecs() []codedSpec {
	return []codedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 2, durable: true}},
		{batchSpec: batchSpec{firstID: 3, rows: 3}, given: true},
		{batchSpec: batchSpec{firstID: 10, rows: 1}, keyed: true},
		{batchSpec: batchSpec{firstID: 11, rows: 2}, given: true, keyed: true},
	}
}

// A version 4 segment holds each row's codes and metas, encoded or as
// given, through append, reopen, seal and reopen sealed, and every check
// passes; past quant.MaxDim it holds none.
func TestCodesRoundTrip(t *testing.T) {
	for _, dim := range codeDims {
		t.Run(fmt.Sprintf("dim=%d", dim), func(t *testing.T) {
			capacity := codeCapacity(dim)
			dir, s, m, rng := newSegment(t, 1, dim, capacity, 81, uint64(dim))
			specs := codedSpecs()
			if dim > quant.MaxDim {
				specs = specs[:3] // 6 rows do not fit
				specs[2].rows = 1
				specs[1].rows = 1
			}
			appendCoded(t, s, m, rng, specs)
			if s.Version() != Version || s.HasCodes() != (dim <= quant.MaxDim) {
				t.Fatalf("version %d HasCodes %v", s.Version(), s.HasCodes())
			}
			checkModel(t, s, m)
			mustClose(t, s)
			s, err := OpenActive(nil, dir, 1, dim, capacity, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, s, m)
			if err := s.Verify(context.Background(), nil); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			seal := mustSeal(t, s)
			if seal.Checksum != s.DataSum(s.Rows()) {
				t.Fatalf("seal checksum %#x, DataSum %#x", seal.Checksum, s.DataSum(s.Rows()))
			}
			s = reopenSealed(t, s, seal)
			defer s.Close()
			checkModel(t, s, m)
			if err := s.Verify(context.Background(), &seal); err != nil {
				t.Fatalf("Verify sealed: %v", err)
			}
			if err := s.VerifyData(context.Background(), &seal); err != nil {
				t.Fatalf("VerifyData sealed: %v", err)
			}
		})
	}
}

// DataSum, the sealed checksum, covers the codes and metas: two segments
// with the same rows but different codes have different sums.
func TestDataSumCoversCodes(t *testing.T) {
	const dim, capacity = 3, 4
	vecs := [][]float32{{1, 2, 3}, {-1, 0.5, 7}}
	norms := []float32{0.25, 0.5}
	codes, metas := EncodeCodes(vecs)
	sums := map[uint64]string{}
	for _, tc := range []struct {
		name string
		flip func()
	}{
		{"encoded", func() {}},
		{"code byte", func() { codes[4] ^= 1 }},
		{"meta byte", func() { codes[4] ^= 1; metas[17] ^= 0x80 }},
	} {
		tc.flip()
		s := mustCreate(t, t.TempDir(), 1, dim, capacity)
		if err := s.AppendBatch(Batch{FirstID: 1, Vecs: vecs, InvNorms: norms, Codes: codes, Meta: metas}, false); err != nil {
			t.Fatal(err)
		}
		sum := s.DataSum(2)
		mustClose(t, s)
		if prev, ok := sums[sum]; ok {
			t.Fatalf("%s: DataSum %#x equals that of %s", tc.name, sum, prev)
		}
		sums[sum] = tc.name
	}
}

// codeOffset returns the offset of byte at of row row's codes (meta false)
// or meta (meta true).
func codeOffset(l layout, row uint64, at int64, meta bool) int64 {
	if meta {
		return l.metaOff + int64(row)*l.metaSize + at
	}
	return l.codeOff + int64(row)*l.codeStride + at
}

// A flipped code or meta byte is ErrCorrupt wherever it is checked: in a
// sealed segment by Verify and VerifyData (the serve gate), in an active
// one below the durable bound (which Open does not checksum) by Verify and
// Seal; past the bound, Open cuts the batch as a torn tail. It is never
// served as data.
func TestCodesDamageDetected(t *testing.T) {
	for _, dim := range []int{3, 512} {
		for _, meta := range []bool{false, true} {
			what := fmt.Sprintf("dim=%d/meta=%v", dim, meta)
			capacity := codeCapacity(dim)
			specs := codedSpecs()
			// Batch 1 (rows 2..4), a middle one, is damaged.
			at := int64(dim) - 1
			if meta {
				at = 5
			}
			damage := func(path string, lay layout) { xorByte(t, path, codeOffset(lay, 3, at, meta), 0x10) }
			t.Run(what+"/sealed", func(t *testing.T) {
				dir, s, m, rng := newSegment(t, 1, dim, capacity, 82, 83)
				appendCoded(t, s, m, rng, specs)
				seal := mustSeal(t, s)
				path, lay := s.Path(), s.lay
				mustClose(t, s)
				damage(path, lay)
				s = mustOpen(t, dir, 1, dim, capacity, &seal)
				defer s.Close()
				for name, err := range map[string]error{
					"Verify":     s.Verify(context.Background(), &seal),
					"VerifyData": s.VerifyData(context.Background(), &seal),
				} {
					if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
						t.Fatalf("%s: %v, want ErrCorrupt naming the file and an offset", name, err)
					}
				}
			})
			t.Run(what+"/active below the bound", func(t *testing.T) {
				dir, s, m, rng := newSegment(t, 1, dim, capacity, 84, 85)
				appendCoded(t, s, m, rng, specs)
				path, lay, rows := s.Path(), s.lay, s.Rows()
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
				mustClose(t, s)
				damage(path, lay)
				s, err := OpenActive(nil, dir, 1, dim, capacity, rows)
				if err != nil {
					t.Fatalf("OpenActive: %v", err)
				}
				defer s.Close()
				wantAt := fmt.Sprintf("offset %d", lay.recordAt(1))
				if err := s.Verify(context.Background(), nil); !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), wantAt) {
					t.Fatalf("Verify: %v, want ErrCorrupt at %s", err, wantAt)
				}
				if err := s.VerifyData(context.Background(), nil); !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("VerifyData: %v, want ErrCorrupt", err)
				}
				if _, err := s.Seal(); !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("Seal: %v; damage below the bound must not be sealed in", err)
				}
			})
			t.Run(what+"/active past the bound", func(t *testing.T) {
				dir, s, m, rng := newSegment(t, 1, dim, capacity, 86, 87)
				appendCoded(t, s, m, rng, specs)
				path, lay := s.Path(), s.lay
				mustClose(t, s)
				damage(path, lay)
				s, err := OpenActive(nil, dir, 1, dim, capacity, m.start[1])
				if err != nil {
					t.Fatalf("OpenActive: %v", err)
				}
				defer s.Close()
				checkModel(t, s, m.prefix(1))
				checkRecordsZeroFrom(t, path, lay, 1)
			})
		}
	}
}

// A torn write of the last batch's codes or metas (the tail of the area
// never reached the disk, which holds zeros there) invalidates the batch,
// like a torn write of its rows: Open keeps exactly the batches before it.
func TestCodesTornWrite(t *testing.T) {
	const dim, capacity = 5, 12
	specs := codedSpecs()
	last := len(specs) - 1
	for _, meta := range []bool{false, true} {
		dir, s, m, rng := newSegment(t, 1, dim, capacity, 88, 89)
		appendCoded(t, s, m, rng, specs)
		path, lay := s.Path(), s.lay
		mustClose(t, s)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		from, to := codeOffset(lay, m.start[last], 0, meta), codeOffset(lay, m.rows(), 0, meta)
		cut, kept := 0, 0
		for o := from; o < to; o++ {
			b := bytes.Clone(orig)
			clear(b[o:to])
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			want := last
			if bytes.Equal(b, orig) { // the bytes were zeros: nothing torn
				want = last + 1
				kept++
			} else {
				cut++
			}
			s, err := OpenActive(nil, dir, 1, dim, capacity, m.start[1])
			if err != nil {
				t.Fatalf("meta %v, torn at %d: OpenActive: %v", meta, o, err)
			}
			checkModel(t, s, m.prefix(want))
			checkRecordsZeroFrom(t, path, lay, uint64(want))
			mustClose(t, s)
		}
		if cut == 0 {
			t.Fatalf("meta %v: no torn write changed a byte", meta)
		}
		t.Logf("meta %v: %d torn writes cut the batch, %d changed nothing", meta, cut, kept)
	}
}

// A power cut after unsynced batches, each sector of the file as of a
// random moment (vfs.Fault.CrashTorn), leaves a prefix of the batches
// whose codes and metas are exactly those appended.
func TestCodesCrashTorn(t *testing.T) {
	const dim, capacity = 24, 16 // 24 code bytes a row: batches straddle sectors
	kept := map[int]int{}
	for seed := range uint64(200) {
		dir := t.TempDir()
		f := vfs.NewFault(nil, seed)
		f.Sector = 16
		specs := codedSpecs()
		if seed%2 == 1 {
			// Fewer pieces, and only the last batch can tear: it
			// survives now and then.
			f.Sector = 512
			specs[2].syncAfter = true
		}
		s, err := Create(f, dir, 1, dim, capacity, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{dim: dim}
		appendCoded(t, s, m, rand.New(rand.NewPCG(seed, 90)), specs)
		if err := f.CrashTorn(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		r, err := OpenActive(nil, dir, 1, dim, capacity, 0)
		if err != nil {
			t.Fatalf("seed %d: OpenActive: %v", seed, err)
		}
		k := batchesHeld(m, r.Rows())
		if k < 1 {
			t.Fatalf("seed %d: %d rows: not a batch boundary at or past the synced batch", seed, r.Rows())
		}
		checkModel(t, r, m.prefix(k))
		if err := r.Verify(context.Background(), nil); err != nil {
			t.Fatalf("seed %d: Verify: %v", seed, err)
		}
		r.Close()
		kept[k]++
	}
	t.Logf("batches kept: %v", kept)
	if len(kept) < 3 {
		t.Fatalf("every crash kept the same batches (%v): the test tears nothing", kept)
	}
}

// A failed write of a batch's codes or metas, like that of its rows,
// fails the append, poisons the segment, and leaves the batch out of the
// file.
func TestCodesWriteFaults(t *testing.T) {
	const dim, capacity = 3, 8
	for i := 1; i <= 5; i++ { // rows, norms, codes, metas, record
		dir := t.TempDir()
		f := vfs.NewFault(nil, 0)
		s, err := Create(f, dir, 1, dim, capacity, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{dim: dim}
		rng := rand.New(rand.NewPCG(91, 92))
		appendCoded(t, s, m, rng, codedSpecs()[:1])
		var writes []int64
		f.SetHook(func(ev vfs.Event) vfs.Decision {
			if ev.Kind == vfs.OpWrite {
				writes = append(writes, ev.Off)
				if len(writes) == i {
					return vfs.Decision{Err: syscall.EIO, Short: 1}
				}
			}
			return vfs.Decision{}
		})
		vecs, norms := randomRows(rng, 2, dim)
		if err := s.Append(50, vecs, norms, true); !errors.Is(err, syscall.EIO) {
			t.Fatalf("write %d: Append: %v", i, err)
		}
		if i == 3 && writes[2] != s.lay.codeOff+int64(m.rows())*dim || i == 4 && writes[3] != s.lay.metaOff+int64(m.rows())*quant.MetaSize {
			t.Fatalf("writes at %v: the third and fourth are not the codes and metas", writes)
		}
		if err := s.Append(50, vecs, norms, true); !errors.Is(err, syscall.EIO) {
			t.Fatalf("write %d: Append after the failure: %v", i, err)
		}
		s.Close()
		r := mustOpenActive(t, dir, 1, dim, capacity)
		checkModel(t, r, m)
		r.Close()
	}
}

// AppendBatch checks the codes and metas it is given; a segment without
// codes (an older version) ignores well-formed ones.
func TestAppendBatchCodeArgs(t *testing.T) {
	vecs := [][]float32{{1, 2, 3}, {4, 5, 6}}
	norms := []float32{1, 1}
	codes, metas := EncodeCodes(vecs)
	s := mustCreate(t, t.TempDir(), 1, 3, 8)
	defer s.Close()
	for name, b := range map[string]Batch{
		"codes without metas": {Codes: codes},
		"metas without codes": {Meta: metas},
		"short codes":         {Codes: codes[:5], Meta: metas},
		"long metas":          {Codes: codes, Meta: append(bytes.Clone(metas), 0)},
	} {
		b.FirstID, b.Vecs, b.InvNorms = 1, vecs, norms
		if err := s.AppendBatch(b, false); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if s.Rows() != 0 {
		t.Fatalf("refused batches left %d rows", s.Rows())
	}
	big := mustCreate(t, t.TempDir(), 1, quant.MaxDim+1, 1)
	defer big.Close()
	v := make([]float32, quant.MaxDim+1)
	v[0] = 1
	if err := big.AppendBatch(Batch{FirstID: 1, Vecs: [][]float32{v}, InvNorms: []float32{1}, Codes: []byte{1}, Meta: make([]byte, quant.MetaSize)}, false); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Errorf("codes past quant.MaxDim: %v, want ErrInvalidArgument", err)
	}
	for _, version := range []uint32{2, 3} {
		dir := t.TempDir()
		old, err := CreateVersion(nil, dir, 1, 3, 8, 0, version)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{dim: 3}
		if err := old.AppendBatch(Batch{FirstID: 1, Vecs: vecs, InvNorms: norms, Codes: codes, Meta: metas}, true); err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		m.add(1, vecs, norms, 0)
		checkModel(t, old, m) // HasCodes false, no codes
		if got := old.Size(); got != layoutFor(version, 3, 8).size {
			t.Fatalf("version %d: file of %d bytes", version, got)
		}
		seal := mustSeal(t, old)
		old = reopenSealed(t, old, seal)
		checkModel(t, old, m)
		if err := old.Verify(context.Background(), &seal); err != nil {
			t.Fatalf("version %d: Verify: %v", version, err)
		}
		old.Close()
	}
}

// The codes cost rows: about a fifth fewer per file at dimension 512.
func TestCapacityWithCodes(t *testing.T) {
	const size = 64 << 20
	with := Capacity(512, size)
	without := uint64((size - HeaderSize) / rowCostFor(3, 512))
	if r := float64(with) / float64(without); r < 0.75 || r > 0.85 {
		t.Fatalf("Capacity(512) = %d, %d without codes (%.2f)", with, without, r)
	}
	if FileSize(512, with) > size {
		t.Fatalf("FileSize(512, %d) = %d, over %d", with, FileSize(512, with), size)
	}
	if c := Capacity(quant.MaxDim+1, 1<<30); c != uint64((1<<30-HeaderSize-layoutSlack)/rowCostFor(3, quant.MaxDim+1)) {
		t.Fatalf("Capacity past quant.MaxDim = %d: rows without codes cost what they did", c)
	}
}

// Files of version 3 keep their layout (no code areas: the records follow
// the norms) through keyed appends, a reopen with a torn tail, a seal with
// key tables and a reopen sealed; they hold no codes.
func TestVersion3KeepsItsFormat(t *testing.T) {
	const dim, capacity = 3, 16
	dir := t.TempDir()
	s, err := CreateVersion(nil, dir, 1, dim, capacity, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	lay := layoutFor(3, dim, capacity)
	if s.lay != lay || s.HasCodes() || lay.recordOff != align(lay.normsOff+capacity*4, 8) || s.Size() != lay.size {
		t.Fatalf("version 3 layout %+v, file of %d bytes", s.lay, s.Size())
	}
	m, km := &model{dim: dim}, &keyModel{}
	rng := rand.New(rand.NewPCG(95, 96))
	specs := tornSpecs()
	appendKeyed(t, s, m, km, rng, specs)
	path := s.Path()
	mustClose(t, s)
	// The last batch's record, where version 3 puts it, is torn.
	last := uint64(len(specs) - 1)
	if rec, err := decodeRecordFor(3, readAt(t, path, lay.recordAt(last), recordSize)); err != nil || rec.FirstRow != m.start[last] {
		t.Fatalf("record %d: %+v, %v", last, rec, err)
	}
	xorByte(t, path, lay.recordAt(last)+56, 1)
	s, err = OpenActive(nil, dir, 1, dim, capacity, m.start[1])
	if err != nil {
		t.Fatal(err)
	}
	m, km = m.prefix(int(last)), km.prefix(m, int(last))
	appendKeyed(t, s, m, km, rng, []keyedSpec{{batchSpec: batchSpec{firstID: 60, rows: 3}, keyed: true, payloads: true}})
	s, seal := checkSealing(t, s, func(s *Segment, what string) {
		checkModel(t, s, m)
		checkKeys(t, s, km, what == "active")
	})
	defer s.Close()
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s.Version() != 3 || s.TablesErr() != nil {
		t.Fatalf("version %d, tables %v", s.Version(), s.TablesErr())
	}
}
