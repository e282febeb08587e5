package main

// Key and payload files: text with one key or one payload per line, as
// import --keys/--payload read them, delete --keys reads keys and export
// --keys/--payload writes them. Line i goes with row i of the vector file.
// A line ends at "\n" and a "\r" before it is dropped (files written on
// Windows), so a key or payload written this way cannot hold "\n" nor end
// with "\r"; any other byte is taken as it is. An empty line is a row
// without a key (or without a payload).

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/memvec/memvec"
)

// lineReader reads a key or payload file a line at a time.
type lineReader struct {
	path string
	what string // "key" or "payload", for messages
	max  int    // longest line accepted, in bytes
	f    *os.File
	r    *bufio.Reader
	line int // lines read so far
}

// openLines opens path for lines of at most limit bytes.
func openLines(path, what string, limit int) (*lineReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// The buffer holds the longest line with its "\r\n": a longer one
	// fills it and is refused without being read whole.
	return &lineReader{path: path, what: what, max: limit, f: f, r: bufio.NewReaderSize(f, max(limit+2, 64<<10))}, nil
}

// next returns the next line without its line break, valid until the next
// call; io.EOF after the last line.
func (lr *lineReader) next() ([]byte, error) {
	b, err := lr.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%s:%d: %s longer than %d bytes", lr.path, lr.line+1, lr.what, lr.max)
	case err == io.EOF && len(b) == 0:
		return nil, io.EOF
	case err != nil && err != io.EOF:
		return nil, fmt.Errorf("%s: %w", lr.path, err)
	}
	lr.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) > lr.max {
		return nil, fmt.Errorf("%s:%d: %s of %d bytes, at most %d", lr.path, lr.line, lr.what, len(b), lr.max)
	}
	return b, nil
}

// Close closes the file.
func (lr *lineReader) Close() error { return lr.f.Close() }

// forLines calls fn with each line of path (see openLines) and its number,
// from 1, and stops at the first error, of the file or of fn.
func forLines(path, what string, limit int, fn func(line int, b []byte) error) error {
	lr, err := openLines(path, what, limit)
	if err != nil {
		return err
	}
	defer lr.Close()
	for {
		b, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(lr.line, b); err != nil {
			return err
		}
	}
}

// readImportKeys reads the keys of an import, one per row: "" for an empty
// line (a row imported without a key). A key longer than MaxKeyLen or on
// two lines fails it, naming the lines: import checks the whole file
// before it writes anything.
func readImportKeys(path string) ([]string, error) {
	var keys []string
	seen := map[string]int{}
	err := forLines(path, "key", memvec.MaxKeyLen, func(line int, b []byte) error {
		k := string(b)
		if k != "" {
			// Put would refuse a key twice in a batch but replace it
			// across batches: refused whatever --batch is.
			if prev, dup := seen[k]; dup {
				return fmt.Errorf("%s:%d: key %s also on line %d", path, line, showText(k), prev)
			}
			seen[k] = line
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// checkPayloads reads a payload file through once and returns its number
// of lines, refusing a payload over MaxPayloadLen or one on the line of a
// row without a key (Add stores no payload). The payloads are read again
// as the import goes, not held in memory.
func checkPayloads(path, keysPath string, keys []string) (int, error) {
	lines := 0
	err := forLines(path, "payload", memvec.MaxPayloadLen, func(line int, b []byte) error {
		lines = line
		if i := line - 1; len(b) > 0 && i < len(keys) && keys[i] == "" {
			return fmt.Errorf("%s:%d: a payload for a row without a key (line %d of %s is empty)", path, line, line, keysPath)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return lines, nil
}

// readKeys reads a file of keys to delete, one per line; empty lines (rows
// without a key in a file that export --keys wrote) are skipped.
func readKeys(path string) ([]string, error) {
	var keys []string
	err := forLines(path, "key", memvec.MaxKeyLen, func(_ int, b []byte) error {
		if len(b) > 0 {
			keys = append(keys, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// lineWriter writes a key or payload file, one line per row.
type lineWriter struct {
	path string
	what string
	f    *os.File
	w    *bufio.Writer
}

func createLines(path, what string) (*lineWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &lineWriter{path: path, what: what, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// write writes b as the line of the row with ID id. Bytes that would not
// read back as the same line are refused rather than written wrong.
func (lw *lineWriter) write(id uint64, b []byte) error {
	if bytes.IndexByte(b, '\n') >= 0 || bytes.HasSuffix(b, []byte("\r")) {
		return fmt.Errorf("%s: the %s of ID %d holds a line break, which a file of one %s per line cannot keep",
			lw.path, lw.what, id, lw.what)
	}
	lw.w.Write(b)
	return lw.w.WriteByte('\n')
}

// Close flushes and closes the file, removing it on failure.
func (lw *lineWriter) Close() error {
	return closeWritten(lw.f, lw.path, lw.w.Flush())
}

// Abort closes and removes a file that could not be completed.
func (lw *lineWriter) Abort() {
	lw.f.Close()
	os.Remove(lw.path)
}

// stringsFlag is a flag that may be given several times, such as --key.
type stringsFlag []string

func (s *stringsFlag) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, " ")
}

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// keyArgError turns the API's refusal of a key given on the command line
// (empty or longer than MaxKeyLen: ErrInvalidArgument) into a usage error.
func keyArgError(err error) error {
	if errors.Is(err, memvec.ErrInvalidArgument) {
		return usagef("bad --key: %s", strings.TrimPrefix(err.Error(), "memvec: "))
	}
	return err
}

// textOrBase64 returns b for a JSON document: as text when it is valid
// UTF-8, else as base64 in the second result (a JSON string holds only
// Unicode, so other bytes would not read back).
func textOrBase64(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// showText returns a key or payload for a text line: as it is when it is
// printable UTF-8, quoted Go-style otherwise (empty, control characters,
// tabs, invalid UTF-8, or a leading quote that would read as quoting), so
// that the line keeps its columns.
func showText(s string) string {
	if s == "" || s[0] == '"' || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
