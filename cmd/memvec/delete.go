package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/memvec/memvec"
)

// newDeleteCommand returns the delete command.
func newDeleteCommand() *command {
	return &command{
		name:  "delete",
		args:  "STORE (ID... | --from IDS_FILE | --key K... | --keys KEYS_FILE) [--json]",
		short: "delete vectors by ID or records by key",
		long: `Delete deletes the given IDs, or those listed in IDS_FILE (.npy integers or
text, as export --ids writes), and prints how many were live. Unknown,
already deleted and repeated IDs count 0 and are not an error. The delete
is durable when the command returns; the space is reclaimed by
"memvec compact".

--key K (repeated for several) deletes the records stored under the keys
instead, and --keys KEYS_FILE those of a text file with one key per line
(as import --keys reads and export --keys writes; empty lines, rows
without a key, are skipped); the two may be combined. Keys that no live
record holds count 0 and are not an error; an empty key or one of more
than 1024 bytes is a usage error and deletes nothing.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			from := fs.String("from", "", "read the IDs from this file")
			var keys stringsFlag
			fs.Var(&keys, "key", "delete the record stored under key `K` (repeat for several)")
			keysFile := fs.String("keys", "", "delete the records under the keys of `KEYS_FILE`, one per line")
			jsonOut := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, c *cli, args []string) (err error) {
				if err := wantArgs(args, 1, -1); err != nil {
					return err
				}
				byKey := len(keys) > 0 || *keysFile != ""
				byID := len(args) > 1 || *from != ""
				switch {
				case byKey && byID:
					return usagef("give IDs or keys, not both")
				case byKey:
					var all []string
					if *keysFile != "" {
						if all, err = readKeys(*keysFile); err != nil {
							return err
						}
					}
					return deleteKeys(c, args[0], append(all, keys...), *jsonOut)
				case (*from == "") == (len(args) == 1):
					return usagef("give either IDs or --from IDS_FILE (or keys: --key K, --keys KEYS_FILE)")
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
func deleteIDs(c *cli, store string, ids []uint64, jsonOut bool) error {
	return deleteIn(c, store, len(ids), "IDs", jsonOut, func(db *memvec.DB) (int, error) {
		return db.Delete(ids)
	})
}

// deleteKeys deletes the records stored under keys and reports how many
// were live.
func deleteKeys(c *cli, store string, keys []string, jsonOut bool) error {
	return deleteIn(c, store, len(keys), "keys", jsonOut, func(db *memvec.DB) (int, error) {
		n, err := db.DeleteKeys(keys)
		return n, keyArgError(err)
	})
}

// deleteIn opens store, deletes with del the requested IDs or keys (what
// names them) and, once the store is closed and the delete durable,
// reports how many were live.
func deleteIn(c *cli, store string, requested int, what string, jsonOut bool, del func(*memvec.DB) (int, error)) (err error) {
	db, err := openStore(store, readWrite)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	n, err := del(db)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(c.stdout, map[string]int{"requested": requested, "deleted": n})
	}
	fmt.Fprintf(c.stdout, "deleted %d of %d %s\n", n, requested, what)
	return nil
}
