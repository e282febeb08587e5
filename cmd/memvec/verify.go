package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// newVerifyCommand returns the verify command.
func newVerifyCommand() *command {
	return &command{
		name:  "verify",
		args:  "STORE [--json]",
		short: "check every checksum of the store",
		long: `Verify reads every checksummed byte of the store (manifest, segments,
tombstone log and checkpoint, ID maps) and checks it. On a mismatch it
exits with status 1 and a message naming the file and offset.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				return verify(ctx, c, args[0], *jsonOut)
			}
		},
	}
}

// verify checks every checksum of store.
func verify(ctx context.Context, c *cli, store string, jsonOut bool) (err error) {
	start := time.Now()
	db, err := openStore(store, readOnly)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	st := db.Stats()
	prog := c.newProgress("verify", -1, "", jsonOut)
	err = db.Verify(ctx)
	prog.Done()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if jsonOut {
		return writeJSON(c.stdout, map[string]any{
			"store": store, "ok": true, "segments": st.Segments, "bytes": st.DiskBytes,
			"seconds": round(elapsed.Seconds()),
		})
	}
	fmt.Fprintf(c.stdout, "ok: %d segments, %s checked in %s (%.0f MB/s)\n",
		st.Segments, fmtBytes(st.DiskBytes), fmtDuration(elapsed), rate(float64(st.DiskBytes)/1e6, elapsed))
	return nil
}
