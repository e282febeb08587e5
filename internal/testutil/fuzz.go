package testutil

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// ReadFuzzSeed parses testdata/fuzz/<target>/<name>, a file of the
// committed seed corpus of fuzz target, which must hold one []byte value
// in the `go test fuzz v1` format.
func ReadFuzzSeed(tb testing.TB, target, name string) []byte {
	tb.Helper()
	path := filepath.Join("testdata", "fuzz", target, name)
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		tb.Fatalf("%s: not a one-value go test fuzz v1 file: %q", path, lines)
	}
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return []byte(v)
}

// WantCorruptOrVersion fails unless err wraps exactly one of
// errs.ErrCorrupt (damaged input) and errs.ErrVersion (a format this build
// does not read): what a decoder's error must be, whatever its input.
func WantCorruptOrVersion(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, errs.ErrCorrupt) == errors.Is(err, errs.ErrVersion) {
		tb.Fatalf("error %v is not exactly one of ErrCorrupt, ErrVersion", err)
	}
}
