package compactor

import (
	"context"

	"github.com/memvec/memvec/internal/bitset"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// SegmentInfo is what the policy knows about one segment.
type SegmentInfo struct {
	Number   uint64
	Rows     uint64
	Deleted  uint64
	Capacity uint64
	Sealed   bool
}

// Source is one segment of a job, as of the job's snapshot.
type Source struct {
	Seg  *segment.Segment
	Rows uint64
	Runs []segment.Run
	Tomb bitset.Set // immutable
	// Verify checks the source's bytes against their checksums (once per
	// process), so that a compaction never seals damage into a new
	// checksum.
	Verify func() error
}

// Job is a planned compaction. The engine keeps the sources mapped until
// Release is called.
type Job struct {
	Ctx      context.Context // cancelled when the store closes
	FS       vfs.FS          // the store directory's file system; nil: vfs.OS
	Dir      string
	Dim      int
	SegCap   uint64   // rows per output segment at most
	Gen      uint64   // manifest generation at Prepare: the outputs' segment.Header.Gen
	Sources  []Source // in no particular order
	FirstID  uint64   // first of the block of fresh IDs reserved for the job
	Live     uint64   // rows to copy: the block's size
	Segments []uint64 // numbers reserved for the output segments
	Release  func()
	// Pace, when set, is called after each chunk of rows the copy
	// writes, with Ctx: it may wait, to leave the machine to foreground
	// work (the engine slows compactions while searches run). An error
	// (the context's) ends the job.
	Pace func(ctx context.Context) error
}

// Output is what a job wrote: sealed segments in ID order and the map.
type Output struct {
	Segments []*segment.Segment
	Seals    []segment.Seal
	Runs     []manifest.IDRun
}

// Remove deletes the output's files (after a failed or abandoned commit).
func (o *Output) Remove() {
	for _, s := range o.Segments {
		s.Remove()
	}
}

// Store is the engine seen from the compactor.
type Store interface {
	// Segments describes the current segments.
	Segments() ([]SegmentInfo, error)
	// Prepare snapshots the chosen segments (sealing the active one if it
	// is among them) and reserves fresh IDs and segment numbers. It returns
	// nil when none of them has anything to copy or retire any more.
	Prepare(numbers []uint64) (*Job, error)
	// Commit installs out in place of the job's sources, carries deletes
	// that arrived after the snapshot over to the new IDs, and returns the
	// new epoch. On error the store is unchanged, or read-only if the
	// manifest replacement itself failed.
	Commit(job *Job, out *Output) (epoch uint64, err error)
}
