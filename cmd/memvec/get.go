package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/memvec/memvec"
)

// newGetCommand returns the get command.
func newGetCommand() *command {
	return &command{
		name:  "get",
		args:  "STORE (ID... | --key K...) [--out FILE] [--json]",
		short: "print stored vectors, or records by key",
		long: `Get prints the vectors stored under the given IDs, one per line: the ID, a
colon, then the components in the shortest decimal form that reads back to
the same float32. An ID that is not live (never assigned, deleted, or moved
by a compaction) fails the command. --out writes the vectors to a file
instead (.npy, .fvecs), in the order of the IDs given.

--key K (repeated for several keys) prints the records stored under the
keys instead: for each, its key, its current ID, its payload and its
vector, in a block of lines (a key or payload that is not printable text
is shown quoted). A key that no live record holds fails the command; an
empty key or one of more than 1024 bytes is a usage error. With --json a
key or payload that is not UTF-8 is given in base64, as key_base64 or
payload_base64.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			out := fs.String("out", "", "write the vectors to this .npy or .fvecs file instead")
			jsonOut := fs.Bool("json", false, "print the vectors as JSON")
			var keys stringsFlag
			fs.Var(&keys, "key", "print the record stored under key `K` (repeat for several)")
			return func(ctx context.Context, c *cli, args []string) error {
				if len(keys) > 0 {
					if err := wantArgs(args, 1, 1); err != nil {
						return usagef("give IDs or --key, not both")
					}
					return getRecords(c, args[0], keys, *out, *jsonOut)
				}
				if err := wantArgs(args, 2, -1); err != nil {
					return err
				}
				ids := make([]uint64, len(args)-1)
				for i, a := range args[1:] {
					var err error
					if ids[i], err = parseID(a); err != nil {
						return err
					}
				}
				return get(c, args[0], ids, *out, *jsonOut)
			}
		},
	}
}

type jsonVector struct {
	ID     uint64    `json:"id"`
	Vector []float32 `json:"vector"`
}

func get(c *cli, store string, ids []uint64, out string, jsonOut bool) (err error) {
	db, format, err := openForGet(store, out)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	vecs := make([]jsonVector, len(ids))
	for i, id := range ids {
		v, err := db.Get(id)
		if err != nil {
			return err
		}
		vecs[i] = jsonVector{ID: id, Vector: v}
	}
	if out != "" {
		rows := make([][]float32, len(vecs))
		for i, v := range vecs {
			rows[i] = v.Vector
		}
		return writeGot(c, out, format, db.Dimension(), rows, jsonOut)
	}
	if jsonOut {
		return writeJSON(c.stdout, map[string]any{"vectors": vecs})
	}
	w := bufio.NewWriter(c.stdout)
	var b []byte
	for _, v := range vecs {
		b = strconv.AppendUint(b[:0], v.ID, 10)
		b = append(b, ':')
		b = appendVector(b, v.Vector)
		b = append(b, '\n')
		w.Write(b)
	}
	return w.Flush()
}

// openForGet opens store to read for get, once the format of out (the
// file of --out, if any) is known to be one get writes. The caller closes
// the store with closeStore.
func openForGet(store, out string) (db *memvec.DB, format string, err error) {
	if out != "" {
		if format, err = formatOf(out, false, ""); err != nil {
			return nil, "", err
		}
	}
	db, err = openStore(store, readOnly)
	return db, format, err
}

// writeGot writes the vectors get found to the file of --out.
func writeGot(c *cli, out, format string, dim int, vecs [][]float32, jsonOut bool) error {
	vw, err := createVectors(out, format, dim)
	if err != nil {
		return err
	}
	for _, v := range vecs {
		if err := vw.Write(v); err != nil {
			vw.Abort()
			return err
		}
	}
	if err := vw.Close(); err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(c.stdout, map[string]any{"file": out, "count": len(vecs)})
	}
	fmt.Fprintf(c.stdout, "wrote %d vectors to %s\n", len(vecs), out)
	return nil
}

// appendVector appends the components of v, each after a space, in the
// shortest form that reads back to the same float32.
func appendVector(b []byte, v []float32) []byte {
	for _, x := range v {
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return b
}
