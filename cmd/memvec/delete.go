package main

import (
	"context"
	"flag"
	"fmt"
)

// newDeleteCommand returns the delete command.
func newDeleteCommand() *command {
	return &command{
		name:  "delete",
		args:  "STORE (ID... | --from IDS_FILE) [--json]",
		short: "delete vectors by ID",
		long: `Delete deletes the given IDs, or those listed in IDS_FILE (.npy integers or
text, as export --ids writes), and prints how many were live. Unknown,
already deleted and repeated IDs count 0 and are not an error. The delete
is durable when the command returns; the space is reclaimed by
"memvec compact".`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			from := fs.String("from", "", "read the IDs from this file")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) (err error) {
				if err := wantArgs(args, 1, -1); err != nil {
					return err
				}
				if (*from == "") == (len(args) == 1) {
					return usagef("give either IDs or --from IDS_FILE")
				}
				var ids []uint64
				if *from != "" {
					if ids, err = readIDs(*from); err != nil {
						return err
					}
				}
				for _, a := range args[1:] {
					id, err := parseID(a)
					if err != nil {
						return err
					}
					ids = append(ids, id)
				}
				return deleteIDs(c, args[0], ids, *jsonOut)
			}
		},
	}
}

// deleteIDs deletes ids from store and reports how many were live.
func deleteIDs(c *cli, store string, ids []uint64, jsonOut bool) (err error) {
	db, err := openStore(store, readWrite)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	n, err := db.Delete(ids)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(c.stdout, map[string]int{"requested": len(ids), "deleted": n})
	}
	fmt.Fprintf(c.stdout, "deleted %d of %d IDs\n", n, len(ids))
	return nil
}
