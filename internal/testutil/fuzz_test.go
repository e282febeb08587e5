package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// recorder is a testing.TB whose Fatal records the failure and unwinds
// (by a panic that fails recovers) instead of ending the test, so that the
// helpers' failures can be checked.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); panic(r) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

// fails runs f against a recorder and returns what it failed with ("": it
// passed).
func fails(t *testing.T, f func(tb testing.TB)) (msg string) {
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
		msg = r.failed
	}()
	f(r)
	return ""
}

func TestReadFuzzSeed(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join("testdata", "fuzz", "FuzzX", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good", "go test fuzz v1\n[]byte(\"a\\x00b\")\n\n")
	if got := ReadFuzzSeed(t, "FuzzX", "good"); string(got) != "a\x00b" {
		t.Fatalf("ReadFuzzSeed = %q", got)
	}
	write("two", "go test fuzz v1\n[]byte(\"a\")\nint(1)\n")
	write("int", "go test fuzz v1\nint(1)\n")
	write("header", "go test fuzz v2\n[]byte(\"a\")\n")
	write("quote", "go test fuzz v1\n[]byte(\"a)\n")
	for _, name := range []string{"two", "int", "header", "quote", "missing"} {
		if msg := fails(t, func(tb testing.TB) { ReadFuzzSeed(tb, "FuzzX", name) }); msg == "" {
			t.Errorf("ReadFuzzSeed of %s passed", name)
		}
	}
}

func TestWantCorruptOrVersion(t *testing.T) {
	for _, tc := range []struct {
		err  error
		pass bool
	}{
		{fmt.Errorf("x: %w", errs.ErrCorrupt), true},
		{fmt.Errorf("x: %w", errs.ErrVersion), true},
		{nil, false},
		{fmt.Errorf("x"), false},
		{fmt.Errorf("x: %w, %w", errs.ErrCorrupt, errs.ErrVersion), false},
	} {
		msg := fails(t, func(tb testing.TB) { WantCorruptOrVersion(tb, tc.err) })
		if (msg == "") != tc.pass {
			t.Errorf("WantCorruptOrVersion(%v): failed with %q, want pass %v", tc.err, msg, tc.pass)
		}
	}
}
