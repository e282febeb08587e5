package segment

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
)

// tornSpecs ends with a keyed batch with payloads and superseded IDs, the
// one the torn-tail tests tear; an unkeyed and a supersede-only batch sit
// before it.
func tornSpecs() []keyedSpec {
	return []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 3, durable: true}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 4, rows: 2}},
		{batchSpec: batchSpec{firstID: 8, rows: 1}, supersedes: 2},
		{batchSpec: batchSpec{firstID: 9, rows: 4}, keyed: true, payloads: true, supersedes: 3, reuse: 2},
	}
}

// checkTorn opens the active segment in dir and checks that it holds
// exactly the first want batches of m and km, that the file was cut back
// to the end of their blobs with no stale record left, and that it takes
// a keyed batch that reads back after a reopen.
func checkTorn(t *testing.T, what string, dir string, dim int, capacity uint64, bound uint64, m *model, km *keyModel, want int) {
	t.Helper()
	s, err := OpenActive(nil, dir, 1, dim, capacity, bound)
	if err != nil {
		t.Fatalf("%s: OpenActive: %v", what, err)
	}
	wm, wk := m.prefix(want), km.prefix(m, want)
	checkModel(t, s, wm)
	checkKeys(t, s, wk, true)
	end := s.lay.size
	for _, n := range wk.blobLen {
		end += int64(n)
	}
	if s.blobEnd != end || s.Size() != end {
		t.Fatalf("%s: blobs end at %d, Size %d, want %d", what, s.blobEnd, s.Size(), end)
	}
	checkFileSize(t, s)
	checkRecordsZeroFrom(t, s.Path(), s.lay, uint64(want))
	rng := rand.New(rand.NewPCG(uint64(want), 50))
	appendKeyed(t, s, wm, wk, rng, []keyedSpec{{batchSpec: batchSpec{firstID: 100, rows: 2}, keyed: true, payloads: true, supersedes: 1}})
	mustClose(t, s)
	s, err = OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatalf("%s: reopen after an append: %v", what, err)
	}
	defer s.Close()
	checkModel(t, s, wm)
	checkKeys(t, s, wk, true)
}

// Cutting the last batch's blob or record at every byte offset leaves
// exactly the batches before it: a blob cut short by the file's end, a
// blob whose tail never reached the disk (zeros), and a record whose tail
// never did.
func TestKeyedTornTailEveryOffset(t *testing.T) {
	const dim, capacity = 2, 16
	specs := tornSpecs()
	dir, s, m, km := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(51, 52)), specs)
	path, lay := s.Path(), s.lay
	last := len(specs) - 1
	blobOff := lay.size
	for _, n := range km.blobLen[:last] {
		blobOff += int64(n)
	}
	blobEnd := blobOff + int64(km.blobLen[last])
	recOff := lay.recordAt(uint64(last))
	mustClose(t, s)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(orig)) != blobEnd || km.blobLen[last] == 0 {
		t.Fatalf("file of %d bytes, last blob [%d, %d)", len(orig), blobOff, blobEnd)
	}
	bound := m.start[1] // the first batch was durable
	run := func(what string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := last
		if bytes.Equal(b, orig) {
			want = last + 1
		}
		checkTorn(t, what, dir, dim, capacity, bound, m, km, want)
	}
	cases := 0
	for o := blobOff; o <= blobEnd; o++ {
		run("blob cut by the end of file", orig[:o])
		b := bytes.Clone(orig)
		clear(b[o:])
		run("blob tail zero", b)
		cases += 2
	}
	for o := recOff; o <= recOff+recordSize; o++ {
		b := bytes.Clone(orig)
		clear(b[o : recOff+recordSize])
		run("record tail zero", b)
		cases++
	}
	t.Logf("%d torn tails", cases)
}

// A power cut after unsynced keyed batches, with each sector of the file
// and its size as of a random moment (vfs.Fault.CrashTorn), leaves a prefix
// of the batches at or past the synced ones, with their keys, payloads and
// superseded IDs exactly.
func TestKeyedCrashTorn(t *testing.T) {
	const dim, capacity = 2, 16
	kept := map[int]int{}
	for seed := range uint64(300) {
		dir := t.TempDir()
		f := vfs.NewFault(nil, seed)
		f.Sector = 16
		if seed%2 == 1 {
			f.Sector = 512 // fewer pieces: the last batch survives now and then
		}
		s, err := Create(f, dir, 1, dim, capacity, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, km := &model{dim: dim}, &keyModel{}
		specs := tornSpecs()
		specs[2].syncAfter = seed%2 == 1 // then only the last batch can tear
		appendKeyed(t, s, m, km, rand.New(rand.NewPCG(seed, 53)), specs)
		if err := f.CrashTorn(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		r, err := OpenActive(nil, dir, 1, dim, capacity, 0)
		if err != nil {
			t.Fatalf("seed %d: OpenActive: %v", seed, err)
		}
		k := batchesHeld(m, r.Rows())
		r.Close()
		if k < 1 {
			t.Fatalf("seed %d: %d rows: not a batch boundary at or past the synced batch", seed, r.Rows())
		}
		checkTorn(t, "crash", dir, dim, capacity, 0, m, km, k)
		kept[k]++
	}
	t.Logf("batches kept: %v", kept)
	if len(kept) < 4 {
		t.Fatalf("every crash kept the same batches (%v): the test tears nothing", kept)
	}
}
