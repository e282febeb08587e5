package engine

import "github.com/memvec/memvec/internal/quant"

// batch is what one write appends: rows with their inverse norms and, for
// a Put, their keys and payloads and the IDs of the live rows their keys
// held, which the batch supersedes (deletes in the same durable step).
type batch struct {
	vecs       [][]float32
	inv        []float32
	codes      []byte // the rows' int8 codes (encodeBatch); nil: none
	meta       []byte // their quant.Meta
	keys       [][]byte // nil: rows without keys (Add)
	payloads   [][]byte
	supersedes []uint64
}

// keyed reports whether the batch needs a segment that holds keys
// (format version 3 and later).
func (b *batch) keyed() bool { return len(b.keys) > 0 || len(b.supersedes) > 0 }

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
