package engine

import (
	"github.com/memvec/memvec/internal/quant"
	"github.com/memvec/memvec/segment"
)

// batch is what one write appends: rows with their inverse norms and, for
// a Put, their keys and payloads and the IDs of the live rows their keys
// held, which the batch supersedes (deletes in the same durable step).
type batch struct {
	vecs       [][]float32
	inv        []float32
	codes      []byte   // the rows' int8 codes (encodeBatch); nil: none
	meta       []byte   // their quant.Meta
	keys       [][]byte // nil: rows without keys (Add)
	payloads   [][]byte
	hashes     []uint64 // Put: segment.HashKey of each key
	supersedes []uint64
}

// segmentBatch is b as the segment takes it, its first row with ID first.
func (b *batch) segmentBatch(first uint64) segment.Batch {
	return segment.Batch{FirstID: first, Vecs: b.vecs, InvNorms: b.inv, Codes: b.codes, Meta: b.meta,
		Keys: b.keys, Payloads: b.payloads, Supersedes: b.supersedes}
}

// rows returns rows [from, to) of b, without its supersedes.
func (b *batch) rows(from, to int) batch {
	part := batch{vecs: b.vecs[from:to], inv: b.inv[from:to]}
	if b.codes != nil {
		stride := len(b.codes) / len(b.vecs)
		part.codes = b.codes[from*stride : to*stride]
		part.meta = b.meta[from*quant.MetaSize : to*quant.MetaSize]
	}
	if b.keys != nil {
		part.keys = b.keys[from:to]
	}
	if b.payloads != nil {
		part.payloads = b.payloads[from:to]
	}
	return part
}
