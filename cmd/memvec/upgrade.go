package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// newUpgradeCommand returns the upgrade command.
func newUpgradeCommand() *command {
	return &command{
		name:  "upgrade",
		args:  "STORE [--json]",
		short: "give segments of older formats int8 codes; no ID moves",
		long: `Upgrade rewrites every segment file of a format older than this build's
into the current one (DB.Upgrade). Stores written before int8 codes existed
open and answer correctly as they are, but every search reads their rows in
float32; once upgraded, a search reads their codes first and rescores only
the rows that can reach the top k. Every ID, vector, key, payload and
deleted row stays as it was: no ID map is made. Running it again does
nothing.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				return upgrade(ctx, c, args[0], *jsonOut)
			}
		},
	}
}

type upgradeResult struct {
	Store           string  `json:"store"`
	Rewritten       int     `json:"segments_rewritten"`
	CodeBytesBefore int64   `json:"code_bytes_before"`
	CodeBytesAfter  int64   `json:"code_bytes_after"`
	DiskBytesBefore int64   `json:"disk_bytes_before"`
	DiskBytesAfter  int64   `json:"disk_bytes_after"`
	Seconds         float64 `json:"seconds"`
}

func upgrade(ctx context.Context, c *cli, store string, jsonOut bool) (err error) {
	db, err := openStore(store, readWrite)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	before := db.Stats()
	start := time.Now()
	prog := c.newProgress("upgrade", -1, "", jsonOut)
	n, err := db.Upgrade(ctx)
	prog.Done()
	if err != nil {
		return err
	}
	after := db.Stats()
	res := upgradeResult{Store: store, Rewritten: n, CodeBytesBefore: before.CodeBytes, CodeBytesAfter: after.CodeBytes,
		DiskBytesBefore: before.DiskBytes, DiskBytesAfter: after.DiskBytes, Seconds: round(time.Since(start).Seconds())}
	if jsonOut {
		return writeJSON(c.stdout, res)
	}
	if n == 0 {
		fmt.Fprintf(c.stdout, "nothing to upgrade: every segment is in the current format\n")
		return nil
	}
	fmt.Fprintf(c.stdout, "%s rewritten in %s, no ID moved; codes %s -> %s, disk %s -> %s\n",
		plural(n, "segment"), fmtDuration(time.Since(start)), fmtBytes(before.CodeBytes), fmtBytes(after.CodeBytes),
		fmtBytes(before.DiskBytes), fmtBytes(after.DiskBytes))
	return nil
}
