package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// What the engine tells the kernel about the page cache (see "Page cache"
// in package segment's doc): the codes of sealed segments are read ahead
// at the first search and, with Config.LockCodes, locked; the rows a
// search rescores are asked for all at once before they are read; a
// float32 scan of a sealed segment asks for each chunk before it reads
// it (its vectors are advised random, so faults read no more than their
// page).

// warmCodes, for the sealed segments of v with codes that have not been
// advised yet, locks their inverse norms, codes and metas with
// Config.LockCodes (segment.LockCodes: as they are read, so the call
// reads nothing and costs microseconds; a refusal shows in
// Stats.LockedCodeBytes), then starts a goroutine that asks the kernel to
// read them (segment.AdviseCodes: asynchronous readahead, but its
// submission takes a few ms per 64 MiB segment when cold, so it is not
// done by Open, nor by the search itself, whose code pass then finds its
// pages read or in flight). A search calls it first, holding opMu
// shared: the goroutine is a job Close waits for, and it stops at Close.
// After the first search it costs a look at each segment's flag.
func (e *Engine) warmCodes(v *version) {
	var todo []*segRef
	for _, s := range v.segs.all() {
		if seg := s.ref.seg; seg.HasCodes() && seg.Sealed() && !seg.CodesAdvised() {
			todo = append(todo, s.ref)
		}
	}
	if len(todo) == 0 {
		return
	}
	if e.lockCodes {
		for _, r := range todo {
			r.seg.LockCodes() // refused: LockedBytes stays 0 (Stats)
		}
	}
	// Several goroutines take the segments in order: one call submits
	// its reads before it returns (about 2 ms per cold 16 MiB), and one
	// submitter alone left the disk idle half the time.
	var next atomic.Int64
	for range codeAdvisers {
		v.refs.Add(1) // the caller holds one: v cannot be released meanwhile
		e.jobs.Add(1)
		go func() {
			defer e.jobs.Done()
			defer v.release()
			for i := next.Add(1) - 1; i < int64(len(todo)); i = next.Add(1) - 1 {
				if e.closed.Load() {
					return
				}
				todo[i].seg.AdviseCodes()
			}
		}()
	}
}

// codeAdvisers is the goroutines warmCodes asks with.
const codeAdvisers = 4

// prefetchCands asks the kernel for the vector pages of cands (sorted by
// segment and row) before the rescoring reads them, one call per run of
// consecutive rows: the reads are then in flight together instead of one
// page fault at a time. A single candidate is read as it is.
func prefetchCands(v *version, cands []cand) {
	if len(cands) < 2 || !rescorePrefetch {
		return
	}
	// In RAM the asks would cost three system calls a candidate for
	// nothing: two candidates are sampled first (mincore), as
	// prefetchIDs does.
	if !sampledCold(v, len(cands), func(i int) (int, uint64, bool) { return cands[i].seg, cands[i].row, true }) {
		return
	}
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[j].seg == cands[i].seg && cands[j].row <= cands[j-1].row+1 {
			j++
		}
		seg := v.segs.at(cands[i].seg).ref.seg
		seg.PrefetchChecks(cands[i].row, cands[j-1].row+1)
		seg.PrefetchVectors(cands[i].row, cands[j-1].row+1)
		i = j
	}
}

// prefetchIDs asks for the vector pages of the rows of ids (sorted,
// distinct) before a SearchIn reads them, one call per run of consecutive
// rows, so that a SearchIn of scattered rows out of the page cache has
// its reads in flight together, and one of a range of rows reads it
// ahead (the random advice on sealed vectors turns the kernel's
// read-ahead off). In RAM that would cost an index lookup and a system
// call per row for nothing, so two rows are sampled first (mincore):
// when both are cached, nothing is asked for; hint skips the sample while
// the store was just found warm. It reports whether the rows were found
// cold.
func prefetchIDs(v *version, ids []uint64, hint *warmHint) (cold bool) {
	if len(ids) < 2 || !rescorePrefetch {
		return false
	}
	cold = hint.sampledCold(func() bool {
		return sampledCold(v, len(ids), func(i int) (int, uint64, bool) { return v.index.Find(ids[i]) })
	})
	if !cold {
		return false
	}
	// Asking costs a few system calls a row (each submits its reads), a
	// few ms per thousand rows: the asks are shared out, so that they
	// run side by side and the first reads start sooner.
	parts := min(prefetchAskers, (len(ids)+prefetchPerAsker-1)/prefetchPerAsker)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			askIDs(v, ids[p*len(ids)/parts:(p+1)*len(ids)/parts])
		}()
	}
	wg.Wait()
	return true
}

// prefetchAskers bounds the goroutines prefetchIDs shares its asks among,
// each taking at least prefetchPerAsker IDs.
const (
	prefetchAskers   = 8
	prefetchPerAsker = 64
)

// askIDs asks for the rows of ids (sorted, distinct), their norms and
// the parts of the sum tables that check them, one call per run of
// consecutive rows.
func askIDs(v *version, ids []uint64) {
	seg, first, end := -1, uint64(0), uint64(0)
	flush := func() {
		if seg >= 0 {
			s := v.segs.at(seg).ref.seg
			s.PrefetchChecks(first, end)
			s.PrefetchVectors(first, end)
		}
	}
	for _, id := range ids {
		si, row, ok := v.index.Find(id)
		if !ok {
			continue
		}
		if si != seg || row != end {
			flush()
			seg, first = si, row
		}
		end = row + 1
	}
	flush()
}

// prefetchSample is how many rows prefetchIDs samples: the two cost an
// index lookup and a system call each, about 5 us in all, against about
// 170 us for a SearchIn of 1,000 random rows in RAM (a 3% cost there, for
// 8x less time when the rows are out of the page cache).
const prefetchSample = 2

// rescorePrefetch turns prefetchCands and prefetchIDs on; the cold-cache
// measurement turns it off to compare.
var rescorePrefetch = true

// prefetchChunk asks for the vectors of rows [from, to) of a sealed
// segment before a float32 scan reads them (the read-ahead a sequential
// reader would otherwise get from the kernel, which the random advice on
// sealed vectors turns off).
func prefetchChunk(s *segView, from, to uint64) {
	// A chunk whose first and last rows are cached is taken as cached:
	// asking for 16 MiB of cached pages costs a walk of them.
	if seg := s.ref.seg; seg.Sealed() && from < to && !(seg.VectorCached(from) && seg.VectorCached(to-1)) {
		seg.PrefetchVectors(from, to)
	}
}

// sampledCold reports whether one of prefetchSample rows, spread over n
// (row i is at(i): its segment and row, ok false for none), is out of the
// page cache (mincore): the test prefetchIDs and prefetchCands make before
// asking for rows, which in RAM would cost system calls for nothing.
func sampledCold(v *version, n int, at func(i int) (seg int, row uint64, ok bool)) bool {
	for k := range prefetchSample {
		si, row, ok := at(k * n / prefetchSample)
		if ok && !v.segs.at(si).ref.seg.VectorCached(row) {
			return true
		}
	}
	return false
}

// warmHint spares SearchIn its page-cache sample (two mincore calls,
// about 7 us on this machine: 3% of a SearchIn of 1,000 random rows in
// RAM) while the store has just been found in the page cache: after two
// warm samples in a row, the samples of the next warmHintFor are taken as
// warm too. A store larger than RAM rarely samples warm twice in a row
// (both rows of both samples cached), and then goes without its asks for
// at most warmHintFor; any cold sample ends the streak.
type warmHint struct {
	origin time.Time    // Open: until counts from it, on the monotonic clock
	until  atomic.Int64 // ns after origin before which samples are skipped
	warm   atomic.Int32 // warm samples in a row
}

// warmHintFor is how long two warm samples in a row stand for later ones.
const warmHintFor = 5 * time.Millisecond

// sampledCold returns sample(), or false without calling it while the
// hint holds.
func (h *warmHint) sampledCold(sample func() bool) bool {
	return h.sampledColdAt(time.Since(h.origin), sample)
}

// sampledColdAt is sampledCold at now (since origin).
func (h *warmHint) sampledColdAt(at time.Duration, sample func() bool) bool {
	now := int64(at)
	if now < h.until.Load() {
		return false
	}
	if sample() {
		h.warm.Store(0)
		return true
	}
	if h.warm.Add(1) >= 2 {
		h.until.Store(now + int64(warmHintFor))
	}
	return false
}

// forget ends the hint: the next SearchIn samples (for a caller that has
// just dropped pages from the cache).
func (h *warmHint) forget() {
	h.warm.Store(0)
	h.until.Store(0)
}
