package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
)

var recordCases = []struct {
	name string
	rec  Record
}{
	{"one ID", Record{Seq: 1, Synced: 0, IDs: []uint64{7}}},
	{"sync mode", Record{Seq: 42, Synced: 41, IDs: []uint64{3, 1, 2}}},
	{"nosync lag", Record{Seq: 1000, Synced: 17, IDs: []uint64{0, 0, 5}}},
	{"extremes", Record{Seq: math.MaxUint64, Synced: math.MaxUint64 - 1, IDs: []uint64{math.MaxUint64, 0}}},
	{"many IDs", Record{Seq: 9, Synced: 8, IDs: seqIDs(100, 513)}},
}

func seqIDs(from uint64, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = from + uint64(i)
	}
	return ids
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range recordCases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := AppendRecord(append([]byte(nil), prefix...), tc.rec)
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("AppendRecord clobbered dst")
			}
			frame := b[len(prefix):]
			if len(frame) != frameSize(len(tc.rec.IDs)) {
				t.Fatalf("frame is %d bytes, want %d", len(frame), frameSize(len(tc.rec.IDs)))
			}
			got, err := DecodeRecord(frame)
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if !equalRecord(got, tc.rec) {
				t.Fatalf("got %+v, want %+v", got, tc.rec)
			}
		})
	}
}

func TestDecodeRecordRejectsTruncation(t *testing.T) {
	for _, tc := range recordCases {
		frame := AppendRecord(nil, tc.rec)
		for n := 0; n < len(frame); n++ {
			if _, err := DecodeRecord(frame[:n]); !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("%s: prefix of %d/%d bytes: err = %v, want ErrCorrupt", tc.name, n, len(frame), err)
			}
		}
		if _, err := DecodeRecord(append(frame, 0)); !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("%s: one trailing byte: err = %v, want ErrCorrupt", tc.name, err)
		}
	}
}

func TestDecodeRecordRejectsFlippedByte(t *testing.T) {
	for _, tc := range recordCases {
		frame := AppendRecord(nil, tc.rec)
		for i := range frame {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(frame)
				bad[i] ^= mask
				if _, err := DecodeRecord(bad); !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("%s: byte %d ^ %#x: err = %v, want ErrCorrupt", tc.name, i, mask, err)
				}
			}
		}
	}
}

// reseal recomputes the checksum of a frame edited in place, so that the
// field checks behind the checksum are reached.
func reseal(frame []byte) []byte {
	body := frame[:len(frame)-sumSize]
	binary.LittleEndian.PutUint64(frame[len(body):], xxhash.Sum64(body))
	return frame
}

func TestDecodeRecordRejectsBadFields(t *testing.T) {
	cases := []struct {
		name string
		rec  Record
		want error
	}{
		{"seq 0", Record{Seq: 0, IDs: []uint64{1}}, errs.ErrCorrupt},
		{"synced == seq", Record{Seq: 5, Synced: 5, IDs: []uint64{1}}, errs.ErrCorrupt},
		{"synced > seq", Record{Seq: 5, Synced: 9, IDs: []uint64{1}}, errs.ErrCorrupt},
		{"no IDs", Record{Seq: 5, Synced: 4}, errs.ErrCorrupt},
	}
	for _, tc := range cases {
		if _, err := DecodeRecord(AppendRecord(nil, tc.rec)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	frame := AppendRecord(nil, Record{Seq: 2, Synced: 1, IDs: []uint64{1}})
	frame[4] = frameVersion + 1
	_, err := DecodeRecord(reseal(frame))
	if !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
		t.Errorf("unknown version with a good checksum: err = %v, want ErrVersion only", err)
	}
}

func equalRecord(a, b Record) bool {
	if a.Seq != b.Seq || a.Synced != b.Synced || len(a.IDs) != len(b.IDs) {
		return false
	}
	for i := range a.IDs {
		if a.IDs[i] != b.IDs[i] {
			return false
		}
	}
	return true
}
