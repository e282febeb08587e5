package main

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadVectors feeds arbitrary bytes to the vector-file readers (.npy,
// .fvecs, raw) as a file on disk: they must return rows or an error, never
// panic or allocate without bound, and every row they return must have the
// dimension they reported.
func FuzzReadVectors(f *testing.F) {
	npy := npyHeaderBytes("<f4", []int64{2, 3}, 0)
	for i := 0; i < 6; i++ {
		npy = binary.LittleEndian.AppendUint32(npy, math.Float32bits(float32(i)))
	}
	f.Add(npy, uint8(0))
	f.Add(npyHeaderBytes("<f8", []int64{1, 2}, 0), uint8(0))
	f.Add(npyHeaderBytes("<f4", []int64{1 << 40, 1 << 40}, 0), uint8(0))
	fvecs := binary.LittleEndian.AppendUint32(nil, 2)
	fvecs = binary.LittleEndian.AppendUint32(fvecs, math.Float32bits(1))
	fvecs = binary.LittleEndian.AppendUint32(fvecs, math.Float32bits(2))
	f.Add(fvecs, uint8(1))
	f.Add(make([]byte, 24), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		formats := []string{fmtNpy, fmtFvecs, fmtRaw}
		format := formats[int(sel)%len(formats)]
		path := filepath.Join(t.TempDir(), "v")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dim := 0
		if format == fmtRaw {
			dim = 1 + int(sel)%7
		}
		vr, err := openVectors(path, format, dim)
		if err != nil {
			return
		}
		defer vr.Close()
		if vr.dim <= 0 || vr.dim > maxFileDim {
			t.Fatalf("accepted dimension %d", vr.dim)
		}
		dst := make([]float32, 4*vr.dim)
		for rows := int64(0); ; {
			n, err := vr.Read(dst)
			if err == io.EOF {
				if rows != vr.rows {
					t.Fatalf("read %d rows, header said %d", rows, vr.rows)
				}
				return
			}
			if err != nil {
				return
			}
			rows += int64(n)
		}
	})
}

// FuzzReadNpyIDs does the same for the ID lists of --in and --from.
func FuzzReadNpyIDs(f *testing.F) {
	ids := npyHeaderBytes("<u8", []int64{2}, 0)
	ids = binary.LittleEndian.AppendUint64(ids, 7)
	ids = binary.LittleEndian.AppendUint64(ids, 9)
	f.Add(ids)
	f.Add(npyHeaderBytes("<i4", []int64{1 << 50}, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "ids.npy")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readNpyIDs(path)
		if err == nil && len(got) > len(data) {
			t.Fatalf("%d IDs from %d bytes", len(got), len(data))
		}
	})
}
