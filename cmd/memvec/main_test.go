package main

// These tests build the memvec binary once (TestMain) and run it on
// temporary stores, as a user would: exit status, stdout, stderr.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "memvec-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "memvec")
	goCmd := "go"
	if _, err := exec.LookPath(goCmd); err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goCmd, "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building memvec:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args in dir.
func runCLI(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("memvec %v: %v", args, err)
	}
	return r
}

// ok runs the binary and fails the test unless it exits 0.
func ok(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := runCLI(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("memvec %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs the binary with --json and decodes its output into v.
func okJSON(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	r := runCLI(t, dir, append(args, "--json")...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("memvec %s --json: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("memvec %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs the binary, expects exit code want, a one-line message on
// stderr (for status 1) containing every one of msgs, and returns stderr.
func fails(t *testing.T, dir string, want int, msgs []string, args ...string) string {
	t.Helper()
	r := runCLI(t, dir, args...)
	if r.code != want {
		t.Fatalf("memvec %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	if want == 1 && strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("memvec %s: stderr is not one line: %q", strings.Join(args, " "), r.stderr)
	}
	if want == 2 && !strings.Contains(r.stderr, "Usage: memvec ") && !strings.Contains(r.stderr, "Usage:\n  memvec") {
		t.Errorf("memvec %s: no usage on stderr: %q", strings.Join(args, " "), r.stderr)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			t.Errorf("memvec %s: stderr %q does not say %q", strings.Join(args, " "), r.stderr, m)
		}
	}
	return r.stderr
}

// randRows returns n random vectors with components in [-1, 1).
func randRows(seed int64, n, dim int) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, dim)
		for j := range rows[i] {
			rows[i][j] = rng.Float32()*2 - 1
		}
	}
	return rows
}

// The writers and readers below follow the formats' specifications
// independently of the command's code.

// npyBytes lays out a .npy file as numpy.save does: version 1.0, the
// header dict padded with spaces to a multiple of 64 bytes, then the data.
func npyBytes(descr string, shape string, data []byte) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	n := 10 + len(dict) + 1
	pad := (64 - n%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	return append(b, data...)
}

func f32Bytes(rows [][]float32) []byte {
	var b []byte
	for _, r := range rows {
		for _, x := range r {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeNpy32(t *testing.T, path string, rows [][]float32) string {
	return writeFile(t, path, npyBytes("<f4", fmt.Sprintf("(%d, %d)", len(rows), len(rows[0])), f32Bytes(rows)))
}

func writeFvecs(t *testing.T, path string, rows [][]float32) string {
	var b []byte
	for _, r := range rows {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, f32Bytes([][]float32{r})...)
	}
	return writeFile(t, path, b)
}

// readNpy32 parses a float32 .npy file written by export.
func readNpy32(t *testing.T, path string) [][]float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "\x93NUMPY\x01\x00" {
		t.Fatalf("%s: bad magic %q", path, b[:8])
	}
	n := int(binary.LittleEndian.Uint16(b[8:]))
	if (10+n)%64 != 0 || b[10+n-1] != '\n' {
		t.Fatalf("%s: header of %d bytes is not padded to 64 with a final newline", path, n)
	}
	hdr := string(b[10 : 10+n])
	var rows, dim int
	i := strings.Index(hdr, "'shape': (")
	if !strings.HasPrefix(hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (") || i < 0 {
		t.Fatalf("%s: header %q", path, hdr)
	}
	if _, err := fmt.Sscanf(hdr[i+len("'shape': ("):], "%d, %d)", &rows, &dim); err != nil {
		t.Fatalf("%s: shape in %q: %v", path, hdr, err)
	}
	return splitRows(t, b[10+n:], rows, dim, 0)
}

func readFvecs(t *testing.T, path string, dim int) [][]float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	row := 4 + 4*dim
	if len(b)%row != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of rows", path, len(b))
	}
	for off := 0; off < len(b); off += row {
		if d := binary.LittleEndian.Uint32(b[off:]); int(d) != dim {
			t.Fatalf("%s: row dimension %d", path, d)
		}
	}
	return splitRows(t, b, len(b)/row, dim, 4)
}

// splitRows decodes n rows of dim float32, each after skip bytes.
func splitRows(t *testing.T, b []byte, n, dim, skip int) [][]float32 {
	t.Helper()
	if len(b) != n*(dim*4+skip) {
		t.Fatalf("%d data bytes for %d x %d", len(b), n, dim)
	}
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, dim)
		for j := range rows[i] {
			rows[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*(dim*4+skip)+skip+4*j:]))
		}
	}
	return rows
}

func readIDsText(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, f := range strings.Fields(string(b)) {
		var id uint64
		if _, err := fmt.Sscan(f, &id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// importOut is import's --json output.
type importOut struct {
	Store, File, Format string
	Dimension           int
	Count               int64
	FirstID             *uint64 `json:"first_id"`
	LastID              *uint64 `json:"last_id"`
	Bytes               int64
	Seconds             float64
	MBPerS              float64 `json:"mb_per_s"`
}

func importJSON(t *testing.T, dir string, args ...string) importOut {
	t.Helper()
	var out importOut
	okJSON(t, dir, &out, append([]string{"import"}, args...)...)
	return out
}

func checkRange(t *testing.T, out importOut, first, count uint64) {
	t.Helper()
	if out.Count != int64(count) || out.FirstID == nil || out.LastID == nil || *out.FirstID != first || *out.LastID != first+count-1 {
		t.Fatalf("import: %+v, want %d vectors from ID %d", out, count, first)
	}
}
