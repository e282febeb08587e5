package memvec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The lines the child of the kill -9 test of compaction prints, parsed
// into events.

// ccEvent is one line of the child: an ack, a map, or (as the operation in
// flight at the kill) an intent.
type ccEvent struct {
	op      string // ready, add, del, compact, map, release
	e0, e1  uint64 // Stats().Epoch before and after the call
	seed    int64  // add
	n       int    // add
	first   uint64 // add
	ids     []uint64
	idsText string
	count   int     // del
	epoch   uint64  // compact, map (0: nothing to reclaim); ready
	runs    []IDRun // compact, map
	micros  int64   // compact
	through uint64  // release
	line    string
}

func (ev *ccEvent) String() string {
	if ev == nil {
		return "none"
	}
	return ev.line
}

// parseCCLines turns the child's lines into events and returns the
// intent of the operation that had not been acked, if any.
func parseCCLines(lines []string) (evs []*ccEvent, pending *ccEvent, err error) {
	for _, line := range lines {
		f := strings.Fields(line)
		var nums []uint64
		num := func(i int) uint64 {
			if i >= len(f) {
				err = errors.Join(err, fmt.Errorf("field %d missing", i))
				return 0
			}
			v, perr := strconv.ParseUint(f[i], 10, 64)
			err = errors.Join(err, perr)
			nums = append(nums, v)
			return v
		}
		ev := &ccEvent{line: line}
		if len(f) == 0 {
			return nil, nil, fmt.Errorf("empty line")
		}
		ev.op = strings.TrimSuffix(f[0], "-begin")
		begin := ev.op != f[0]
		switch {
		case f[0] == "ready" && len(f) == 2:
			ev.epoch = num(1)
		case f[0] == "add-begin" && len(f) == 4:
			ev.e0, ev.seed, ev.n = num(1), int64(num(2)), int(num(3))
		case f[0] == "add" && len(f) == 6:
			ev.e0, ev.e1, ev.first, ev.n, ev.seed = num(1), num(2), num(3), int(num(4)), int64(num(5))
		case f[0] == "del-begin" && len(f) == 3:
			ev.e0, ev.idsText = num(1), f[2]
		case f[0] == "del" && len(f) == 5:
			ev.e0, ev.e1, ev.count, ev.idsText = num(1), num(2), int(num(3)), f[4]
		case f[0] == "compact-begin" && len(f) == 2:
			ev.e0 = num(1)
		case f[0] == "compact" && len(f) == 6:
			ev.e0, ev.e1, ev.epoch, ev.micros = num(1), num(2), num(3), int64(num(4))
			ev.runs, err = parseRuns(f[5])
		case f[0] == "map" && len(f) == 3:
			ev.epoch = num(1)
			ev.runs, err = parseRuns(f[2])
		case f[0] == "release-begin" && len(f) == 2, f[0] == "release" && len(f) == 2:
			ev.through = num(1)
		default:
			return nil, nil, fmt.Errorf("unexpected child line %q", line)
		}
		if ev.idsText != "" && err == nil {
			ev.ids, err = parseIDs(ev.idsText)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("child line %q: %w", line, err)
		}
		switch {
		case begin:
			if pending != nil {
				return nil, nil, fmt.Errorf("intent %q while %q is in flight", line, pending.line)
			}
			pending = ev
		case ev.op == "ready" || ev.op == "map":
			evs = append(evs, ev)
		default:
			if pending == nil || pending.op != ev.op || pending.e0 != ev.e0 || pending.seed != ev.seed ||
				pending.n != ev.n || pending.idsText != ev.idsText || pending.through != ev.through {
				return nil, nil, fmt.Errorf("ack %q does not match the intent %v", line, pending)
			}
			pending = nil
			evs = append(evs, ev)
		}
	}
	return evs, pending, nil
}
