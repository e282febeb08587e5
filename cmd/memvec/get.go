package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strconv"
)

// newGetCommand returns the get command.
func newGetCommand() *command {
	return &command{
		name:  "get",
		args:  "STORE ID... [--out FILE] [--json]",
		short: "print stored vectors",
		long: `Get prints the vectors stored under the given IDs, one per line: the ID, a
colon, then the components in the shortest decimal form that reads back to
the same float32. An ID that is not live (never assigned, deleted, or moved
by a compaction) fails the command. --out writes the vectors to a file
instead (.npy, .fvecs), in the order of the IDs given.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			out := fs.String("out", "", "write the vectors to this .npy or .fvecs file instead")
			jsonOut := fs.Bool("json", false, "print the vectors as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
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
	format := ""
	if out != "" {
		if format, err = formatOf(out, false, ""); err != nil {
			return err
		}
	}
	db, err := openStore(store, readOnly)
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
		vw, err := createVectors(out, format, db.Dimension())
		if err != nil {
			return err
		}
		for _, v := range vecs {
			if err := vw.Write(v.Vector); err != nil {
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
	if jsonOut {
		return writeJSON(c.stdout, map[string]any{"vectors": vecs})
	}
	w := bufio.NewWriter(c.stdout)
	var b []byte
	for _, v := range vecs {
		b = strconv.AppendUint(b[:0], v.ID, 10)
		b = append(b, ':')
		for _, x := range v.Vector {
			b = append(b, ' ')
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		b = append(b, '\n')
		w.Write(b)
	}
	return w.Flush()
}
