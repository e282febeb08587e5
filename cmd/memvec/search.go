package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/memvec/memvec"
)

// newSearchCommand returns the search command.
func newSearchCommand() *command {
	return &command{
		name:  "search",
		args:  "STORE (--query FILE | --id N) [-k 10] [--min-score S] [--in IDS_FILE] [--json]",
		short: "exact cosine top-k for a query file or a stored vector",
		long: `Search prints the k live vectors most cosine-similar to each query, best
first, ties by ascending ID. The queries are the rows of --query FILE (.npy,
1-D or 2-D, or .fvecs; several rows are searched in one pass with
SearchBatch), or the stored vector --id N (which finds itself first).

--min-score drops results below it: 0 (the default) keeps non-negative
similarities, -1 keeps all. --in restricts the search to the IDs listed in
IDS_FILE (.npy integers or text, as export --ids writes), at a cost that
follows their number, not the store's size.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			query := fs.String("query", "", "file of query vectors (.npy or .fvecs)")
			idArg := fs.String("id", "", "use the stored vector with this ID as the query")
			k := fs.Int("k", 10, "results per query")
			minScore := fs.Float64("min-score", 0, "drop results with a lower cosine similarity (-1 keeps all)")
			in := fs.String("in", "", "search only the IDs listed in this file")
			jsonOut := fs.Bool("json", false, "print the results as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				if (*query == "") == (*idArg == "") {
					return usagef("give exactly one of --query FILE and --id N")
				}
				if *k <= 0 {
					return usagef("-k must be positive")
				}
				if *minScore < -1 || *minScore > 1 {
					return usagef("--min-score must lie in [-1, 1]")
				}
				s := searchArgs{store: args[0], query: *query, k: *k, minScore: float32(*minScore), in: *in, jsonOut: *jsonOut}
				if *idArg != "" {
					id, err := parseID(*idArg)
					if err != nil {
						return err
					}
					s.id = &id
				}
				return search(ctx, c, s)
			}
		},
	}
}

type searchArgs struct {
	store, query string
	id           *uint64
	k            int
	minScore     float32
	in           string
	jsonOut      bool
}

type jsonHit struct {
	ID    uint64  `json:"id"`
	Score float32 `json:"score"`
}

type jsonQuery struct {
	Query   int       `json:"query"`
	QueryID *uint64   `json:"query_id,omitempty"`
	Results []jsonHit `json:"results"`
}

type searchOutput struct {
	K        int         `json:"k"`
	MinScore float32     `json:"min_score"`
	Seconds  float64     `json:"seconds"`
	Queries  []jsonQuery `json:"queries"`
}

// searchBatchSize is how many queries of a file one SearchBatch takes.
const searchBatchSize = 64

func search(ctx context.Context, c *cli, s searchArgs) (err error) {
	var queries [][]float32
	if s.query != "" {
		format, err := formatOf(s.query, false, "")
		if err != nil {
			return err
		}
		if queries, err = readAllVectors(s.query, format, 0); err != nil {
			return err
		}
		if len(queries) == 0 {
			return fmt.Errorf("%s: no query vectors", s.query)
		}
	}
	var ids []uint64
	if s.in != "" {
		if ids, err = readIDs(s.in); err != nil {
			return err
		}
	}
	db, err := openStore(s.store, readOnly)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	if s.id != nil {
		v, err := db.Get(*s.id)
		if err != nil {
			return err
		}
		queries = [][]float32{v}
	}
	opts := memvec.SearchOptions{TopK: s.k, MinScore: s.minScore}
	start := time.Now()
	var results [][]memvec.Result
	for from := 0; from < len(queries); from += searchBatchSize {
		batch := queries[from:min(from+searchBatchSize, len(queries))]
		if s.in != "" {
			for i, q := range batch {
				res, err := db.SearchIn(ctx, q, ids, opts)
				if err != nil {
					return queryErr(err, from+i, len(queries))
				}
				results = append(results, res)
			}
			continue
		}
		res, err := db.SearchBatch(ctx, batch, opts)
		if err != nil {
			return err
		}
		results = append(results, res...)
	}
	elapsed := time.Since(start)

	out := searchOutput{K: s.k, MinScore: s.minScore, Seconds: round(elapsed.Seconds()), Queries: make([]jsonQuery, len(results))}
	for i, res := range results {
		out.Queries[i] = jsonQuery{Query: i, QueryID: s.id, Results: make([]jsonHit, len(res))}
		for j, r := range res {
			out.Queries[i].Results[j] = jsonHit{ID: r.ID, Score: r.Score}
		}
	}
	if s.jsonOut {
		return writeJSON(c.stdout, out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for i, q := range out.Queries {
		if len(out.Queries) > 1 {
			if i > 0 {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "query %d:\n", i)
		}
		if len(q.Results) == 0 {
			fmt.Fprintf(tw, "no results with score >= %g\n", s.minScore)
			continue
		}
		fmt.Fprintf(tw, "rank\tid\tscore\n")
		for j, r := range q.Results {
			fmt.Fprintf(tw, "%d\t%d\t%.6f\n", j+1, r.ID, r.Score)
		}
	}
	return tw.Flush()
}

func queryErr(err error, i, n int) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("query %d: %w", i, err)
}
