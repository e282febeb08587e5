package segment

import "fmt"

// A segment file is created at the full size of its fixed part but sparse
// (a truncate: no block of it is allocated), and the blocks of each area
// of the fixed part are allocated in steps ahead of the rows, by
// File.Preallocate (fallocate), before any byte of a batch is written: see
// "Disk footprint" in the package doc.

// allocStep is about the least the vector area grows by; the other areas
// grow by as many rows (see allocate). A small segment takes a few steps,
// a large one doubles its way to capacity in about ten.
const allocStep = 64 << 10

// allocAlign rounds the end of every step to a page, the unit in which the
// file system allocates anyway.
const allocAlign = 4096

// nAreas is the number of areas of the fixed part that grow with the
// rows: vectors, norms, codes, metas (empty before version 4 or without
// codes) and batch records.
const nAreas = 5

// area is one of them: capacity units (rows, or batch records) of stride
// bytes from off.
type area struct{ off, stride int64 }

// areas returns the growing areas of the fixed part; the records' unit is
// a batch, the others' a row.
func (l layout) areas() [nAreas]area {
	return [nAreas]area{
		{HeaderSize, int64(l.dim) * 4},
		{l.normsOff, 4},
		{l.codeOff, l.codeStride},
		{l.metaOff, l.metaSize},
		{l.recordOff, l.recSize},
	}
}

// used returns how many bytes of each area (from its start) rows rows in
// batches batches occupy.
func (l layout) used(rows, batches uint64) [nAreas]int64 {
	var u [nAreas]int64
	for i, a := range l.areas() {
		u[i] = int64(units(i, rows, batches)) * a.stride
	}
	return u
}

// units is rows, or batches for the record area.
func units(area int, rows, batches uint64) uint64 {
	if area == nAreas-1 {
		return batches
	}
	return rows
}

// stepUnits is the least number of units an area grows by: allocStep
// bytes of vectors, at least one row.
func (l layout) stepUnits() uint64 { return max(1, allocStep/(uint64(l.dim)*4)) }

// allocate makes sure the blocks that a batch of n more rows writes in the
// fixed part (its rows, norms, codes, metas and record) are allocated. An
// area that falls short grows to the most of what the batch needs, twice
// the units it has and stepUnits, up to capacity, so the steps double. It
// is called before anything of the batch is written: an error (ENOSPC)
// leaves the segment and the file's contents as they were, and the
// segment goes on taking appends. What is allocated is kept in s.alloc,
// which Open derives from the rows (a crash may lose an allocation that no
// sync covered; allocating an allocated range again costs nothing).
func (s *Segment) allocate(n uint64) error {
	rows, batches := s.rows.Load()+n, s.batches+1
	for i, a := range s.lay.areas() {
		u := units(i, rows, batches)
		have := s.alloc[i]
		if a.stride == 0 || int64(u)*a.stride <= have {
			continue
		}
		want := min(max(u, 2*uint64(have/a.stride), s.lay.stepUnits()), s.lay.capacity)
		end := min(align(a.off+int64(want)*a.stride, allocAlign), a.off+int64(s.lay.capacity)*a.stride)
		if err := s.f.Preallocate(a.off+have, end-a.off-have); err != nil {
			return fmt.Errorf("segment %s: allocate [%d, %d): %w", s.path, a.off+have, end, err)
		}
		s.alloc[i] = end - a.off
	}
	return nil
}
