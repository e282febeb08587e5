package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The checks of the files of a framedKind: names, writing and reading.

// fileNames checks the name of the file of each number.
func (k framedKind[S, E]) fileNames(t *testing.T, want map[uint64]string) {
	t.Helper()
	for n, w := range want {
		if got := k.fileName(n); got != w {
			t.Errorf("file name of %d = %q, want %q", n, got, w)
		}
	}
}

// writeRead writes v under number n into dir and checks that the file is
// exactly what encode makes of v and that reading it back gives want.
func (k framedKind[S, E]) writeRead(t *testing.T, dir string, n uint64, v, want S) {
	t.Helper()
	if err := k.write(dir, n, v); err != nil {
		t.Fatalf("write %d: %v", n, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, k.fileName(n)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, k.encode(n, v)) {
		t.Fatalf("file of number %d differs from its encoding", n)
	}
	got, err := k.read(dir, n)
	if err != nil {
		t.Fatalf("read %d: %v", n, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %d = %v, want %v", n, got, want)
	}
}

// readMissing checks that reading number n from dir, where no such file
// is, fails with os.ErrNotExist.
func (k framedKind[S, E]) readMissing(t *testing.T, dir string, n uint64) {
	t.Helper()
	if _, err := k.read(dir, n); !errors.Is(err, os.ErrNotExist) || !IsNotExist(err) {
		t.Fatalf("read of a missing file: %v, want os.ErrNotExist", err)
	}
}

// readCorrupt stores b as the file of number n in dir and checks that
// reading it is ErrCorrupt only, with an error that names the file.
func (k framedKind[S, E]) readCorrupt(t *testing.T, what, dir string, n uint64, b []byte) {
	t.Helper()
	path := filepath.Join(dir, k.fileName(n))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := k.read(dir, n)
	wantOnlyCorrupt(t, what, err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

// writeNoDir checks that writing into a directory that does not exist
// fails with os.ErrNotExist.
func (k framedKind[S, E]) writeNoDir(t *testing.T, dir string) {
	t.Helper()
	if err := k.write(filepath.Join(dir, "missing"), 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v", err)
	}
}
