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
	"strings"
	"time"

	"github.com/memvec/memvec"
)

// newImportCommand returns the import command.
func newImportCommand() *command {
	return &command{
		name:  "import",
		args:  "STORE FILE [--raw --dim N] [--batch N] [--nosync] [--json]",
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

Vectors are added --batch at a time; each batch is all or nothing, so a
failure leaves the batches before it imported (the message says which).
Vectors holding NaN or Inf or all zeros are refused.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			raw := fs.Bool("raw", false, "FILE holds raw little-endian float32 rows (needs --dim)")
			dim := fs.Int("dim", 0, "vector dimension of a raw file (checked against the others)")
			batch := fs.Int("batch", 4096, "vectors per Add batch")
			noSync := fs.Bool("nosync", false, "skip the fsync after each batch; one Sync at the end")
			segBytes := fs.Int64("segment-bytes", 0, "segment file size when the store is created (default 64 MiB)")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 2, 2); err != nil {
					return err
				}
				if *batch <= 0 || *dim < 0 || *segBytes < 0 {
					return usagef("--batch must be positive, --dim and --segment-bytes non-negative")
				}
				return importFile(ctx, c, args[0], args[1], *raw, *dim, *batch, *noSync, *segBytes, *jsonOut)
			}
		},
	}
}

type importResult struct {
	Store     string  `json:"store"`
	File      string  `json:"file"`
	Format    string  `json:"format"`
	Dimension int     `json:"dimension"`
	Count     int64   `json:"count"`
	FirstID   *uint64 `json:"first_id,omitempty"`
	LastID    *uint64 `json:"last_id,omitempty"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	MBPerSec  float64 `json:"mb_per_s"`
}

func importFile(ctx context.Context, c *cli, store, file string, raw bool, dim, batch int, noSync bool, segBytes int64, jsonOut bool) (err error) {
	format, err := formatOf(file, raw, "--raw --dim N")
	if err != nil {
		return err
	}
	vr, err := openVectors(file, format, dim)
	if err != nil {
		return err
	}
	defer vr.Close()
	start := time.Now()
	_, statErr := os.Stat(store)
	created := errors.Is(statErr, fs.ErrNotExist)
	db, err := memvec.Open(store, memvec.Options{
		Dimension: vr.dim, NoSync: noSync, SegmentBytes: segBytes, DisableAutoCompaction: true,
	})
	if err != nil {
		return err
	}
	res := importResult{Store: store, File: file, Format: format, Dimension: vr.dim}
	defer func() {
		closeStore(db, &err)
		if err != nil && created && res.Count == 0 {
			os.RemoveAll(store) // a failed import does not leave an empty store behind
		}
	}()

	var first, last uint64
	prog := c.newProgress("import", vr.rows, "rows", jsonOut)
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
		ids, err := db.Add(vecs[:n])
		if err != nil {
			if i := badRow(vecs[:n]); i >= 0 && errors.Is(err, memvec.ErrInvalidVector) {
				msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("vector %d: ", i))
				err = fmt.Errorf("row %d of %s: %s", res.Count+int64(i), file, msg)
			} else {
				err = fmt.Errorf("rows %d-%d of %s: %w", res.Count, res.Count+int64(n)-1, file, err)
			}
			return importStopped(err, res.Count, first, last)
		}
		if res.Count == 0 {
			first = ids[0]
		}
		last = ids[len(ids)-1]
		res.Count += int64(n)
		prog.Add(int64(n))
	}
	if err := db.Sync(); err != nil {
		return err
	}
	prog.Done()
	elapsed := time.Since(start)
	res.Bytes = res.Count * int64(vr.dim) * 4
	res.Seconds = round(elapsed.Seconds())
	res.MBPerSec = round(rate(float64(res.Bytes)/1e6, elapsed))
	if res.Count > 0 {
		res.FirstID, res.LastID = &first, &last
	}
	if jsonOut {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "imported %d vectors of dimension %d from %s as IDs %s: %s in %s (%.0f MB/s)\n",
		res.Count, res.Dimension, file, idRange(first, last, int(min(res.Count, 2))),
		fmtBytes(res.Bytes), fmtDuration(elapsed), rate(float64(res.Bytes)/1e6, elapsed))
	return nil
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
