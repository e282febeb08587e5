package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/memvec/memvec"
)

// newExportCommand returns the export command.
func newExportCommand() *command {
	return &command{
		name:  "export",
		args:  "STORE FILE [--ids IDS_FILE] [--keys KEYS_FILE] [--payload PAYLOAD_FILE] [--raw] [--json]",
		short: "write the live vectors to a .npy, .fvecs or raw float32 file",
		long: `Export writes every live vector of STORE to FILE, by ascending ID, from one
consistent snapshot: a .npy file (float32, 2-D), an .fvecs file, or with
--raw headerless little-endian float32 rows. Vectors are written bit for
bit as they were added.

--ids writes the vectors' IDs, in the same order, to IDS_FILE: a .npy
array of uint64, or text with one ID per line. Deleted IDs leave no gap in
FILE, so the IDs file is how a row of FILE maps back to its ID.

--keys writes the rows' keys to KEYS_FILE, one per line in FILE's order,
and --payload their payloads to PAYLOAD_FILE in the same way: a row added
without a key (or a record without a payload) is an empty line, so line i
is always row i. These are the files import --keys and --payload read: an
export imports back into the same records. A key or payload holding a
line break cannot be written so and fails the export.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			idsFile := fs.String("ids", "", "also write the IDs, in FILE's order, to this file (.npy or text)")
			keysFile := fs.String("keys", "", "also write the keys, one per line in FILE's order, to `KEYS_FILE`")
			payloadFile := fs.String("payload", "", "also write the payloads, one per line in FILE's order, to `PAYLOAD_FILE`")
			raw := fs.Bool("raw", false, "write raw little-endian float32 rows whatever FILE's extension")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 2, 2); err != nil {
					return err
				}
				e := exportArgs{store: args[0], file: args[1], ids: *idsFile, keys: *keysFile, payload: *payloadFile, raw: *raw, jsonOut: *jsonOut}
				return export(ctx, c, e)
			}
		},
	}
}

// exportArgs is an export's arguments.
type exportArgs struct {
	store, file        string
	ids, keys, payload string // files, or ""
	raw, jsonOut       bool
}

// fileResult begins the --json output of export and of import: the store,
// the vector file and the files beside it, and the rows moved.
type fileResult struct {
	Store       string  `json:"store"`
	File        string  `json:"file"`
	Format      string  `json:"format"`
	IDsFile     string  `json:"ids_file,omitempty"` // export --ids only
	KeysFile    string  `json:"keys_file,omitempty"`
	PayloadFile string  `json:"payload_file,omitempty"`
	Dimension   int     `json:"dimension"`
	Count       int64   `json:"count"`
	FirstID     *uint64 `json:"first_id,omitempty"`
	LastID      *uint64 `json:"last_id,omitempty"`
}

// setIDs records first and last as the IDs of the rows, if there are any.
func (r *fileResult) setIDs(first, last uint64) {
	if r.Count > 0 {
		r.FirstID, r.LastID = &first, &last
	}
}

type exportResult struct {
	fileResult
	Seconds float64 `json:"seconds"`
}

func export(ctx context.Context, c *cli, e exportArgs) (err error) {
	store, file, idsFile := e.store, e.file, e.ids
	format, err := formatOf(file, e.raw, "--raw")
	if err != nil {
		return err
	}
	start := time.Now()
	db, err := openStore(store, readOnly)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	vw, err := createVectors(file, format, db.Dimension())
	if err != nil {
		return err
	}
	rk, err := newRecordLines(e.keys, e.payload)
	if err != nil {
		vw.Abort()
		return err
	}
	var ids []uint64
	var first, last uint64
	prog := c.newProgress("export", int64(db.Stats().Live), "rows", e.jsonOut)
	// Keys and payloads cost a read per row: RangeRecords only when a
	// file wants them.
	rangeRows := db.RangeRecords
	if e.keys == "" && e.payload == "" {
		rangeRows = func(ctx context.Context, fn func(memvec.Record) error) error {
			return db.Range(ctx, func(id uint64, vec []float32) error { return fn(memvec.Record{ID: id, Vector: vec}) })
		}
	}
	err = rangeRows(ctx, func(rec memvec.Record) error {
		id, vec := rec.ID, rec.Vector
		if vw.rows == 0 {
			first = id
		}
		last = id
		if idsFile != "" {
			ids = append(ids, id)
		}
		if vw.rows%4096 == 4095 {
			prog.Add(4096)
		}
		if err := rk.add(rec); err != nil {
			return err
		}
		return vw.Write(vec)
	})
	prog.Done()
	if err != nil {
		vw.Abort()
		rk.abort()
		return err
	}
	if err := vw.Close(); err != nil {
		rk.abort()
		return err
	}
	if err := rk.close(); err != nil {
		return err
	}
	if idsFile != "" {
		if err := writeIDs(idsFile, ids); err != nil {
			return err
		}
	}
	res := exportResult{fileResult: fileResult{Store: store, File: file, Format: format, IDsFile: idsFile, KeysFile: e.keys,
		PayloadFile: e.payload, Dimension: db.Dimension(), Count: vw.rows}, Seconds: round(time.Since(start).Seconds())}
	res.setIDs(first, last)
	if e.jsonOut {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "exported %d vectors of dimension %d (IDs %s) to %s in %s\n",
		res.Count, res.Dimension, idRange(first, last, int(min(res.Count, 2))), file, fmtDuration(time.Since(start)))
	return nil
}
