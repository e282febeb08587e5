package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/memvectest"
)

// TestRoundTrip imports each input format and exports each output format:
// the vectors come back bit for bit, in ID order, with their IDs.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	const n, dim = 300, 12
	rows := randRows(1, n, dim)
	rows[7] = []float32{float32(math.SmallestNonzeroFloat32), float32(math.Copysign(0, -1)), 1e-20, 3.4e28, 1, 2, 3, 4, 5, 6, 7, 8}
	// float64 input: values that are not float32 become their nearest float32.
	var f64 []byte
	want64 := make([][]float32, n)
	for i, r := range rows {
		want64[i] = make([]float32, dim)
		for j, x := range r {
			v := float64(x) + 1e-12*float64(j+1)
			f64 = binary.LittleEndian.AppendUint64(f64, math.Float64bits(v))
			want64[i][j] = float32(v)
		}
	}
	for _, in := range []struct {
		name string
		file func(dir string) string
		args []string
		want [][]float32
	}{
		{"npy-f32", func(dir string) string { return writeNpy32(t, filepath.Join(dir, "in.npy"), rows) }, nil, rows},
		{"npy-f64", func(dir string) string {
			return writeFile(t, filepath.Join(dir, "in.npy"), npyBytes("<f8", fmt.Sprintf("(%d, %d)", n, dim), f64))
		}, nil, want64},
		{"fvecs", func(dir string) string { return writeFvecs(t, filepath.Join(dir, "in.fvecs"), rows) }, nil, rows},
		{"raw", func(dir string) string { return writeFile(t, filepath.Join(dir, "in.vec"), f32Bytes(rows)) }, []string{"--raw", "--dim", "12"}, rows},
	} {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := in.file(dir)
			out := importJSON(t, dir, append([]string{"store", file, "--batch", "64"}, in.args...)...)
			checkRange(t, out, 0, n)
			if out.Dimension != dim {
				t.Fatalf("dimension %d", out.Dimension)
			}
			ok(t, dir, "export", "store", "out.npy", "--ids", "ids.txt")
			memvectest.EqualRows(t, "npy", readNpy32(t, filepath.Join(dir, "out.npy")), in.want)
			ids := readIDsText(t, filepath.Join(dir, "ids.txt"))
			for i, id := range ids {
				if id != uint64(i) {
					t.Fatalf("ids.txt line %d: %d", i, id)
				}
			}
			ok(t, dir, "export", "store", "out.fvecs")
			memvectest.EqualRows(t, "fvecs", readFvecs(t, filepath.Join(dir, "out.fvecs"), dim), in.want)
			ok(t, dir, "export", "store", "out.bin", "--raw")
			raw, err := os.ReadFile(filepath.Join(dir, "out.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, f32Bytes(in.want)) {
				t.Fatal("raw export differs from the input rows")
			}
			// get --json prints each float32 so that it reads back exactly.
			var got struct {
				Vectors []struct {
					ID     uint64
					Vector []float32
				}
			}
			okJSON(t, dir, &got, "get", "store", "7", "0")
			memvectest.EqualRows(t, "get", [][]float32{got.Vectors[0].Vector, got.Vectors[1].Vector}, [][]float32{in.want[7], in.want[0]})
			ok(t, dir, "get", "store", "7", "0", "--out", "got.fvecs")
			memvectest.EqualRows(t, "get --out", readFvecs(t, filepath.Join(dir, "got.fvecs"), dim), [][]float32{in.want[7], in.want[0]})
		})
	}
}

// TestMigrateMemMapVector migrates a vectors.vec file as the Python
// MemMapVector library keeps it (numpy tofile: little-endian float32 rows,
// no header): row i becomes ID i, bit for bit, and survives a reopen.
func TestMigrateMemMapVector(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, dim = 1000, 64
	rows := randRows(2, n, dim)
	vec := writeFile(t, filepath.Join(dir, "vectors.vec"), f32Bytes(rows))
	out := ok(t, dir, "import", "store", vec, "--raw", "--dim", "64")
	if !strings.Contains(out, "as IDs 0-999") {
		t.Fatalf("import does not print the ID range: %q", out)
	}
	// A second file appends after the first.
	checkRange(t, importJSON(t, dir, "store", vec, "--raw", "--dim", "64", "--nosync"), n, n)
	for _, id := range []int{0, 1, 500, 999} {
		line := ok(t, dir, "get", "store", fmt.Sprint(id))
		fields := strings.Fields(strings.TrimPrefix(line, fmt.Sprintf("%d:", id)))
		if len(fields) != dim {
			t.Fatalf("get %d: %q", id, line)
		}
		for j, f := range fields {
			var x float32
			if _, err := fmt.Sscan(f, &x); err != nil || math.Float32bits(x) != math.Float32bits(rows[id][j]) {
				t.Fatalf("get %d component %d = %s, want %v", id, j, f, rows[id][j])
			}
		}
	}
	var res searchOut
	okJSON(t, dir, &res, "search", "store", "--id", "500", "-k", "3")
	if h := res.Queries[0].Results; len(h) == 0 || h[0].ID != 500 && h[0].ID != 1500 || h[0].Score < 0.99999 {
		t.Fatalf("search --id 500: %+v", res)
	}
	// The raw export of the first half is the migrated file, byte for byte.
	ok(t, dir, "delete", "store", "--from", writeFile(t, filepath.Join(dir, "del.txt"), []byte(idList(n, 2*n))))
	ok(t, dir, "export", "store", "back.vec", "--raw")
	back, _ := os.ReadFile(filepath.Join(dir, "back.vec"))
	orig, _ := os.ReadFile(vec)
	if !bytes.Equal(back, orig) {
		t.Fatal("export --raw of the migrated rows differs from vectors.vec")
	}
}

func idList(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintln(&b, i)
	}
	return b.String()
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := randRows(3, 10, 4)
	good := writeNpy32(t, filepath.Join(dir, "good.npy"), rows)
	rows[5] = []float32{0, 0, 0, 0}
	writeNpy32(t, filepath.Join(dir, "zero.npy"), rows)
	fails(t, dir, 1, []string{"row 5 of zero.npy", "nothing was imported"}, "import", "s1", "zero.npy")
	if _, err := os.Stat(filepath.Join(dir, "s1")); !os.IsNotExist(err) {
		t.Fatalf("a failed import left a new store behind: %v", err)
	}
	fails(t, dir, 1, []string{"row 5 of zero.npy", "IDs 0-3"}, "import", "s2", "zero.npy", "--batch", "4")
	var st statsOut
	okJSON(t, dir, &st, "stats", "s2")
	if st.Live != 4 {
		t.Fatalf("after a failed import: %+v", st)
	}

	b, _ := os.ReadFile(good)
	writeFile(t, filepath.Join(dir, "short.npy"), b[:len(b)-3])
	fails(t, dir, 1, []string{"short.npy", "truncated"}, "import", "s3", "short.npy")
	writeFile(t, filepath.Join(dir, "fortran.npy"), bytes.Replace(b, []byte("False"), []byte("True "), 1))
	fails(t, dir, 1, []string{"Fortran"}, "import", "s3", "fortran.npy")
	writeFile(t, filepath.Join(dir, "int.npy"), npyBytes("<i4", "(2, 2)", make([]byte, 16)))
	fails(t, dir, 1, []string{"float32 or float64"}, "import", "s3", "int.npy")
	writeFile(t, filepath.Join(dir, "odd.vec"), make([]byte, 10))
	fails(t, dir, 1, []string{"not a whole number of rows", "--dim"}, "import", "s3", "odd.vec", "--raw", "--dim", "4")
	writeFile(t, filepath.Join(dir, "bad.fvecs"), append(binary.LittleEndian.AppendUint32(nil, 1), 0, 0, 128, 63, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	fails(t, dir, 1, []string{"bad.fvecs"}, "import", "s3", "bad.fvecs")

	// Into an existing store of another dimension.
	ok(t, dir, "import", "s4", "good.npy")
	writeNpy32(t, filepath.Join(dir, "wide.npy"), randRows(4, 2, 8))
	fails(t, dir, 1, []string{"dimension"}, "import", "s4", "wide.npy")
	fails(t, dir, 1, []string{"no such file"}, "import", "s4", "missing.npy")
	fails(t, dir, 2, []string{"--raw --dim"}, "import", "s4", "file.txt")
	fails(t, dir, 2, []string{"--dim"}, "import", "s4", "odd.vec", "--raw")
}

// TestNpyIDsAndQueries uses .npy files for IDs (int64, as numpy writes
// them) and for queries (1-D and 2-D).
func TestNpyIDsAndQueries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := randRows(5, 50, 8)
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), rows))
	var ids []byte
	for _, id := range []int64{3, 9, 27} {
		ids = binary.LittleEndian.AppendUint64(ids, uint64(id))
	}
	writeFile(t, filepath.Join(dir, "ids.npy"), npyBytes("<i8", "(3,)", ids))
	writeFile(t, filepath.Join(dir, "q1.npy"), npyBytes("<f4", "(8,)", f32Bytes(rows[9:10])))
	var res searchOut
	okJSON(t, dir, &res, "search", "store", "--query", "q1.npy", "--in", "ids.npy", "-k", "5", "--min-score", "-1")
	if h := res.Queries[0].Results; len(h) != 3 || h[0].ID != 9 || h[0].Score < 0.99999 {
		t.Fatalf("search --in ids.npy: %+v", res)
	}
	ok(t, dir, "delete", "store", "--from", "ids.npy")
	ok(t, dir, "export", "store", "out.npy", "--ids", "out-ids.npy")
	b, _ := os.ReadFile(filepath.Join(dir, "out-ids.npy"))
	if !bytes.Contains(b, []byte("'descr': '<u8'")) || !bytes.Contains(b, []byte("'shape': (47,)")) {
		t.Fatalf("ids .npy header: %q", b[:64])
	}
	got := make([]uint64, 47)
	binary.Read(bytes.NewReader(b[len(b)-47*8:]), binary.LittleEndian, got)
	if got[0] != 0 || got[3] != 4 || got[46] != 49 {
		t.Fatalf("exported IDs %v", got)
	}
}
