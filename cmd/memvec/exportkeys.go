package main

import (
	"context"
	"fmt"

	"github.com/memvec/memvec"
)

// recordLines writes the keys and payloads of the rows export writes, to
// their line files (keysfile.go).
//
// Range gives each row's ID and vector only. The key and payload of given
// IDs come with the hits of a search restricted to them, so the rows are
// gathered in batches and each batch is looked up by one SearchIn over its
// IDs that keeps every hit (TopK the batch's size, MinScore -1): a dot
// product per row, little beside writing it out. The store is open
// read-only, so no row changes between Range and the lookup.
type recordLines struct {
	db       *memvec.DB
	keys     *lineWriter // nil without --keys
	payloads *lineWriter // nil without --payload
	ids      []uint64    // the pending batch
	query    []float32   // a copy of its first vector: any valid query will do
}

// recordBatch is how many rows one SearchIn looks up.
const recordBatch = 1024

// newRecordLines creates the files; with neither path, add does nothing.
func newRecordLines(db *memvec.DB, keysPath, payloadPath string) (*recordLines, error) {
	r := &recordLines{db: db}
	var err error
	if keysPath != "" {
		if r.keys, err = createLines(keysPath, "key"); err != nil {
			return nil, err
		}
	}
	if payloadPath != "" {
		if r.payloads, err = createLines(payloadPath, "payload"); err != nil {
			r.abort()
			return nil, err
		}
	}
	return r, nil
}

// add queues the row id, whose vector is vec (valid only during the call).
func (r *recordLines) add(ctx context.Context, id uint64, vec []float32) error {
	if r.keys == nil && r.payloads == nil {
		return nil
	}
	if len(r.ids) == 0 {
		r.query = append(r.query[:0], vec...)
	}
	r.ids = append(r.ids, id)
	if len(r.ids) == recordBatch {
		return r.flush(ctx)
	}
	return nil
}

// flush looks up the pending rows and writes their lines, in their order.
func (r *recordLines) flush(ctx context.Context) error {
	if len(r.ids) == 0 {
		return nil
	}
	hits, err := r.db.SearchIn(ctx, r.query, r.ids, memvec.SearchOptions{
		TopK: len(r.ids), MinScore: -1, WithPayload: r.payloads != nil,
	})
	if err != nil {
		return err
	}
	byID := make(map[uint64]*memvec.Result, len(hits))
	for i := range hits {
		byID[hits[i].ID] = &hits[i]
	}
	for _, id := range r.ids {
		h, ok := byID[id]
		if !ok {
			return fmt.Errorf("ID %d left the store during the export", id)
		}
		if r.keys != nil {
			if err := r.keys.write(id, []byte(h.Key)); err != nil {
				return err
			}
		}
		if r.payloads != nil {
			if err := r.payloads.write(id, h.Payload); err != nil {
				return err
			}
		}
	}
	r.ids = r.ids[:0]
	return nil
}

// close completes the files (after the last flush); if one fails, both
// are removed.
func (r *recordLines) close() error {
	for _, lw := range []*lineWriter{r.keys, r.payloads} {
		if lw == nil {
			continue
		}
		if err := lw.Close(); err != nil {
			r.abort()
			return err
		}
	}
	return nil
}

// abort removes the files.
func (r *recordLines) abort() {
	for _, lw := range []*lineWriter{r.keys, r.payloads} {
		if lw != nil {
			lw.Abort()
		}
	}
}
