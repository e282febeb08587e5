package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/memvec/memvec"
)

// newStatsCommand returns the stats command.
func newStatsCommand() *command {
	return &command{
		name:  "stats",
		args:  "STORE [--json]",
		short: "print the store's statistics and its segments",
		long: `Stats prints every field of the store's Stats (total rows, live and
deleted ones, segments, disk bytes, the bytes a compaction would reclaim,
the tombstone log's size, the compaction epoch), then one row per segment
file: its ID range, rows, deleted share, size and whether it is sealed.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			jsonOut := fs.Bool("json", false, "print the statistics as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				return stats(c, args[0], *jsonOut)
			}
		},
	}
}

// stats prints the statistics of store and of each of its segments.
func stats(c *cli, store string, jsonOut bool) (err error) {
	db, err := openStore(store, readOnly)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	segs, err := db.SegmentInfo()
	if err != nil {
		return err
	}
	st := db.Stats()
	if jsonOut {
		return writeJSON(c.stdout, statsJSON(store, st, segs))
	}
	printStats(c, store, st, segs)
	return nil
}

type jsonSegment struct {
	Number   uint64 `json:"number"`
	FirstID  uint64 `json:"first_id"`
	LastID   uint64 `json:"last_id"`
	Runs     int    `json:"runs"`
	Rows     uint64 `json:"rows"`
	Deleted  uint64 `json:"deleted"`
	Capacity uint64 `json:"capacity"`
	Sealed   bool   `json:"sealed"`
	Bytes    int64  `json:"bytes"`
}

type jsonStats struct {
	Store            string        `json:"store"`
	Dimension        int           `json:"dimension"`
	Total            uint64        `json:"total"`
	Live             uint64        `json:"live"`
	Deleted          uint64        `json:"deleted"`
	Segments         int           `json:"segments"`
	DiskBytes        int64         `json:"disk_bytes"`
	ReclaimableBytes int64         `json:"reclaimable_bytes"`
	WALBytes         int64         `json:"wal_bytes"`
	CodeBytes        int64         `json:"code_bytes"`
	Epoch            uint64        `json:"epoch"`
	NextID           uint64        `json:"next_id"`
	SegmentFiles     []jsonSegment `json:"segment_files"`
}

func statsJSON(store string, st memvec.Stats, segs []memvec.SegmentInfo) jsonStats {
	j := jsonStats{
		Store: store, Dimension: st.Dimension, Total: st.Total, Live: st.Live, Deleted: st.Deleted,
		Segments: st.Segments, DiskBytes: st.DiskBytes, ReclaimableBytes: st.ReclaimableBytes,
		WALBytes: st.WALBytes, CodeBytes: st.CodeBytes, Epoch: st.Epoch, NextID: st.NextID, SegmentFiles: make([]jsonSegment, len(segs)),
	}
	for i, s := range segs {
		j.SegmentFiles[i] = jsonSegment(s)
	}
	return j
}

func printStats(c *cli, store string, st memvec.Stats, segs []memvec.SegmentInfo) {
	fmt.Fprintf(c.stdout, "store        %s\n", store)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dimension\t%d\t\n", st.Dimension)
	fmt.Fprintf(tw, "total\t%d\t(rows stored, deleted ones included)\n", st.Total)
	fmt.Fprintf(tw, "live\t%d\t\n", st.Live)
	fmt.Fprintf(tw, "deleted\t%d\t(%s)\n", st.Deleted, share(st.Deleted, st.Total))
	fmt.Fprintf(tw, "segments\t%d\t\n", st.Segments)
	fmt.Fprintf(tw, "disk\t%s\t(%d bytes)\n", fmtBytes(st.DiskBytes), st.DiskBytes)
	fmt.Fprintf(tw, "reclaimable\t%s\t(%d bytes: what memvec compact would free)\n", fmtBytes(st.ReclaimableBytes), st.ReclaimableBytes)
	fmt.Fprintf(tw, "wal\t%s\t(%d bytes of tombstone log)\n", fmtBytes(st.WALBytes), st.WALBytes)
	fmt.Fprintf(tw, "codes\t%s\t(%d bytes of int8 codes, part of disk; 0 before memvec upgrade of an older store)\n", fmtBytes(st.CodeBytes), st.CodeBytes)
	fmt.Fprintf(tw, "epoch\t%d\t(compactions committed)\n", st.Epoch)
	fmt.Fprintf(tw, "next ID\t%d\t(the ID the next added vector gets)\n", st.NextID)
	tw.Flush()
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			fmt.Fprintln(c.stdout, strings.TrimRight(line, " \n"))
		}
	}
	if len(segs) == 0 {
		return
	}
	fmt.Fprintln(c.stdout)
	tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "segment\tIDs\truns\trows\tdeleted\tdeleted %%\tcapacity\tsize\tstate\t\n")
	for _, s := range segs {
		ids := "-"
		if s.Rows > 0 {
			ids = fmt.Sprintf("%d-%d", s.FirstID, s.LastID)
		}
		state := "sealed"
		if !s.Sealed {
			state = "active"
		}
		fmt.Fprintf(tw, "%06d\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t\n",
			s.Number, ids, s.Runs, s.Rows, s.Deleted, share(s.Deleted, s.Rows), s.Capacity, fmtBytes(s.Bytes), state)
	}
	tw.Flush()
}

func share(part, whole uint64) string {
	if whole == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
