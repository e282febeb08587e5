package compactor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"unsafe"

	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/manifest"
	"github.com/memvec/memvec/segment"
)

// chunkRows is how many rows Copy appends per write, and how often it checks
// for cancellation.
const chunkRows = 1024

// rowRef is one run of a source, in ID order across all sources.
type rowRef struct {
	src             int
	firstID, row, n uint64
}

// Copy writes the live rows of job's sources, in ascending old-ID order,
// into new sealed segments holding IDs job.FirstID, job.FirstID+1, ...,
// and returns them with the old-to-new map. On error it removes what it
// wrote.
func Copy(ctx context.Context, job *Job) (out *Output, err error) {
	out = &Output{}
	defer func() {
		if err != nil {
			out.Remove()
			out = nil
		}
	}()
	var refs []rowRef
	for i, s := range job.Sources {
		if err := s.Verify(); err != nil {
			return out, err
		}
		for _, r := range s.Runs {
			if r.FirstRow >= s.Rows {
				continue
			}
			refs = append(refs, rowRef{src: i, firstID: r.FirstID, row: r.FirstRow, n: min(r.Count, s.Rows-r.FirstRow)})
		}
	}
	sort.Slice(refs, func(a, b int) bool { return refs[a].firstID < refs[b].firstID })

	w := writer{job: job, out: out, ctx: ctx, stride: segment.CodeStrideFor(job.Dim)}
	for _, ref := range refs {
		src := &job.Sources[ref.src]
		// Streamed (segment.StreamVectors): the source rows are read
		// ahead and, where they were not cached, dropped behind, so a
		// compaction of a store larger than RAM does not evict its
		// codes; each run's rows are flushed before its pages go.
		dropped, err := src.Seg.StreamVectors(ref.row, ref.row+ref.n, func(from, to uint64) error {
			for row := from; row < to; row++ {
				if src.Tomb.Has(row) {
					continue
				}
				if err := w.add(src.Seg, row, ref.firstID+(row-ref.row)); err != nil {
					return err
				}
			}
			return w.flush()
		})
		if err != nil {
			return out, err
		}
		w.coldSources = w.coldSources || dropped > 0
	}
	if err := w.flush(); err != nil {
		return out, err
	}
	if w.copied != job.Live {
		return out, fmt.Errorf("compaction copied %d rows, planned %d", w.copied, job.Live)
	}
	return out, nil
}

// writer fills output segments chunk by chunk.
type writer struct {
	job   *Job
	out   *Output
	ctx   context.Context
	cur   *segment.Segment
	vecs  [][]float32
	norms []float32
	// keys and payloads of the pending rows, once one of them has a key
	// (an empty key is a row added without one); nil before.
	keys, payloads [][]byte
	// codes and metas of the pending rows when the outputs have codes
	// (stride > 0): copied bit for bit from a source that has them,
	// encoded for one that has not.
	stride       int
	codes, metas []byte
	copied       uint64 // rows added so far
	first        uint64 // new ID of vecs[0]
	// coldSources: reading the sources found rows out of the page cache
	// (a store larger than RAM): the outputs' vectors are dropped from it
	// too once sealed, where an in-RAM store keeps them.
	coldSources bool
}

func (w *writer) add(seg *segment.Segment, row, oldID uint64) error {
	if w.copied == w.job.Live {
		return fmt.Errorf("compaction found more than the %d live rows planned", w.job.Live)
	}
	newID := w.job.FirstID + w.copied
	w.copied++
	runs := w.out.Runs
	if k := len(runs); k > 0 && runs[k-1].Old+runs[k-1].Len == oldID && runs[k-1].New+runs[k-1].Len == newID {
		runs[k-1].Len++
	} else {
		w.out.Runs = append(runs, manifest.IDRun{Old: oldID, New: newID, Len: 1})
	}
	if len(w.vecs) == 0 {
		w.first = newID
	}
	if err := w.addKey(seg, row); err != nil {
		return err
	}
	vec := seg.Vectors(row, row+1)
	w.vecs = append(w.vecs, vec)
	w.norms = append(w.norms, seg.InvNorms(row, row+1)[0])
	w.codes, w.metas = appendCodes(w.codes, w.metas, w.stride, seg, row, vec)
	if w.cur == nil || uint64(len(w.vecs)) == chunkRows || uint64(len(w.vecs)) == w.cur.Free() {
		return w.flush()
	}
	return nil
}

// flush appends the pending rows to the current output segment, opening a
// new one when needed and sealing it when full.
func (w *writer) flush() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.job.Pace != nil {
		if err := w.job.Pace(w.ctx); err != nil {
			return err
		}
	}
	if err := w.job.Ctx.Err(); err != nil {
		return err
	}
	for len(w.vecs) > 0 {
		if w.cur == nil {
			if err := w.open(); err != nil {
				return err
			}
		}
		n := min(uint64(len(w.vecs)), w.cur.Free())
		var keys, payloads [][]byte
		if w.keys != nil {
			keys, payloads = w.keys[:n], w.payloads[:n]
			w.keys, w.payloads = w.keys[n:], w.payloads[n:]
		}
		b := segment.Batch{FirstID: w.first, Vecs: w.vecs[:n], InvNorms: w.norms[:n], Keys: keys, Payloads: payloads}
		if w.stride > 0 {
			b.Codes, b.Meta = w.codes[:int(n)*w.stride], w.metas[:n*quant.MetaSize]
			w.codes, w.metas = w.codes[int(n)*w.stride:], w.metas[n*quant.MetaSize:]
		}
		if err := w.cur.AppendBatch(b, false); err != nil {
			return err
		}
		w.first += n
		w.vecs, w.norms = w.vecs[n:], w.norms[n:]
		if w.cur.Free() == 0 {
			seal, err := w.cur.Seal()
			if err != nil {
				return err
			}
			w.out.Seals = append(w.out.Seals, seal)
			if w.coldSources {
				w.cur.DropVectors(0, seal.Rows) // synced by Seal: clean pages
			}
			w.cur = nil
		}
	}
	w.vecs, w.norms = w.vecs[:0], w.norms[:0]
	w.codes, w.metas = w.codes[:0], w.metas[:0]
	w.keys, w.payloads = nil, nil
	return nil
}

// appendCodes appends the code and meta of row of seg (whose vector is
// vec) for an output of the given code stride (0: none): seg's own, bit
// for bit, or, for a segment without codes (an older format), encoded.
func appendCodes(codes, metas []byte, stride int, seg *segment.Segment, row uint64, vec []float32) ([]byte, []byte) {
	if stride == 0 {
		return codes, metas
	}
	if seg.HasCodes() {
		codes = append(codes, int8Bytes(seg.Codes(row, row+1))...)
		return codes, append(metas, seg.CodeMeta(row, row+1)...)
	}
	at := len(codes)
	codes = append(codes, make([]byte, stride)...)
	var m [quant.MetaSize]byte
	quant.Encode(vec, codes[at:]).Put(m[:])
	return codes, append(metas, m[:]...)
}

// addKey records the key and payload of a row about to be added: keys
// and payloads move with their rows. Rows are copied unkeyed until the
// first row with a key in a chunk; from then on each row has an entry,
// empty for a row without a key.
func (w *writer) addKey(seg *segment.Segment, row uint64) error {
	if !seg.Keyed() {
		if w.keys != nil {
			w.keys, w.payloads = append(w.keys, nil), append(w.payloads, nil)
		}
		return nil
	}
	key, err := seg.Key(row)
	if err != nil {
		return err
	}
	var payload []byte
	if len(key) > 0 {
		if payload, err = seg.Payload(row); err != nil {
			return err
		}
	}
	if w.keys == nil {
		if len(key) == 0 {
			return nil
		}
		w.keys = make([][]byte, len(w.vecs), chunkRows)
		w.payloads = make([][]byte, len(w.vecs), chunkRows)
	}
	w.keys, w.payloads = append(w.keys, key), append(w.payloads, payload)
	return nil
}

// open creates the next output segment, sized to exactly the rows left to
// write (at most SegCap), so a compaction wastes no preallocated space.
func (w *writer) open() error {
	i := len(w.out.Segments)
	if i >= len(w.job.Segments) {
		return errors.New("compaction needs more segments than reserved")
	}
	written := w.first - w.job.FirstID
	left := w.job.Live - written
	seg, err := segment.Create(w.job.FS, w.job.Dir, w.job.Segments[i], w.job.Dim, min(left, w.job.SegCap), w.job.Gen)
	if err != nil {
		return err
	}
	w.out.Segments = append(w.out.Segments, seg)
	w.cur = seg
	return nil
}

// int8Bytes returns the bytes of c: segment.Batch takes codes as bytes.
func int8Bytes(c []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c))), len(c))
}
