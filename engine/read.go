package engine

import (
	"context"
	"fmt"
	"github.com/memvec/memvec/internal/quant"
	"path/filepath"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/manifest"
)

// Get returns a copy of the vector stored under id.
func (e *Engine) Get(id uint64) ([]float32, error) {
	v, done, err := e.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	si, row, ok := v.index.Find(id)
	if !ok || v.segs.at(si).tomb.has(row) {
		return nil, fmt.Errorf("id %d: %w", id, errs.ErrNotFound)
	}
	s := v.segs.at(si)
	if err := s.ref.checkRows(row, row+1); err != nil {
		return nil, err
	}
	return append([]float32(nil), s.ref.seg.Vectors(row, row+1)...), nil
}

// Stats describes the store at one instant.
type Stats struct {
	Dimension                             int
	Total, Live, Deleted                  uint64
	Segments                              int
	DiskBytes, ReclaimableBytes, WALBytes int64
	Epoch                                 uint64
	NextID                                uint64
	CodeBytes                             int64
	LockedCodeBytes                       int64
	CodeRows, RescoredRows, FullScanRows  uint64
	FallbackSearches                      uint64
}

// Stats returns the store's statistics; on a closed store it returns the
// zero Stats and ErrClosed.
func (e *Engine) Stats() (Stats, error) {
	v, done, err := e.reading()
	if err != nil {
		return Stats{}, err
	}
	defer done()
	total, deleted := v.totals()
	st := Stats{
		Dimension:        e.dim,
		Total:            total,
		Live:             total - deleted,
		Deleted:          deleted,
		Segments:         v.segs.len(),
		ReclaimableBytes: int64(deleted) * int64(e.dim*4+4),
		WALBytes:         e.wal.Size(),
		Epoch:            v.epoch,
		NextID:           e.nextID.Load(),
		CodeRows:         e.pf.codeRows.Load(),
		RescoredRows:     e.pf.rescored.Load(),
		FullScanRows:     e.pf.fullRows.Load(),
		FallbackSearches: e.pf.fallbacks.Load(),
	}
	st.DiskBytes = st.WALBytes
	for _, s := range v.segs.all() {
		st.DiskBytes += e.diskBytes(s.ref.seg)
		if seg := s.ref.seg; seg.HasCodes() {
			st.CodeBytes += int64(s.rows) * int64(seg.CodeStride()+quant.MetaSize)
			st.LockedCodeBytes += seg.LockedBytes()
		}
	}
	if fi, err := e.fs.Stat(filepath.Join(e.dir, manifest.FileName)); err == nil {
		st.DiskBytes += fi.Size()
	}
	return st, nil
}

// Verify reads every checksummed byte of the store: the manifest, every
// segment, the WAL, the tombstone checkpoint and the ID maps, and checks
// that the segments in memory are the ones the manifest names. The first
// mismatch is returned as an error wrapping ErrCorrupt that names the file
// and offset.
func (e *Engine) Verify(ctx context.Context) error {
	v, done, err := e.reading()
	if err != nil {
		return err
	}
	defer done()
	if _, err := manifest.Load(e.fs, e.dir); err != nil {
		return err
	}
	if err := v.check(); err != nil {
		return err
	}
	// Close cancels a Verify in progress, which then returns ErrClosed.
	cctx, stop := e.closable(ctx)
	defer stop()
	for _, s := range v.segs.all() {
		if err := e.stopped(ctx); err != nil {
			return err
		}
		if err := s.ref.seg.Verify(cctx, s.ref.seg.SealInfo()); err != nil {
			if serr := e.stopped(ctx); serr != nil {
				return serr
			}
			return err
		}
	}
	if err := e.stopped(ctx); err != nil {
		return err
	}
	if err := e.wal.Verify(); err != nil {
		return err
	}
	// The tombstone checkpoint and the ID maps are small; writeMu keeps a
	// commit or ReleaseIDMaps from replacing them while they are read.
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.cur.Load().checkManifest(e.man); err != nil {
		return err
	}
	if gen := e.man.Tombs; gen != 0 {
		tombs, err := manifest.ReadTombs(e.fs, e.dir, gen)
		if err != nil {
			return err
		}
		// The current version, not v: a checkpoint written since v may
		// name rows appended since.
		if err := e.cur.Load().checkTombsFile(tombs, gen); err != nil {
			return err
		}
	}
	for _, ep := range e.man.IDMaps {
		if _, err := manifest.ReadIDMap(e.fs, e.dir, ep); err != nil {
			return err
		}
	}
	return nil
}
