package compactor

import (
	"context"
	"fmt"
	"slices"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
	"github.com/memvec/memvec/segment"
)

// Rewrite copies the sealed segment src into a new sealed segment of the
// current format: number n in dir (through fsys; nil: vfs.OS), of the
// given capacity (at least src's rows), created under manifest generation
// gen (segment.Header.Gen). It is how a segment of an older format gets
// codes without moving any ID ("memvec upgrade"): the new file holds
// exactly src's rows, in the same order, deleted ones too, under the same
// IDs (its Runs equal src's), with the same vectors and inverse norms bit
// for bit, the same keys and payloads, and codes (copied from src when it
// has them, else encoded). A row keeps its row number, so src's
// tombstones (by row) hold for the new file unchanged, and the engine can
// swap the new file in for src in one manifest replacement: the same
// runs, a new number, salt and seal checksum.
//
// The superseded IDs of src's batches are not copied: those of a sealed
// segment were applied before it was sealed (recovery only re-applies the
// active segment's).
//
// Rewrite checks src's bytes first (VerifyData), so that damage is never
// sealed into the new file's checksum; a damaged src is ErrCorrupt. It
// returns the new segment, open and sealed, and its seal, for the
// manifest. On error, or when ctx is cancelled, it removes what it wrote.
func Rewrite(ctx context.Context, fsys vfs.FS, dir string, src *segment.Segment, n, capacity, gen uint64) (out *segment.Segment, seal segment.Seal, err error) {
	old := src.SealInfo()
	switch {
	case old == nil:
		return nil, seal, fmt.Errorf("memvec: rewrite segment %d: not sealed: %w", src.Number(), errs.ErrInvalidArgument)
	case capacity < old.Rows:
		return nil, seal, fmt.Errorf("memvec: rewrite segment %d: %d rows into capacity %d: %w", src.Number(), old.Rows, capacity, errs.ErrInvalidArgument)
	}
	if err := src.VerifyData(ctx, old); err != nil {
		return nil, seal, fmt.Errorf("memvec: rewrite segment %d: %w", src.Number(), err)
	}
	out, err = segment.Create(fsys, dir, n, src.Dim(), capacity, gen)
	if err != nil {
		return nil, seal, fmt.Errorf("memvec: rewrite segment %d: %w", src.Number(), err)
	}
	defer func() {
		if err != nil {
			out.Remove()
			out = nil
		}
	}()
	var row uint64
	var dropped int64 // source bytes found out of the page cache
	for _, r := range old.Runs {
		if r.FirstRow != row || r.Count > old.Rows-row {
			return out, seal, fmt.Errorf("memvec: rewrite segment %d: run %+v does not follow row %d of %d: %w", src.Number(), r, row, old.Rows, errs.ErrCorrupt)
		}
		// Streamed, as Copy's sources (segment.StreamVectors).
		d, err := src.StreamVectors(r.FirstRow, r.FirstRow+r.Count, func(from, to uint64) error {
			for a := from; a < to; a += chunkRows {
				if err := ctx.Err(); err != nil {
					return err
				}
				m := min(chunkRows, to-a)
				b, err := rewriteBatch(src, out.HasCodes(), a, m)
				if err != nil {
					return fmt.Errorf("memvec: rewrite segment %d: %w", src.Number(), err)
				}
				b.FirstID = r.FirstID + (a - r.FirstRow)
				if err := out.AppendBatch(b, false); err != nil {
					return fmt.Errorf("memvec: rewrite segment %d: %w", src.Number(), err)
				}
			}
			return nil
		})
		if err != nil {
			return out, seal, err
		}
		dropped += d
		row += r.Count
	}
	if row != old.Rows {
		return out, seal, fmt.Errorf("memvec: rewrite segment %d: runs cover %d of %d rows: %w", src.Number(), row, old.Rows, errs.ErrCorrupt)
	}
	if seal, err = out.Seal(); err != nil {
		return out, seal, fmt.Errorf("memvec: rewrite segment %d: %w", src.Number(), err)
	}
	if dropped > 0 {
		out.DropVectors(0, seal.Rows) // as its source: out of the page cache
	}
	if !slices.Equal(seal.Runs, old.Runs) {
		// Unreachable: each run's rows are appended in order under
		// consecutive IDs, and the runs of src did not merge.
		return out, seal, fmt.Errorf("memvec: rewrite segment %d: runs %v, want %v", src.Number(), seal.Runs, old.Runs)
	}
	return out, seal, nil
}

// rewriteBatch returns rows [from, from+n) of src as a batch (without its
// first ID): vectors, norms, keys and payloads, and, for an output with
// codes, src's codes when it has them (else the segment encodes them).
func rewriteBatch(src *segment.Segment, withCodes bool, from, n uint64) (segment.Batch, error) {
	var b segment.Batch
	to := from + n
	vecs := src.Vectors(from, to)
	dim := src.Dim()
	for i := range int(n) {
		b.Vecs = append(b.Vecs, vecs[i*dim:(i+1)*dim])
	}
	b.InvNorms = src.InvNorms(from, to)
	if withCodes && src.HasCodes() {
		b.Codes, b.Meta = int8Bytes(src.Codes(from, to)), src.CodeMeta(from, to)
	}
	keyed := false
	for row := from; src.Keyed() && row < to; row++ {
		key, err := src.Key(row)
		if err != nil {
			return b, err
		}
		var payload []byte
		if len(key) > 0 {
			keyed = true
			if payload, err = src.Payload(row); err != nil {
				return b, err
			}
		}
		b.Keys, b.Payloads = append(b.Keys, key), append(b.Payloads, payload)
	}
	if !keyed {
		b.Keys, b.Payloads = nil, nil
	}
	return b, nil
}
