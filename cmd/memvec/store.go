package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/memvec/memvec"
)

// access says how a command opens a store.
type access int

const (
	readOnly access = iota // commands that only read: they never write a byte
	readWrite
)

// openStore opens the existing store at path, read-only for commands that
// only read (so that they work on read-only folders and media, beside a
// writer's readers, and never write). A path that does not exist or is an
// empty directory is an error here, where memvec.Open would create a
// store. Background compaction is always off: IDs move only on `compact`.
func openStore(path string, how access) (*memvec.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such store", path)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: not a store (not a directory)", path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: not a store (empty directory)", path)
	}
	return memvec.Open(path, memvec.Options{ReadOnly: how == readOnly, DisableAutoCompaction: true})
}

// closeStore closes db and keeps the first error. A command that writes
// closes the store itself before it reports success (Close makes the
// writes durable and can fail), so here a DB closed already is fine.
func closeStore(db *memvec.DB, err *error) {
	if cerr := db.Close(); cerr != nil && !errors.Is(cerr, memvec.ErrClosed) && *err == nil {
		*err = cerr
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// fmtBytes formats a size with a decimal unit (1 MB = 1e6 bytes).
func fmtBytes(n int64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.2f GB", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.1f MB", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1f KB", f/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// fmtDuration formats d with three significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3g µs", float64(d)/1e3)
}

// rate returns per-second throughput, 0 for a zero duration.
func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// round keeps a figure for JSON to a few significant digits.
func round(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	p := math.Pow(10, 4-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

// idRange formats [first, last] of count IDs.
func idRange(first, last uint64, count int) string {
	switch count {
	case 0:
		return "none"
	case 1:
		return strconv.FormatUint(first, 10)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// parseID parses one decimal ID.
func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef("bad ID %q: want a non-negative integer", s)
	}
	return id, nil
}

// readIDs reads a file of IDs: a .npy array of integers, or text with IDs
// separated by white space or commas (one per line, as export --ids
// writes them). Lines starting with # are comments.
func readIDs(path string) ([]uint64, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		return readNpyIDs(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		for _, field := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			id, err := strconv.ParseUint(field, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad ID %q", path, line, field)
			}
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// writeIDs writes ids to path: a .npy array of uint64, or text, one per
// line.
func writeIDs(path string, ids []uint64) error {
	return writeOutput(path, func(w *bufio.Writer) error {
		if strings.EqualFold(filepath.Ext(path), ".npy") {
			return writeNpyIDs(w, ids)
		}
		b := make([]byte, 0, 24)
		for _, id := range ids {
			b = strconv.AppendUint(b[:0], id, 10)
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeOutput creates path, lets fill write it through a buffer, and
// flushes and closes it; on any error it removes the file, so a failed
// command never leaves half an output behind.
func writeOutput(path string, fill func(w *bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	return closeWritten(f, path, err)
}
