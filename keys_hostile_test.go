package memvec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Hostile input to the keyed-record methods (Put, GetRecord, DeleteKeys):
// the rows of docs/hostile-input.md's "Put, GetRecord, DeleteKeys" table.

// hostileKeyed opens a store holding keys "a" and "b" (with payloads) and
// returns it with their records.
func hostileKeyed(t *testing.T) (*DB, string, map[string]Record) {
	t.Helper()
	db, dir := openTest(t, hostileDim)
	recs := []Record{
		{Key: "a", Vector: []float32{1, 2, 3, 4}, Payload: []byte("payload of a")},
		{Key: "b", Vector: []float32{4, 3, 2, 1}},
	}
	ids, err := db.Put(recs)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Record{}
	for i, r := range recs {
		r.ID = ids[i]
		out[r.Key] = r
	}
	return db, dir, out
}

// hostileKeysUnchanged checks that the keys of want hold their records and
// that nothing else is live.
func hostileKeysUnchanged(t *testing.T, db *DB, want map[string]Record) {
	t.Helper()
	for k, w := range want {
		got, err := db.GetRecord(k)
		if err != nil || got.ID != w.ID || !bitsEqual(got.Vector, w.Vector) || !bytes.Equal(got.Payload, w.Payload) {
			t.Fatalf("GetRecord(%q) = %+v, %v; want %+v", k, got, err, w)
		}
	}
	if st := db.Stats(); st.Live != uint64(len(want)) || st.Deleted != 0 {
		t.Fatalf("Stats %+v; want %d live, none deleted", st, len(want))
	}
}

func TestHostilePut(t *testing.T) {
	good := []float32{1, 1, 1, 1}
	long := strings.Repeat("k", MaxKeyLen+1)
	for _, tc := range []struct {
		name string
		bad  Record
		want error
	}{
		{"empty key", Record{Key: "", Vector: good}, ErrInvalidArgument},
		{"over-long key", Record{Key: long, Vector: good}, ErrInvalidArgument},
		{"key twice in the batch", Record{Key: "new", Vector: good}, ErrInvalidArgument},
		{"payload over MaxPayloadLen", Record{Key: "p", Vector: good, Payload: make([]byte, MaxPayloadLen+1)}, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _, want := hostileKeyed(t)
			// The bad record last, after a replacement of "a" and a new
			// key: neither may happen.
			batch := []Record{{Key: "a", Vector: good}, {Key: "new", Vector: good}, tc.bad}
			ids, err := db.Put(batch)
			if !errors.Is(err, tc.want) || ids != nil {
				t.Fatalf("Put = %v, %v; want %v", ids, err, tc.want)
			}
			hostileKeysUnchanged(t, db, want)
			if _, err := db.GetRecord("new"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetRecord of a key of the refused batch: %v", err)
			}
		})
	}
	t.Run("bad vector", func(t *testing.T) {
		db, _, want := hostileKeyed(t)
		for _, b := range hostileBadVectors() {
			ids, err := db.Put([]Record{{Key: "a", Vector: good}, {Key: "c", Vector: b.v}})
			if !errors.Is(err, b.want) || ids != nil {
				t.Fatalf("Put with a %s vector = %v, %v; want %v", b.name, ids, err, b.want)
			}
		}
		hostileKeysUnchanged(t, db, want)
	})
	t.Run("empty batches", func(t *testing.T) {
		db, _, want := hostileKeyed(t)
		for _, batch := range [][]Record{nil, {}} {
			if ids, err := db.Put(batch); ids != nil || err != nil {
				t.Fatalf("Put(%#v) = %v, %v; want nil, nil", batch, ids, err)
			}
		}
		hostileKeysUnchanged(t, db, want)
	})
	t.Run("edges of the accepted range", func(t *testing.T) {
		db, _, _ := hostileKeyed(t)
		edge := []Record{
			{Key: strings.Repeat("k", MaxKeyLen), Vector: good, Payload: bytes.Repeat([]byte{7}, MaxPayloadLen)},
			{Key: "\x00", Vector: []float32{1e-29, 0, 0, 0}, Payload: []byte{}},
			{Key: "\xff\xfe not UTF-8", Vector: good, ID: 1 << 40}, // Put ignores ID
		}
		ids, err := db.Put(edge)
		if err != nil || len(ids) != len(edge) {
			t.Fatalf("Put of the edge records = %v, %v", ids, err)
		}
		for i, r := range edge {
			got, err := db.GetRecord(r.Key)
			if err != nil || got.ID != ids[i] || !bitsEqual(got.Vector, r.Vector) || !bytes.Equal(got.Payload, r.Payload) {
				t.Fatalf("GetRecord(%.20q) = ID %d, %v; want ID %d", r.Key, got.ID, err, ids[i])
			}
		}
	})
	t.Run("caller reuses its slices", func(t *testing.T) {
		db, _, _ := hostileKeyed(t)
		v, p := []float32{1, 2, 3, 4}, []byte("payload")
		if _, err := db.Put([]Record{{Key: "c", Vector: v, Payload: p}}); err != nil {
			t.Fatal(err)
		}
		v[0], p[0] = 9, 'X'
		got, err := db.GetRecord("c")
		if err != nil || got.Vector[0] != 1 || string(got.Payload) != "payload" {
			t.Fatalf("GetRecord after the caller changed its slices = %+v, %v", got, err)
		}
		got.Vector[0], got.Payload[0] = 9, 'X'
		again, err := db.GetRecord("c")
		if err != nil || again.Vector[0] != 1 || string(again.Payload) != "payload" {
			t.Fatalf("GetRecord after the caller changed the last result = %+v, %v", again, err)
		}
	})
}

func TestHostileGetRecord(t *testing.T) {
	db, _, want := hostileKeyed(t)
	for _, tc := range []struct {
		name, key string
		want      error
	}{
		{"empty key", "", ErrInvalidArgument},
		{"over-long key", strings.Repeat("k", MaxKeyLen+1), ErrInvalidArgument},
		{"absent key", "c", ErrNotFound},
		{"longest absent key", strings.Repeat("k", MaxKeyLen), ErrNotFound},
		{"prefix of a live key", "a\x00", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.GetRecord(tc.key)
			if !errors.Is(err, tc.want) || got.Vector != nil || got.Key != "" {
				t.Fatalf("GetRecord = %+v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("deleted key", func(t *testing.T) {
		if n, err := db.Delete([]uint64{want["b"].ID}); n != 1 || err != nil {
			t.Fatalf("Delete of b's ID = %d, %v", n, err)
		}
		if _, err := db.GetRecord("b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetRecord of a key whose row was deleted by ID: %v", err)
		}
	})
}

func TestHostileDeleteKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		n    int
		want error
	}{
		{"nil", nil, 0, nil},
		{"empty", []string{}, 0, nil},
		{"absent", []string{"c", "d"}, 0, nil},
		{"repeated", []string{"a", "a", "c", "a"}, 1, nil},
		{"empty key among good ones", []string{"a", ""}, 0, ErrInvalidArgument},
		{"over-long key among good ones", []string{"b", strings.Repeat("k", MaxKeyLen+1)}, 0, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _, want := hostileKeyed(t)
			n, err := db.DeleteKeys(tc.keys)
			if n != tc.n || !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("DeleteKeys(%q) = %d, %v; want %d, %v", tc.keys, n, err, tc.n, tc.want)
			}
			if tc.n == 1 {
				delete(want, "a")
				if st := db.Stats(); st.Live != 1 || st.Deleted != 1 {
					t.Fatalf("Stats %+v after deleting a", st)
				}
				return
			}
			hostileKeysUnchanged(t, db, want)
		})
	}
}

// TestHostileKeysClosedAndReadOnly: on a closed DB the keyed methods
// return ErrClosed; on a read-only one Put and DeleteKeys return
// ErrReadOnly and GetRecord reads.
func TestHostileKeysClosedAndReadOnly(t *testing.T) {
	db, dir, want := hostileKeyed(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rec := []Record{{Key: "a", Vector: []float32{1, 1, 1, 1}}}
	if _, err := db.Put(rec); !errors.Is(err, ErrClosed) {
		t.Errorf("Put on a closed DB: %v", err)
	}
	if _, err := db.GetRecord("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("GetRecord on a closed DB: %v", err)
	}
	if _, err := db.DeleteKeys([]string{"a"}); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteKeys on a closed DB: %v", err)
	}
	ro, err := openT(t, dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ids, err := ro.Put(rec); !errors.Is(err, ErrReadOnly) || ids != nil {
		t.Errorf("Put on a read-only DB = %v, %v", ids, err)
	}
	if n, err := ro.DeleteKeys([]string{"a"}); !errors.Is(err, ErrReadOnly) || n != 0 {
		t.Errorf("DeleteKeys on a read-only DB = %d, %v", n, err)
	}
	hostileKeysUnchanged(t, ro, want)
}
