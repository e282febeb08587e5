package engine

// batch is what one write appends: rows with their inverse norms and, for
// a Put, their keys and payloads and the IDs of the live rows their keys
// held, which the batch supersedes (deletes in the same durable step).
type batch struct {
	vecs       [][]float32
	inv        []float32
	keys       [][]byte // nil: rows without keys (Add)
	payloads   [][]byte
	hashes     []uint64 // Put: segment.HashKey of each key
	supersedes []uint64
}

// keyed reports whether the batch needs a segment that holds keys
// (format version 3 and later).
func (b *batch) keyed() bool { return len(b.keys) > 0 || len(b.supersedes) > 0 }

// rows returns rows [from, to) of b, without its supersedes.
func (b *batch) rows(from, to int) batch {
	part := batch{vecs: b.vecs[from:to], inv: b.inv[from:to]}
	if b.keys != nil {
		part.keys = b.keys[from:to]
	}
	if b.payloads != nil {
		part.payloads = b.payloads[from:to]
	}
	return part
}
