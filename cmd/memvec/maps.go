package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
)

// newMapsCommand returns the maps command.
func newMapsCommand() *command {
	return &command{
		name:  "maps",
		args:  "STORE [--since E] [--release E] [-v] [--json]",
		short: "list the stored ID maps of past compactions, or release them",
		long: `Maps lists the old-to-new ID maps the store keeps, of the compactions with
an epoch greater than --since (default 0: all), oldest first: an
application that keeps IDs elsewhere applies each in order. -v prints
every run of each map (old IDs [old, old+len) moved to [new, new+len)).

--release E drops the maps of every epoch up to E, once they are applied,
and says how many there were; given alone it only releases, given with
--since it lists, then releases. E may not be above the store's epoch
(the number of compactions so far, which stats prints): no compaction
has that epoch yet, so its map cannot have been applied.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			since := fs.Uint64("since", 0, "list the maps of epochs after this one")
			release := fs.Uint64("release", 0, "drop the maps of every epoch up to this one")
			verbose := fs.Bool("v", false, "print every run")
			jsonOut := fs.Bool("json", false, "print the maps as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				set := map[string]bool{}
				fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
				m := mapsArgs{since: *since, list: !set["release"] || set["since"], verbose: *verbose, json: *jsonOut}
				if set["release"] {
					if *release == 0 {
						return usagef("--release needs an epoch of 1 or more")
					}
					m.release = release
				}
				return maps(c, args[0], m)
			}
		},
	}
}

type mapsArgs struct {
	since         uint64
	release       *uint64 // nil: list only
	list, verbose bool
	json          bool
}

// maps lists the ID maps of store after m.since, then releases those
// through *m.release.
func maps(c *cli, store string, m mapsArgs) (err error) {
	how := readOnly
	if m.release != nil {
		how = readWrite
	}
	db, err := openStore(store, how)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	if epoch := db.Stats().Epoch; m.release != nil && *m.release > epoch {
		return usagef("--release %d: the store is at epoch %d (no compaction has epoch %d yet)", *m.release, epoch, *m.release)
	}
	out := struct {
		Maps     []jsonMap `json:"maps"`
		Released *uint64   `json:"released_through,omitempty"`
		Dropped  *int      `json:"released_maps,omitempty"` // with Released: how many maps were still kept
	}{Maps: []jsonMap{}}
	if m.list {
		found, err := db.IDMapsSince(m.since)
		if err != nil {
			return err
		}
		for _, mp := range found {
			out.Maps = append(out.Maps, toJSONMap(mp))
			if !m.json {
				fmt.Fprintf(c.stdout, "epoch %d: %s\n", mp.Epoch, mapSummary(mp))
				if m.verbose {
					for _, r := range mp.Runs {
						fmt.Fprintf(c.stdout, "  %s -> %s\n", runRange(r.Old, r.Len), runRange(r.New, r.Len))
					}
				}
			}
		}
		if len(found) == 0 && !m.json {
			fmt.Fprintf(c.stdout, "no ID maps after epoch %d\n", m.since)
		}
	}
	if m.release != nil {
		kept, err := db.IDMapsSince(0)
		if err != nil {
			return err
		}
		dropped := 0
		for _, mp := range kept {
			if mp.Epoch <= *m.release {
				dropped++
			}
		}
		if err := db.ReleaseIDMaps(*m.release); err != nil {
			return err
		}
		if err := db.Close(); err != nil {
			return err
		}
		out.Released, out.Dropped = m.release, &dropped
		if !m.json {
			fmt.Fprintf(c.stdout, "released the ID maps through epoch %d (%s)\n", *m.release, plural(dropped, "map"))
		}
	}
	if m.json {
		return writeJSON(c.stdout, out)
	}
	return nil
}

func runRange(first, n uint64) string {
	if n == 1 {
		return strconv.FormatUint(first, 10)
	}
	return fmt.Sprintf("%d-%d", first, first+n-1)
}
