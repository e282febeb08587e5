package memvec

import (
	"context"
	"unsafe"

	"github.com/memvec/memvec/engine"
)

// Limits of a Record.
const (
	// MaxKeyLen is the longest key, in bytes; a key has at least one.
	MaxKeyLen = engine.MaxKeyLen
	// MaxPayloadLen is the largest payload, in bytes.
	MaxPayloadLen = engine.MaxPayloadLen
)

// Record is a vector stored under a key of the application's choosing.
// Keys stay with their records through every compaction, so an application
// that names its records by key never follows ID maps.
type Record struct {
	// ID is the row holding the record, set by reads; Put ignores it. It
	// changes when the record is replaced or a compaction moves it.
	ID uint64
	// Key is 1 to MaxKeyLen bytes, unique among live records.
	Key string
	// Vector is the record's vector, of the store's dimension.
	Vector []float32
	// Payload is optional bytes kept with the record, opaque to memvec, at
	// most MaxPayloadLen.
	Payload []byte
}

// Put stores each record under its key, inserting it or replacing the live
// record that holds the key, and returns the IDs now holding the records,
// in order.
//
// The batch is all-or-nothing: an empty or over-long key, a key twice in
// the batch or a payload over MaxPayloadLen fails it with
// ErrInvalidArgument, a bad vector as Add does (ErrDimension,
// ErrInvalidVector), and nothing changes. A replaced record's row is
// deleted in the same durable step that adds the new one: after a crash at
// any instant each key of the batch holds its old record or its new one,
// never both and never neither, and no key is ever live in two rows.
// Unless Options.NoSync the batch is durable when Put returns (one fsync,
// as for Add). Vectors and payloads are copied.
func (db *DB) Put(records []Record) ([]uint64, error) {
	ids, err := db.e.Put(engineRecords(records))
	return ids, wrap("put", err)
}

// engineRecords returns records as the engine's type, without a copy: a
// batch of 10,000 records copied cost about 5% of a NoSync Put. The two
// structs have identical underlying types (the conversion below compiles
// only while they do), hence one memory layout; the engine only reads
// the batch, and ignores ID as Put does.
func engineRecords(records []Record) []engine.Record {
	var _ = engine.Record(Record{})
	return unsafe.Slice((*engine.Record)(unsafe.Pointer(unsafe.SliceData(records))), len(records))
}

// GetRecord returns a copy of the live record holding key, or ErrNotFound.
// Its cost follows the number of segments, not the number of records: the
// key indexes live on disk and in the page cache.
func (db *DB) GetRecord(key string) (Record, error) {
	r, err := db.e.GetRecord(key)
	if err != nil {
		return Record{}, wrap("get record", err)
	}
	return Record{ID: r.ID, Key: r.Key, Vector: r.Vector, Payload: r.Payload}, nil
}

// DeleteKeys deletes the live records holding keys and returns how many
// there were; absent and repeated keys count 0, and an empty or over-long
// key fails the call with ErrInvalidArgument before anything is deleted.
// Unless Options.NoSync the deletes are durable when DeleteKeys returns.
// Delete by ID deletes a keyed record too.
func (db *DB) DeleteKeys(keys []string) (int, error) {
	n, err := db.e.DeleteKeys(keys)
	return n, wrap("delete keys", err)
}

// SearchInKeys is SearchIn over the live records holding keys: absent and
// repeated keys are ignored, and an empty or over-long key is
// ErrInvalidArgument. The keys are resolved on the snapshot the search
// reads. Its cost follows len(keys), not the size of the store.
func (db *DB) SearchInKeys(ctx context.Context, query []float32, keys []string, opts SearchOptions) ([]Result, error) {
	return search("search in keys", opts, func(o SearchOptions) ([]engine.Hit, error) {
		return db.e.SearchInKeys(ctx, query, keys, o.TopK, o.MinScore, o.WithPayload)
	})
}

// RangeRecords is Range with keys and payloads: it calls fn for every live
// record of one snapshot, by ascending ID. r.Vector points into the
// store's mapping, valid only until fn returns (copy it to keep it); Key
// and Payload are copies, empty for a vector added by Add. Errors are as
// for Range: fn's own comes back unwrapped.
func (db *DB) RangeRecords(ctx context.Context, fn func(r Record) error) error {
	fromFn := false
	err := db.e.RangeRecords(ctx, func(r engine.Record) error {
		err := fn(Record{ID: r.ID, Key: r.Key, Vector: r.Vector, Payload: r.Payload})
		fromFn = err != nil
		return err
	})
	if fromFn {
		return err
	}
	return wrap("range records", err)
}
