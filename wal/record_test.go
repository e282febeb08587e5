package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	{"sync mode", Record{Seq: 42, Synced: 41, Gen: 3, IDs: []uint64{3, 1, 2}}},
	{"nosync lag", Record{Seq: 1000, Synced: 17, Gen: 1, IDs: []uint64{0, 0, 5}}},
	{"extremes", Record{Seq: math.MaxUint64, Synced: math.MaxUint64 - 1, Gen: math.MaxUint64, IDs: []uint64{math.MaxUint64, 0}}},
	{"many IDs", Record{Seq: 9, Synced: 8, Gen: 77, IDs: seqIDs(100, 513)}},
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
			if frame[4] != version2 || len(frame) != 41+8*len(tc.rec.IDs) || len(frame) != frameSize(version2, len(tc.rec.IDs)) {
				t.Fatalf("frame is version %d, %d bytes; want version 2, 41+8n = %d", frame[4], len(frame), 41+8*len(tc.rec.IDs))
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

// TestRecordVersion1 decodes frames in the layout written before Gen
// existed: 33+8n bytes, Gen reads as 0.
func TestRecordVersion1(t *testing.T) {
	for _, tc := range recordCases {
		frame := appendFrame(nil, tc.rec, version1)
		if frame[4] != 1 || len(frame) != 33+8*len(tc.rec.IDs) || len(frame) != frameSize(version1, len(tc.rec.IDs)) {
			t.Fatalf("%s: version %d frame of %d bytes, want version 1, 33+8n", tc.name, frame[4], len(frame))
		}
		got, err := DecodeRecord(frame)
		if err != nil {
			t.Fatalf("%s: DecodeRecord: %v", tc.name, err)
		}
		want := tc.rec
		want.Gen = 0
		if !equalRecord(got, want) {
			t.Fatalf("%s: got %+v, want %+v", tc.name, got, want)
		}
	}
}

func TestDecodeRecordRejectsTruncation(t *testing.T) {
	for _, tc := range bothVersions() {
		frame := tc.frame
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
	for _, tc := range bothVersions() {
		frame := tc.frame
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
		for _, v := range []byte{version1, version2} {
			if _, err := DecodeRecord(appendFrame(nil, tc.rec, v)); !errors.Is(err, tc.want) {
				t.Errorf("%s v%d: err = %v, want %v", tc.name, v, err, tc.want)
			}
		}
	}
	for _, v := range []byte{0, 3, 0xff} {
		for _, n := range []int{0, 1, 40} { // an unknown layout may have any length
			frame := AppendRecord(nil, Record{Seq: 2, Synced: 1, IDs: seqIDs(1, 3)})
			frame = append(frame[:envelopeSize-sumSize+n], make([]byte, sumSize)...)
			frame[4] = v
			_, err := DecodeRecord(reseal(frame))
			if !errors.Is(err, errs.ErrVersion) || errors.Is(err, errs.ErrCorrupt) {
				t.Errorf("version %d, %d bytes, good checksum: err = %v, want ErrVersion only", v, len(frame), err)
			}
		}
	}
	// A frame relabelled to the other known version, checksum recomputed,
	// must not be read in the wrong layout.
	for _, v := range []byte{version1, version2} {
		frame := appendFrame(nil, Record{Seq: 2, Synced: 1, Gen: 5, IDs: seqIDs(1, 3)}, v)
		frame[4] = version1 + version2 - v
		if _, err := DecodeRecord(reseal(frame)); !errors.Is(err, errs.ErrCorrupt) {
			t.Errorf("version %d frame relabelled %d: err = %v, want ErrCorrupt", v, frame[4], err)
		}
	}
}

// bothVersions encodes every record case as a version 1 and a version 2
// frame.
func bothVersions() []struct {
	name  string
	frame []byte
} {
	var out []struct {
		name  string
		frame []byte
	}
	for _, tc := range recordCases {
		for _, v := range []byte{version1, version2} {
			out = append(out, struct {
				name  string
				frame []byte
			}{fmt.Sprintf("%s v%d", tc.name, v), appendFrame(nil, tc.rec, v)})
		}
	}
	return out
}

func equalRecord(a, b Record) bool {
	if a.Seq != b.Seq || a.Synced != b.Synced || a.Gen != b.Gen || len(a.IDs) != len(b.IDs) {
		return false
	}
	for i := range a.IDs {
		if a.IDs[i] != b.IDs[i] {
			return false
		}
	}
	return true
}
