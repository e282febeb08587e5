//go:build linux

package segment

import (
	"context"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/vfs"
)

// Tests of the page-cache advice (advise.go) that read the page cache
// with mincore. A segment of 8,192 rows of 512 dimensions: 16 MiB of
// vectors, 4 MiB of codes.

const pcDim, pcRows = 512, 8192

// sealedForCache makes a full sealed segment, reopened (so its vector
// area is advised random), with nothing of it in the page cache.
func sealedForCache(t *testing.T) *Segment {
	t.Helper()
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, pcDim, pcRows)
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 0; r < pcRows; r += 1024 {
		vecs := make([][]float32, 1024)
		norms := make([]float32, 1024)
		for i := range vecs {
			vecs[i] = make([]float32, pcDim)
			for j := range vecs[i] {
				vecs[i][j] = rng.Float32() - 0.5
			}
			norms[i] = 1
		}
		if err := s.Append(uint64(r), vecs, norms, false); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenSealed(t, s, mustSeal(t, s))
	t.Cleanup(func() { s.Close() })
	evict(t, s)
	return s
}

// evict drops every page of s's file from the page cache (they are clean:
// Seal synced them) and checks that it worked.
func evict(t *testing.T, s *Segment) {
	t.Helper()
	s.dropPages(0, int64(len(s.m)))
	if n := residentPages(t, s.m); n != 0 {
		t.Skipf("%d pages of the file stay cached after FADV_DONTNEED: cannot test the page cache here", n)
	}
}

// resident returns which pages of b (page-aligned) are in the page cache.
func resident(t *testing.T, b []byte) []bool {
	t.Helper()
	cold := residency(b, nil)
	if cold == nil {
		t.Fatal("mincore failed")
	}
	for i := range cold {
		cold[i] = !cold[i]
	}
	return cold
}

func residentPages(t *testing.T, b []byte) int {
	n := 0
	for _, in := range resident(t, b) {
		if in {
			n++
		}
	}
	return n
}

// vectorArea returns the whole pages of the vector area.
func vectorArea(s *Segment) []byte { return s.inner(HeaderSize, s.lay.vectorOff(s.lay.capacity)) }

// hotArea returns the pages of the norms, codes and metas.
func hotArea(s *Segment) []byte {
	r := s.hotRanges(s.Rows())
	return s.span(r[0][0], r[2][1])
}

// A sealed segment's vectors are advised random: reading one row of a
// cold segment reads its own pages only, not the rows around it (the
// kernel's read-around would bring in 128 KiB or more).
func TestAdviseRowsRandom(t *testing.T) {
	s := sealedForCache(t)
	row := s.Vectors(4000, 4001)
	var sum float32
	for _, x := range row {
		sum += x
	}
	if n := residentPages(t, vectorArea(s)); n == 0 || n > 2 {
		t.Fatalf("reading one row of 2 KiB brought %d pages of vectors into the page cache; want 1 or 2 (sum %v)", n, sum)
	}
}

// AdviseCodes starts reading the norms, codes and metas, and nothing of
// the vectors; it runs once.
func TestAdviseCodes(t *testing.T) {
	s := sealedForCache(t)
	if !s.AdviseCodes() {
		t.Fatal("first AdviseCodes did nothing")
	}
	if s.AdviseCodes() {
		t.Fatal("second AdviseCodes ran again")
	}
	hot := hotArea(s)
	want := len(resident(t, hot))
	// The reads are asynchronous: wait for them to land (not a sleep
	// standing in for a synchronisation: mincore is the only signal).
	deadline := time.Now().Add(20 * time.Second)
	for residentPages(t, hot) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d code pages cached 20 s after WILLNEED", residentPages(t, hot), want)
		}
		time.Sleep(time.Millisecond)
	}
	if n := residentPages(t, vectorArea(s)); n != 0 {
		t.Fatalf("AdviseCodes read %d pages of vectors", n)
	}
}

// PrefetchVectors reads exactly the pages of the rows asked for.
func TestPrefetchVectors(t *testing.T) {
	s := sealedForCache(t)
	rows := []uint64{3, 1000, 1001, 5000, 8191}
	for _, r := range rows {
		s.PrefetchVectors(r, r+1)
	}
	want := map[int]bool{}
	base := pageUp(HeaderSize)
	for _, r := range rows {
		for p := pageDown(s.lay.vectorOff(r)); p < s.lay.vectorOff(r+1); p += pageSize {
			want[int((p-base)/pageSize)] = true
		}
	}
	area := vectorArea(s)
	deadline := time.Now().Add(20 * time.Second)
	for residentPages(t, area) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for i, in := range resident(t, area) {
		if in != want[i] {
			t.Fatalf("vector page %d cached %v after prefetching rows %v", i, in, rows)
		}
	}
}

// StreamVectors hands every row over once, in order, and drops behind
// it the vector pages it found cold, only those: the pages cached before
// (here the first half) and the codes stay.
func TestStreamVectorsDropsColdOnly(t *testing.T) {
	s := sealedForCache(t)
	half := uint64(pcRows / 2)
	touch(s.Vectors(0, half))
	touch(s.Codes(0, pcRows))
	before := resident(t, vectorArea(s))
	hotBefore := residentPages(t, hotArea(s))
	next := uint64(0)
	dropped, err := s.StreamVectors(0, pcRows, func(from, to uint64) error {
		if from != next || to <= from {
			t.Fatalf("run [%d, %d) after %d", from, to, next)
		}
		next = to
		touch(s.Vectors(from, to))
		return nil
	})
	if err != nil || next != pcRows {
		t.Fatalf("stream ended at %d: %v", next, err)
	}
	after := resident(t, vectorArea(s))
	kept, cold := 0, 0
	for i := range after {
		if before[i] && !after[i] {
			t.Fatalf("page %d, cached before the stream, was dropped", i)
		}
		if !before[i] {
			cold++
			if after[i] {
				kept++
			}
		}
	}
	// The kernel drops whole folios: at most one of 2 MiB at each end of
	// the cold part may stay.
	if slack := 2 * folioMax / int(pageSize); cold < 1000 || kept > slack {
		t.Fatalf("%d of the %d vector pages cold before the stream stay cached after it", kept, cold)
	}
	if dropped < int64(cold-kept)*pageSize {
		t.Fatalf("dropped %d bytes, %d pages", dropped, cold-kept)
	}
	if n := residentPages(t, hotArea(s)); n < hotBefore {
		t.Fatalf("code pages cached: %d before the stream, %d after", hotBefore, n)
	}
	// A stream over cached rows drops nothing.
	if dropped, _ := s.StreamVectors(0, half, func(from, to uint64) error { return nil }); dropped != 0 {
		t.Fatalf("a stream over cached rows dropped %d bytes", dropped)
	}
	// fn's error stops the stream.
	stop := errors.New("stop")
	if _, err := s.StreamVectors(0, pcRows, func(from, to uint64) error { return stop }); err != stop {
		t.Fatalf("stream error %v", err)
	}
}

// DropVectors drops the vector pages of its rows and never a code page.
func TestDropVectors(t *testing.T) {
	s := sealedForCache(t)
	touch(s.Vectors(0, pcRows))
	touch(s.Codes(0, pcRows))
	hot := residentPages(t, hotArea(s))
	s.DropVectors(0, pcRows)
	if n := residentPages(t, vectorArea(s)); n != 0 {
		t.Fatalf("%d vector pages cached after DropVectors", n)
	}
	if n := residentPages(t, hotArea(s)); n != hot {
		t.Fatalf("DropVectors dropped code pages: %d cached, %d before", n, hot)
	}
}

// LockCodes locks the code area once and reports what it locked; a
// refusal (RLIMIT_MEMLOCK) is returned and leaves nothing counted.
func TestLockCodes(t *testing.T) {
	s := sealedForCache(t)
	if err := s.LockCodes(); err != nil {
		t.Skipf("mlock refused here: %v", err)
	}
	if got, want := s.LockedBytes(), int64(len(hotArea(s))); got < want {
		t.Fatalf("LockedBytes %d, want at least %d", got, want)
	}
	if n := residentPages(t, hotArea(s)); n != 0 {
		t.Fatalf("LockCodes read %d pages (MLOCK_ONFAULT reads none)", n)
	}
	s2 := sealedForCache(t)
	saved := mlockOnFault
	defer func() { mlockOnFault = saved }()
	mlockOnFault = func([]byte) error { return syscall.EPERM }
	if err := s2.LockCodes(); !errors.Is(err, syscall.EPERM) || s2.LockedBytes() != 0 {
		t.Fatalf("refused lock: %v, LockedBytes %d", err, s2.LockedBytes())
	}
}

var sinkF float32

func touch[T int8 | float32](v []T) {
	var s T
	for i := 0; i < len(v); i += 256 {
		s += v[i]
	}
	sinkF += float32(s)
}

// Verify of a segment out of the page cache leaves it out (its vectors:
// the codes it read stay), and of a cached one leaves it cached.
func TestVerifyLeavesCacheAsFound(t *testing.T) {
	s := sealedForCache(t)
	touch(s.Codes(0, pcRows)) // read-around: some vector pages too
	hot := residentPages(t, hotArea(s))
	area := vectorArea(s)
	before := resident(t, area)
	if err := s.Verify(context.Background(), s.SealInfo()); err != nil {
		t.Fatal(err)
	}
	kept, cold := 0, 0
	for i, in := range resident(t, area) {
		if before[i] && !in {
			t.Fatalf("vector page %d, cached before Verify, was dropped", i)
		}
		if !before[i] {
			cold++
			if in {
				kept++
			}
		}
	}
	if slack := 2 * folioMax / int(pageSize); cold < 1000 || kept > slack {
		t.Fatalf("%d of the %d vector pages cold before Verify are cached after it", kept, cold)
	}
	if n := residentPages(t, hotArea(s)); n < hot {
		t.Fatalf("Verify dropped code pages: %d cached, %d before", n, hot)
	}
	touch(s.Vectors(0, pcRows))
	if err := s.Verify(context.Background(), s.SealInfo()); err != nil {
		t.Fatal(err)
	}
	if n := residentPages(t, area); n != len(area)/int(pageSize) {
		t.Fatalf("%d of %d vector pages cached after a Verify of a cached segment", n, len(area)/int(pageSize))
	}
}

// The drops reach the file through the segment's vfs.FS (File.Fadvise):
// a Fault sees them, and a failed one fails nothing.
func TestDropGoesThroughVFS(t *testing.T) {
	fault := vfs.NewFault(nil, 1)
	dir := t.TempDir()
	s, err := Create(fault, dir, 1, pcDim, 1024, 0)
	if err != nil {
		t.Fatal(err)
	}
	vecs := make([][]float32, 1024)
	norms := make([]float32, 1024)
	for i := range vecs {
		vecs[i] = make([]float32, pcDim)
		vecs[i][i%pcDim] = 1
		norms[i] = 1
	}
	if err := s.Append(0, vecs, norms, true); err != nil {
		t.Fatal(err)
	}
	seal := mustSeal(t, s)
	s.Close()
	if s, err = Open(fault, dir, 1, pcDim, 1024, &seal); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seen []vfs.Event
	fault.SetHook(func(ev vfs.Event) vfs.Decision {
		if ev.Kind == vfs.OpAdvise {
			seen = append(seen, ev)
			return vfs.Decision{Err: syscall.EIO}
		}
		return vfs.Decision{}
	})
	s.DropVectors(0, 1024)
	if len(seen) != 1 || seen[0].Path != s.Path() || seen[0].Off != pageUp(HeaderSize) || seen[0].Len != 1024*pcDim*4 {
		t.Fatalf("advice seen by the FS: %+v", seen)
	}
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify after a refused drop: %v", err)
	}
}

// VectorCached tells a cached row from one out of the page cache.
func TestVectorCached(t *testing.T) {
	s := sealedForCache(t)
	if s.VectorCached(100) {
		t.Fatal("a row of an evicted segment reads as cached")
	}
	touch(s.Vectors(100, 101))
	if !s.VectorCached(100) {
		t.Fatal("a row just read reads as not cached")
	}
}

// The first check of a row of a cold sealed segment of format 5 reads
// the row, its norm and one page of the sum table, and not the whole
// table nor the megabytes around them that the kernel's read-around would bring in (the norms and the
// table's mapping keep no random advice of their own: CheckRows asks for
// the row and its norm, and the table's mapping is advised).
func TestFirstCheckReadsLittle(t *testing.T) {
	s := sealedForCache(t)
	fi, err := s.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.f.Fadvise(0, fi.Size(), vfs.AdviseDontNeed); err != nil {
		t.Skipf("fadvise: %v", err)
	}
	m, err := s.fs.Map(s.f, int(fi.Size()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.fs.Unmap(m)
	if n := residentPages(t, m); n != 0 {
		t.Skipf("%d pages of the file stay cached after FADV_DONTNEED", n)
	}
	if err := s.CheckRows(4000, 4001); err != nil {
		t.Fatal(err)
	}
	// The row (2 KiB, maybe across two pages), its norm's page and one
	// page of the sum table (sumparts.go).
	if n := residentPages(t, m); n > 4 {
		t.Fatalf("checking one row read %d pages of the file; want at most 4: the row's, its norm's and one of the sum table", n)
	}
}

// The header page of a sealed segment is advised random with the rows:
// reading it after Open (a hit's key looks at the seal trailer) reads it
// alone, not the megabytes of rows after it.
func TestHeaderPageReadAlone(t *testing.T) {
	s := sealedForCache(t)
	var sum byte
	for _, b := range s.m[trailerOff : trailerOff+trailerSizeV5] {
		sum += b
	}
	if n := residentPages(t, s.m); n != 1 {
		t.Fatalf("reading the header page brought %d pages of the file into the page cache; want 1 (sum %d)", n, sum)
	}
}
