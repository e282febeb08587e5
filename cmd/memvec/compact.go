package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/memvec/memvec"
)

// newCompactCommand returns the compact command.
func newCompactCommand() *command {
	return &command{
		name:  "compact",
		args:  "STORE [--map-out FILE.csv|FILE.json] [--json]",
		short: "reclaim deleted space; live vectors move to new IDs",
		long: `Compact rewrites every segment that holds deleted rows. Their live vectors
move, in ID order, to fresh IDs above every ID handed out so far; the old
IDs are never reused. It prints the compaction's epoch and a summary of its
old-to-new ID map, which is also kept in the store until released (see
"memvec maps").

--map-out writes the map as runs: old IDs [old, old+len) moved to
[new, new+len). A .csv file has the header old,new,len and one run per
line; a .json file holds {"epoch": E, "runs": [{"old", "new", "len"}...]}.
With nothing to compact the map is empty (epoch 0).`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			mapOut := fs.String("map-out", "", "write the ID map to this .csv or .json file")
			jsonOut := fs.Bool("json", false, "print the result, map included, as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				if ext := strings.ToLower(filepath.Ext(*mapOut)); *mapOut != "" && ext != ".csv" && ext != ".json" {
					return usagef("--map-out %s: want a .csv or .json file", *mapOut)
				}
				return compact(ctx, c, args[0], *mapOut, *jsonOut)
			}
		},
	}
}

type jsonRun struct {
	Old uint64 `json:"old"`
	New uint64 `json:"new"`
	Len uint64 `json:"len"`
}

// jsonMap is an IDMap with its summary.
type jsonMap struct {
	Epoch uint64    `json:"epoch"`
	Moved uint64    `json:"moved"`
	Runs  []jsonRun `json:"runs"`
}

func toJSONMap(m memvec.IDMap) jsonMap {
	j := jsonMap{Epoch: m.Epoch, Runs: make([]jsonRun, len(m.Runs))}
	for i, r := range m.Runs {
		j.Runs[i] = jsonRun(r)
		j.Moved += r.Len
	}
	return j
}

// mapSummary says in one line what a map moved.
func mapSummary(m memvec.IDMap) string {
	if len(m.Runs) == 0 {
		return "no IDs moved"
	}
	var moved uint64
	newFirst, newLast := m.Runs[0].New, m.Runs[0].New
	for _, r := range m.Runs {
		moved += r.Len
		newFirst = min(newFirst, r.New)
		newLast = max(newLast, r.New+r.Len-1)
	}
	last := m.Runs[len(m.Runs)-1]
	return fmt.Sprintf("%d IDs moved in %s: old %d-%d -> new %d-%d",
		moved, plural(len(m.Runs), "run"), m.Runs[0].Old, last.Old+last.Len-1, newFirst, newLast)
}

// plural formats a count and its noun.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

type compactResult struct {
	Store            string  `json:"store"`
	Compacted        bool    `json:"compacted"`
	ReclaimedBytes   int64   `json:"reclaimed_bytes"`
	DiskBytesBefore  int64   `json:"disk_bytes_before"`
	DiskBytesAfter   int64   `json:"disk_bytes_after"`
	SegmentsBefore   int     `json:"segments_before"`
	SegmentsAfter    int     `json:"segments_after"`
	Seconds          float64 `json:"seconds"`
	MapFile          string  `json:"map_file,omitempty"`
	Map              jsonMap `json:"map"`
	DeletedRemaining uint64  `json:"deleted_remaining"`
}

func compact(ctx context.Context, c *cli, store, mapOut string, jsonOut bool) (err error) {
	db, err := openStore(store, readWrite)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	before := db.Stats()
	start := time.Now()
	prog := c.newProgress("compact", -1, "", jsonOut)
	m, err := db.Compact(ctx)
	prog.Done()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	after := db.Stats()
	if err := db.Close(); err != nil {
		return err
	}
	res := compactResult{
		Store: store, Compacted: m.Epoch != 0,
		ReclaimedBytes: before.DiskBytes - after.DiskBytes, DiskBytesBefore: before.DiskBytes, DiskBytesAfter: after.DiskBytes,
		SegmentsBefore: before.Segments, SegmentsAfter: after.Segments,
		Seconds: round(elapsed.Seconds()), MapFile: mapOut, Map: toJSONMap(m), DeletedRemaining: after.Deleted,
	}
	if mapOut != "" {
		if err := writeMapFile(mapOut, res.Map); err != nil {
			return err
		}
	}
	if jsonOut {
		return writeJSON(c.stdout, res)
	}
	if !res.Compacted {
		fmt.Fprintf(c.stdout, "nothing to compact: no segment holds deleted rows\n")
		return nil
	}
	fmt.Fprintf(c.stdout, "compaction epoch %d in %s: %s\n", m.Epoch, fmtDuration(elapsed), mapSummary(m))
	fmt.Fprintf(c.stdout, "disk %s -> %s (%s reclaimed), %d -> %d segments\n",
		fmtBytes(before.DiskBytes), fmtBytes(after.DiskBytes), fmtBytes(res.ReclaimedBytes), before.Segments, after.Segments)
	if mapOut != "" {
		fmt.Fprintf(c.stdout, "ID map written to %s\n", mapOut)
	}
	fmt.Fprintf(c.stdout, "apply the map to the IDs you keep, then: memvec maps %s --release %d\n", store, m.Epoch)
	return nil
}

// writeMapFile writes an ID map as CSV or JSON, by extension.
func writeMapFile(path string, m jsonMap) error {
	return writeOutput(path, func(w *bufio.Writer) error {
		if strings.EqualFold(filepath.Ext(path), ".json") {
			return writeJSON(w, m)
		}
		w.WriteString("old,new,len\n")
		var b []byte
		for _, r := range m.Runs {
			b = strconv.AppendUint(b[:0], r.Old, 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, r.New, 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, r.Len, 10)
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}
