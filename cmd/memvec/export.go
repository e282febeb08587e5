package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// newExportCommand returns the export command.
func newExportCommand() *command {
	return &command{
		name:  "export",
		args:  "STORE FILE [--ids IDS_FILE] [--raw] [--json]",
		short: "write the live vectors to a .npy, .fvecs or raw float32 file",
		long: `Export writes every live vector of STORE to FILE, by ascending ID, from one
consistent snapshot: a .npy file (float32, 2-D), an .fvecs file, or with
--raw headerless little-endian float32 rows. Vectors are written bit for
bit as they were added.

--ids writes the vectors' IDs, in the same order, to IDS_FILE: a .npy
array of uint64, or text with one ID per line. Deleted IDs leave no gap in
FILE, so the IDs file is how a row of FILE maps back to its ID.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			idsFile := fs.String("ids", "", "also write the IDs, in FILE's order, to this file (.npy or text)")
			raw := fs.Bool("raw", false, "write raw little-endian float32 rows whatever FILE's extension")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 2, 2); err != nil {
					return err
				}
				return export(ctx, c, args[0], args[1], *idsFile, *raw, *jsonOut)
			}
		},
	}
}

type exportResult struct {
	Store     string  `json:"store"`
	File      string  `json:"file"`
	Format    string  `json:"format"`
	IDsFile   string  `json:"ids_file,omitempty"`
	Dimension int     `json:"dimension"`
	Count     int64   `json:"count"`
	FirstID   *uint64 `json:"first_id,omitempty"`
	LastID    *uint64 `json:"last_id,omitempty"`
	Seconds   float64 `json:"seconds"`
}

func export(ctx context.Context, c *cli, store, file, idsFile string, raw, jsonOut bool) (err error) {
	format, err := formatOf(file, raw, "--raw")
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
	var ids []uint64
	var first, last uint64
	prog := c.newProgress("export", int64(db.Stats().Live), "rows", jsonOut)
	err = db.Range(ctx, func(id uint64, vec []float32) error {
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
		return vw.Write(vec)
	})
	prog.Done()
	if err != nil {
		vw.Abort()
		return err
	}
	if err := vw.Close(); err != nil {
		return err
	}
	if idsFile != "" {
		if err := writeIDs(idsFile, ids); err != nil {
			return err
		}
	}
	res := exportResult{Store: store, File: file, Format: format, IDsFile: idsFile, Dimension: db.Dimension(), Count: vw.rows,
		Seconds: round(time.Since(start).Seconds())}
	if vw.rows > 0 {
		res.FirstID, res.LastID = &first, &last
	}
	if jsonOut {
		return writeJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "exported %d vectors of dimension %d (IDs %s) to %s in %s\n",
		res.Count, res.Dimension, idRange(first, last, int(min(res.Count, 2))), file, fmtDuration(time.Since(start)))
	return nil
}
