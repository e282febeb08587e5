package segment

import (
	"os"
	"sync/atomic"

	"github.com/memvec/memvec/internal/vfs"
)

// What a segment tells the kernel about its mapping: see "Page cache" in
// the package doc. Every call here is advice: an error means the advice
// was not taken, never that a read or a write failed, so none is returned
// to the callers of reads (LockCodes reports its own, which the engine
// shows in Stats).

// pageSize is the unit of the kernel's advice and of mincore.
var pageSize = int64(os.Getpagesize())

const (
	// adviseStep is the most one WILLNEED call asks for: the kernel reads
	// at most max(io_pages, ra_pages) pages of one call (a few MiB) and
	// ignores the rest, so a larger range is asked for in steps.
	adviseStep = 2 << 20
	// streamStep is about the vector bytes a stream (StreamVectors) hands
	// over at a time: the next step is read ahead while the caller works
	// on this one, and this one is dropped behind it.
	streamStep = 8 << 20
)

// pageCache is a segment's page-cache state.
type pageCache struct {
	codesAdvised atomic.Bool  // AdviseCodes ran
	lockTried    atomic.Bool  // LockCodes ran
	locked       atomic.Int64 // bytes locked by LockCodes
}

func pageDown(x int64) int64 { return x / pageSize * pageSize }
func pageUp(x int64) int64   { return (x + pageSize - 1) / pageSize * pageSize }

// hotRanges returns the byte ranges of the mapping that a code pass over
// rows [0, rows) reads: their inverse norms, codes and metas (the last two
// empty without codes). They lie side by side after the vectors.
func (s *Segment) hotRanges(rows uint64) [3][2]int64 {
	l := &s.lay
	return [3][2]int64{
		{l.normsOff, l.normsOff + int64(rows)*4},
		{l.codeOff, l.codeOff + int64(rows)*l.codeStride},
		{l.metaOff, l.metaOff + int64(rows)*l.metaSize},
	}
}

// span returns the mapped bytes of whole pages around [off, end), or nil.
func (s *Segment) span(off, end int64) []byte {
	off, end = pageDown(off), min(pageUp(end), int64(len(s.m)))
	if off >= end {
		return nil
	}
	return s.m[off:end]
}

// inner returns the mapped bytes of the whole pages inside [off, end), or
// nil: the pages no byte outside the range shares.
func (s *Segment) inner(off, end int64) []byte {
	off, end = pageUp(off), min(pageDown(end), int64(len(s.m)))
	if off >= end {
		return nil
	}
	return s.m[off:end]
}

// willNeed asks the kernel to start reading the pages of [off, end) of
// the mapping, in steps of adviseStep, without waiting for the reads.
func (s *Segment) willNeed(off, end int64) {
	b := s.span(off, end)
	for len(b) > 0 {
		n := min(len(b), adviseStep)
		madvise(b[:n], adviseWillNeed)
		b = b[n:]
	}
}

// AdviseCodes asks the kernel to read the inverse norms, codes and metas
// of the segment's rows (below Rows) into the page cache, the bytes every
// search's code pass reads, without waiting for the reads. It does so
// once per segment and reports whether this call did it. The engine
// calls it for sealed segments, at the first search.
func (s *Segment) AdviseCodes() bool {
	if !s.pc.codesAdvised.CompareAndSwap(false, true) {
		return false
	}
	for _, r := range s.hotRanges(s.Rows()) {
		s.willNeed(r[0], r[1])
	}
	return true
}

// adviseRows marks the header page and the vector area random (MADV_RANDOM): a fault on a row
// then reads its own pages, not the megabytes of rows around it that the
// kernel's read-around would bring in for a sequential reader. Sequential
// readers of the vectors ask for what they read ahead themselves
// (StreamVectors, PrefetchVectors). The norms, codes and metas keep the
// default read-around. It is set on sealed segments, when opened and when
// sealed.
func (s *Segment) adviseRows() {
	// From the header page on: what reads it after Open (the trailer,
	// when a hit's key is looked up) reads it alone, and a fault there
	// would otherwise read megabytes of rows around it.
	if b := s.inner(0, s.lay.vectorOff(s.lay.capacity)); b != nil {
		madvise(b, adviseRandom)
	}
}

// PrefetchVectors asks the kernel to start reading the pages of the
// vectors of rows [from, to), without waiting: a search calls it for each
// row it is about to rescore, so that their reads are in flight together
// rather than one page fault at a time. Rows must be below Rows.
func (s *Segment) PrefetchVectors(from, to uint64) {
	if from < to {
		s.willNeed(s.lay.vectorOff(from), s.lay.vectorOff(to))
		// And their norms, read with them: a fault on a norm page
		// that is not in the page cache would read around it (the
		// norms keep the default advice, for the code pass), megabytes
		// for one row.
		s.willNeed(s.lay.normsOff+int64(from)*4, s.lay.normsOff+int64(to)*4)
	}
}

// LockCodes locks the pages of the inverse norms, codes and metas of the
// segment's rows in RAM (mlock), each as it is first read (MLOCK_ONFAULT:
// nothing is read by the call), so that the code pass never waits for the
// disk once it has read them. It runs once per segment; a refusal
// (RLIMIT_MEMLOCK) leaves the pages unlocked and is returned. Closing the
// segment unmaps, which unlocks. LockedBytes reports what it locked.
func (s *Segment) LockCodes() error {
	if !s.pc.lockTried.CompareAndSwap(false, true) {
		return nil
	}
	r := s.hotRanges(s.Rows())
	b := s.span(r[0][0], max(r[1][1], r[2][1], r[0][1]))
	if b == nil {
		return nil
	}
	if err := mlockOnFault(b); err != nil {
		return &os.PathError{Op: "mlock", Path: s.path, Err: err}
	}
	s.pc.locked.Store(int64(len(b)))
	return nil
}

// LockedBytes returns the bytes LockCodes locked (0 before it ran, or when
// it was refused).
func (s *Segment) LockedBytes() int64 { return s.pc.locked.Load() }

// dropPages drops the page-cache pages wholly inside [off, end) of the
// file: first from this process's page tables (MADV_DONTNEED on the
// read-only shared mapping, which never loses a byte: the pages are the
// file's), then from the page cache (FADV_DONTNEED, which drops clean
// pages no other process maps). Only vector bytes are ever dropped.
func (s *Segment) dropPages(off, end int64) {
	b := s.inner(off, end)
	if b == nil {
		return
	}
	madvise(b, adviseDontNeed)
	at := pageUp(off)
	s.f.Fadvise(at, int64(len(b)), vfs.AdviseDontNeed)
}

// DropVectors drops the page-cache pages that hold only vectors of rows
// [from, to) (see dropPages): for rows just written and synced that no
// one will read soon, such as a compaction's output. Never the norms,
// codes or metas.
func (s *Segment) DropVectors(from, to uint64) {
	if from < to {
		s.dropPages(s.lay.vectorOff(from), s.lay.vectorOff(to))
	}
}

// StreamVectors calls fn for consecutive runs of rows covering [from,
// to), about streamStep bytes of vectors each, for a reader that goes
// through the vectors once (a compaction, Verify, an export): it asks for
// the next run ahead (WILLNEED) while fn works on this one, and behind fn
// drops the vector pages that were not in the page cache when the stream
// reached them (mincore), so a pass over more rows than the memory holds
// leaves the page cache, codes included, about as it found it, and a pass
// over rows already cached drops nothing. It returns the bytes it
// dropped, and fn's first error. Rows must be below Rows.
//
// The kernel drops whole folios only (up to 2 MiB, aligned), and reads
// ahead into large ones: the drops stop at a 2 MiB boundary of the file,
// and the pages past it wait for the next run's drop.
func (s *Segment) StreamVectors(from, to uint64, fn func(from, to uint64) error) (int64, error) {
	return s.streamVectors(from, to, true, fn)
}

// streamVectors is StreamVectors, which drops behind only with drop: a
// reader that goes over the rows again at once (Verify) keeps them for
// its second pass, whose stream drops them.
func (s *Segment) streamVectors(from, to uint64, drop bool, fn func(from, to uint64) error) (int64, error) {
	if from >= to {
		return 0, nil
	}
	rs := s.newRowStream(from, to, !drop)
	for a := from; a < to; a += rs.step {
		b := min(a+rs.step, to)
		rs.at(a)
		if err := fn(a, b); err != nil {
			return rs.dropped, err
		}
	}
	rs.at(to)
	return rs.dropped, nil
}

// rowStream is the read-ahead and drop-behind of StreamVectors, for a
// reader that goes through the vectors of rows [from, to) in order at
// its own pace (Verify's check of the batch records) and says where it is
// with at.
type rowStream struct {
	stream
	to, step uint64
	asked    uint64 // rows below it were looked at and asked for
	keep     bool   // drop nothing
}

func (s *Segment) newRowStream(from, to uint64, keep bool) *rowStream {
	return &rowStream{
		keep:   keep,
		stream: stream{s: s, done: pageDown(s.lay.vectorOff(from))},
		to:     to,
		step:   max(1, uint64(streamStep/(int64(s.lay.dim)*4))),
		asked:  from,
	}
}

// at tells the stream that the rows below row are done with and the
// reader goes on from row: the rows up to a run past the one starting at
// row are asked for (each run once), and the cold pages below row (to a
// 2 MiB boundary of the file, or all of them at the end) are dropped.
func (rs *rowStream) at(row uint64) {
	for want := min(row+2*rs.step, rs.to); rs.asked < want; {
		b := min(rs.asked+rs.step, rs.to)
		rs.look(rs.asked, b)
		rs.asked = b
	}
	if rs.keep {
		return
	}
	upTo := rs.s.lay.vectorOff(row)
	if row < rs.to {
		upTo = upTo / folioMax * folioMax
	}
	rs.dropTo(upTo)
}

// folioMax is the largest page-cache folio (a PMD, on x86-64 and arm64
// with 4 KiB pages).
const folioMax = 2 << 20

// stream is StreamVectors' record of which pages were cold: cold[i] is
// the page at file offset base+i*pageSize; pages below done are handed
// back to the kernel already.
type stream struct {
	s       *Segment
	base    int64
	cold    []bool
	done    int64
	dropped int64
}

// look records which pages of the vectors of rows [a, b) are cold, then
// asks for them.
func (st *stream) look(a, b uint64) {
	st.record(a, b)
	st.s.PrefetchVectors(a, b)
}

// coldVectors returns a stream that knows which vector pages of rows [0,
// rows) are out of the page cache now, having asked for nothing: Verify
// takes it before its two passes over the rows (which keep them cached
// for each other) and drops those pages after both (dropTo).
func (s *Segment) coldVectors(rows uint64) *stream {
	st := &stream{s: s, done: pageDown(HeaderSize)}
	step := max(1, uint64(streamStep/(int64(s.lay.dim)*4)))
	for a := uint64(0); a < rows; a += step {
		st.record(a, min(a+step, rows))
	}
	return st
}

// record records which pages of the vectors of rows [a, b) are cold.
func (st *stream) record(a, b uint64) {
	off, end := st.s.lay.vectorOff(a), st.s.lay.vectorOff(b)
	span := st.s.span(off, end)
	v := residency(span, nil)
	first := pageDown(off)
	if len(st.cold) == 0 {
		st.base = first
	}
	for i, c := range v {
		at := int((first-st.base)/pageSize) + i
		if at < len(st.cold) {
			continue // shared with the previous run: its record stands
		}
		for len(st.cold) < at {
			st.cold = append(st.cold, false)
		}
		st.cold = append(st.cold, c)
	}
}

// dropTo drops the cold pages wholly inside [done, upTo) and forgets them.
func (st *stream) dropTo(upTo int64) {
	if upTo <= st.done {
		return
	}
	lo := st.done
	for p := pageDown(lo); p < upTo; {
		i := int((p - st.base) / pageSize)
		if i < 0 || i >= len(st.cold) || !st.cold[i] {
			p += pageSize
			continue
		}
		q := p
		for q < upTo && i < len(st.cold) && st.cold[i] {
			q += pageSize
			i++
		}
		a, b := max(p, lo), min(q, upTo)
		if in := st.s.inner(a, b); in != nil {
			st.s.dropPages(a, b)
			st.dropped += int64(len(in))
		}
		p = q
	}
	st.done = upTo
	if k := int((pageDown(upTo) - st.base) / pageSize); k > 0 && k <= len(st.cold) {
		st.cold = st.cold[k:]
		st.base += int64(k) * pageSize
	}
}

// CodesAdvised reports whether AdviseCodes has run.
func (s *Segment) CodesAdvised() bool { return s.pc.codesAdvised.Load() }

// VectorCached reports whether the page holding the start of row's vector
// is in the page cache (mincore; true where that cannot be told), for a
// reader deciding whether asking for its rows ahead is worth a system
// call per row: the engine samples a few rows of a SearchIn.
func (s *Segment) VectorCached(row uint64) bool {
	return pageCached(s.span(s.lay.vectorOff(row), s.lay.vectorOff(row)+1))
}

// adviseTable advises a mapping m of a file that is read only in [off,
// end): random (no read-around past the range), and the range's pages
// asked for in steps.
func adviseTable(m []byte, off, end int64) {
	madvise(m, adviseRandom)
	b := m[pageDown(off):min(pageUp(end), int64(len(m)))]
	for len(b) > 0 {
		n := min(len(b), adviseStep)
		madvise(b[:n], adviseWillNeed)
		b = b[n:]
	}
}
