package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/memvec/memvec"
)

// newImportCommand returns the import command.
func newImportCommand() *command {
	return &command{
		name:  "import",
		args:  "STORE FILE [--raw --dim N] [--keys KEYS_FILE [--payload PAYLOAD_FILE]] [--batch N] [--nosync] [--json]",
		short: "add the vectors of a .npy, .fvecs or raw float32 file",
		long: `Import adds every vector of FILE to STORE, in file order, and prints the
range of IDs they got: row i of the file becomes ID first+i. STORE is
created with the file's dimension when it does not exist (and removed
again if not one vector could be imported).

FILE is a .npy file (float32 or float64, 2-D, C order), an .fvecs file, or,
with --raw --dim N, raw little-endian float32 rows with no header: what
numpy's tofile writes and the on-disk format of the Python MemMapVector
library, so its vectors.vec file migrates with
    memvec import STORE vectors.vec --raw --dim 512
(the IDs are the row numbers when STORE starts empty).

--keys stores the vectors as keyed records (Put): KEYS_FILE is text with
one key per line, line i for row i, as many lines as FILE has rows. A key
that is live in STORE is replaced, record and all: it gets the new vector
and payload (none without --payload) under a new ID. An empty line
imports its row without a key (as export --keys writes such rows); a key
of more than 1024 bytes or on two lines is refused. --payload PAYLOAD_FILE
adds a payload to each keyed row, one per line in the same way (an empty
line: no payload; at most 64 KiB); a JSON-lines file works as it is, each
line's JSON being the payload. A trailing "\r" is dropped from every line,
so keys and payloads cannot hold line breaks. Both files are checked in
full, and their line counts against FILE's rows, before anything is
written.

Vectors are added --batch at a time; each batch is all or nothing (with
--keys, each run of keyed or of unkeyed rows in it), so a failure leaves
the rows before it imported (the message says which).
Vectors holding NaN or Inf or all zeros are refused.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			raw := fs.Bool("raw", false, "FILE holds raw little-endian float32 rows (needs --dim)")
			dim := fs.Int("dim", 0, "vector dimension of a raw file (checked against the others)")
			batch := fs.Int("batch", 4096, "rows per Add (or Put) batch")
			noSync := fs.Bool("nosync", false, "skip the fsync after each batch; one Sync at the end")
			segBytes := fs.Int64("segment-bytes", 0, "segment file size when the store is created (default 64 MiB)")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			var im importArgs
			fs.StringVar(&im.keys, "keys", "", "store the rows as records under the keys of `KEYS_FILE`, one per line")
			fs.StringVar(&im.payload, "payload", "", "with --keys, the records' payloads, one per line of `PAYLOAD_FILE`")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 2, 2); err != nil {
					return err
				}
				if *batch <= 0 || *dim < 0 || *segBytes < 0 {
					return usagef("--batch must be positive, --dim and --segment-bytes non-negative")
				}
				if im.payload != "" && im.keys == "" {
					return usagef("--payload needs --keys: payloads belong to keyed records")
				}
				im.store, im.file, im.raw, im.dim, im.batch, im.noSync, im.segBytes, im.jsonOut =
					args[0], args[1], *raw, *dim, *batch, *noSync, *segBytes, *jsonOut
				return importFile(ctx, c, im)
			}
		},
	}
}

// importArgs is an import's arguments.
type importArgs struct {
	store, file   string
	keys, payload string // files, or ""
	raw           bool
	dim, batch    int
	noSync        bool
	segBytes      int64
	jsonOut       bool
}

type importResult struct {
	fileResult
	Keyed    *int64  `json:"keyed,omitempty"`    // rows put under a key (with --keys)
	Replaced *int64  `json:"replaced,omitempty"` // live records those keys replaced
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MBPerSec float64 `json:"mb_per_s"`
}

func importFile(ctx context.Context, c *cli, im importArgs) (err error) {
	store, file, batch := im.store, im.file, im.batch
	format, err := formatOf(file, im.raw, "--raw --dim N")
	if err != nil {
		return err
	}
	vr, err := openVectors(file, format, im.dim)
	if err != nil {
		return err
	}
	defer vr.Close()
	// The keys and payloads are checked in full before the store is
	// opened (or created): a bad file writes nothing.
	var keys []string
	var payloads *lineReader
	if im.keys != "" {
		if keys, err = readImportKeys(im.keys); err != nil {
			return err
		}
		if int64(len(keys)) != vr.rows {
			return usagef("%s has %d lines but %s has %d rows: give one key per row", im.keys, len(keys), file, vr.rows)
		}
	}
	if im.payload != "" {
		n, err := checkPayloads(im.payload, im.keys, keys)
		if err != nil {
			return err
		}
		if int64(n) != vr.rows {
			return usagef("%s has %d lines but %s has %d rows: give one payload per row", im.payload, n, file, vr.rows)
		}
		if payloads, err = openLines(im.payload, "payload", memvec.MaxPayloadLen); err != nil {
			return err
		}
		defer payloads.Close()
	}
	start := time.Now()
	_, statErr := os.Stat(store)
	created := errors.Is(statErr, fs.ErrNotExist)
	db, err := memvec.Open(store, memvec.Options{
		Dimension: vr.dim, NoSync: im.noSync, SegmentBytes: im.segBytes, DisableAutoCompaction: true,
	})
	if err != nil {
		return err
	}
	res := importResult{fileResult: fileResult{Store: store, File: file, Format: format, KeysFile: im.keys, PayloadFile: im.payload, Dimension: vr.dim}}
	defer func() {
		closeStore(db, &err)
		if err != nil && created && res.Count == 0 {
			os.RemoveAll(store) // a failed import does not leave an empty store behind
		}
	}()
	liveBefore := db.Stats().Live

	var first, last uint64
	var keyed int64
	prog := c.newProgress("import", vr.rows, "rows", im.jsonOut)
	defer prog.Done()
	buf := make([]float32, batch*vr.dim)
	vecs := make([][]float32, batch)
	for {
		if err := ctx.Err(); err != nil {
			return importStopped(err, res.Count, first, last)
		}
		n, err := vr.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return importStopped(err, res.Count, first, last)
		}
		for i := 0; i < n; i++ {
			vecs[i] = buf[i*vr.dim : (i+1)*vr.dim]
		}
		var ids []uint64
		if keys == nil {
			ids, err = db.Add(vecs[:n])
			if err != nil {
				err = rowsError(err, vecs[:n], res.Count, file)
			}
		} else {
			// On an error, ids are those of the runs stored before it.
			ids, err = putRows(db, vecs[:n], keys[res.Count:res.Count+int64(n)], payloads, res.Count, file)
		}
		if len(ids) > 0 {
			if res.Count == 0 {
				first = ids[0]
			}
			last = ids[len(ids)-1]
			if keys != nil {
				for _, k := range keys[res.Count : res.Count+int64(len(ids))] {
					if k != "" {
						keyed++
					}
				}
			}
			res.Count += int64(len(ids))
			prog.Add(int64(len(ids)))
		}
		if err != nil {
			return importStopped(err, res.Count, first, last)
		}
	}
	if err := db.Sync(); err != nil {
		return err
	}
	prog.Done()
	elapsed := time.Since(start)
	res.Bytes = res.Count * int64(vr.dim) * 4
	res.Seconds = round(elapsed.Seconds())
	res.MBPerSec = round(rate(float64(res.Bytes)/1e6, elapsed))
	res.setIDs(first, last)
	var replaced int64
	if keys != nil {
		// Only this command writes to the store (it holds its lock), so
		// every live row it did not add is a record a Put replaced.
		replaced = int64(liveBefore) + res.Count - int64(db.Stats().Live)
		res.Keyed, res.Replaced = &keyed, &replaced
	}
	if im.jsonOut {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "imported %d vectors of dimension %d from %s as IDs %s: %s in %s (%.0f MB/s)\n",
		res.Count, res.Dimension, file, idRange(first, last, int(min(res.Count, 2))),
		fmtBytes(res.Bytes), fmtDuration(elapsed), rate(float64(res.Bytes)/1e6, elapsed))
	if keys != nil {
		fmt.Fprintf(c.stdout, "keys from %s: %s put, of which %d replaced a live record; %s without a key\n",
			im.keys, plural(int(keyed), "record"), replaced, plural(int(res.Count-keyed), "row"))
	}
	return nil
}

// putRows stores one batch of an import with keys: rows with a key go to
// Put, with their payloads, and rows without one (an empty line) to Add,
// in runs, so that row i still gets the ID after row i-1's. from is the
// batch's first row in the file. It returns the IDs of the rows stored,
// all of them or, with an error, those of the runs before the failed one.
func putRows(db *memvec.DB, vecs [][]float32, keys []string, payloads *lineReader, from int64, file string) ([]uint64, error) {
	var pays [][]byte
	if payloads != nil {
		pays = make([][]byte, len(vecs))
		for i := range pays {
			b, err := payloads.next()
			if err == io.EOF {
				err = fmt.Errorf("%s: ends before row %d (it changed during the import?)", payloads.path, from+int64(i))
			}
			if err != nil {
				return nil, err
			}
			if len(b) > 0 {
				pays[i] = append([]byte(nil), b...) // next reuses b's memory
			}
		}
	}
	ids := make([]uint64, 0, len(vecs))
	for i := 0; i < len(vecs); {
		j := i + 1
		for j < len(vecs) && (keys[j] == "") == (keys[i] == "") {
			j++
		}
		var got []uint64
		var err error
		if keys[i] == "" {
			got, err = db.Add(vecs[i:j])
		} else {
			recs := make([]memvec.Record, j-i)
			for r := range recs {
				recs[r] = memvec.Record{Key: keys[i+r], Vector: vecs[i+r]}
				if pays != nil {
					recs[r].Payload = pays[i+r]
				}
			}
			got, err = db.Put(recs)
		}
		if err != nil {
			return ids, rowsError(err, vecs[i:j], from+int64(i), file)
		}
		ids = append(ids, got...)
		i = j
	}
	return ids, nil
}

// rowsError names the rows of file a failed Add or Put held: the bad row
// when a vector was refused, else the range. from is vecs[0]'s row.
func rowsError(err error, vecs [][]float32, from int64, file string) error {
	if i := badRow(vecs); i >= 0 && errors.Is(err, memvec.ErrInvalidVector) {
		return fmt.Errorf("row %d of %s: %w", from+int64(i), file, err)
	}
	return fmt.Errorf("rows %d-%d of %s: %w", from, from+int64(len(vecs))-1, file, err)
}

// badRow returns the index of the first vector that memvec refuses
// (NaN, Inf, all zeros or a norm outside [1e-30, 1e30]), or -1.
func badRow(vecs [][]float32) int {
	for i, v := range vecs {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.IsNaN(ss) || math.IsInf(ss, 0) || ss < 1e-60 || ss > 1e60 {
			return i
		}
	}
	return -1
}

// importStopped says what was imported before a failure.
func importStopped(err error, count int64, first, last uint64) error {
	if count == 0 {
		return fmt.Errorf("%w; nothing was imported", err)
	}
	return fmt.Errorf("%w; the %d vectors before were imported as IDs %d-%d", err, count, first, last)
}
