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
		args:  "STORE (--query FILE | --id N | --key K) [-k 10] [--min-score S] [--in IDS_FILE] [--payload] [--json]",
		short: "exact cosine top-k for a query file or a stored vector",
		long: `Search prints the k live vectors most cosine-similar to each query, best
first, ties by ascending ID. The queries are the rows of --query FILE (.npy,
1-D or 2-D, or .fvecs; several rows are searched in one pass with
SearchBatch), the stored vector --id N (which finds itself first), or the
vector of the record stored under --key K.

--min-score drops results below it: 0 (the default) keeps non-negative
similarities, -1 keeps all. --in restricts the search to the IDs listed in
IDS_FILE (.npy integers or text, as export --ids writes), at a cost that
follows their number, not the store's size.

Each result carries the key of its record: a key column is printed when a
result has one (rows added without a key have none). --payload adds each
result's payload (printed as text, quoted when it is not printable; in
JSON as payload, or payload_base64 when it is not UTF-8); without it the
search reads no payload.`,
		flags: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
			query := fs.String("query", "", "file of query vectors (.npy or .fvecs)")
			idArg := fs.String("id", "", "use the stored vector with this ID as the query")
			keyArg := fs.String("key", "", "use the vector of the record with key `K` as the query")
			payload := fs.Bool("payload", false, "print each result's payload")
			k := fs.Int("k", 10, "results per query")
			minScore := fs.Float64("min-score", 0, "drop results with a lower cosine similarity (-1 keeps all)")
			in := fs.String("in", "", "search only the IDs listed in this file")
			jsonOut := fs.Bool("json", false, "print the results as JSON")
			return func(ctx context.Context, c *cli, args []string) error {
				if err := wantArgs(args, 1, 1); err != nil {
					return err
				}
				byKey := isSet(fs, "key") // --key "" too: the store refuses it
				if n := btoi(*query != "") + btoi(*idArg != "") + btoi(byKey); n != 1 {
					return usagef("give exactly one of --query FILE, --id N and --key K")
				}
				if *k <= 0 {
					return usagef("-k must be positive")
				}
				if *minScore < -1 || *minScore > 1 {
					return usagef("--min-score must lie in [-1, 1]")
				}
				s := searchArgs{store: args[0], query: *query, k: *k, minScore: float32(*minScore), in: *in, payload: *payload, jsonOut: *jsonOut}
				if byKey {
					s.key = keyArg
				}
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
	key          *string
	k            int
	minScore     float32
	in           string
	payload      bool
	jsonOut      bool
}

// jsonHit is a result; a key or payload that is not valid UTF-8 is given
// in base64 in its _base64 field instead.
type jsonHit struct {
	ID            uint64  `json:"id"`
	Score         float32 `json:"score"`
	Key           string  `json:"key,omitempty"`
	KeyBase64     string  `json:"key_base64,omitempty"`
	Payload       string  `json:"payload,omitempty"`
	PayloadBase64 string  `json:"payload_base64,omitempty"`
}

type jsonQuery struct {
	Query    int       `json:"query"`
	QueryID  *uint64   `json:"query_id,omitempty"`
	QueryKey *string   `json:"query_key,omitempty"`
	Results  []jsonHit `json:"results"`
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
	if s.key != nil {
		r, err := db.GetRecord(*s.key)
		if err != nil {
			return keyArgError(err)
		}
		queries = [][]float32{r.Vector}
	}
	opts := memvec.SearchOptions{TopK: s.k, MinScore: s.minScore, WithPayload: s.payload}
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
	keyed := false // whether any result has a key: the text gets a key column
	for i, res := range results {
		out.Queries[i] = jsonQuery{Query: i, QueryID: s.id, QueryKey: s.key, Results: make([]jsonHit, len(res))}
		for j, r := range res {
			h := jsonHit{ID: r.ID, Score: r.Score}
			h.Key, h.KeyBase64 = textOrBase64([]byte(r.Key))
			h.Payload, h.PayloadBase64 = textOrBase64(r.Payload)
			out.Queries[i].Results[j] = h
			keyed = keyed || r.Key != ""
		}
	}
	if s.jsonOut {
		return writeJSON(c.stdout, out)
	}
	return printHits(c, results, s, keyed)
}

// printHits prints the results as text: a table per query.
func printHits(c *cli, results [][]memvec.Result, s searchArgs, keyed bool) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for i, q := range results {
		if len(results) > 1 {
			if i > 0 {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "query %d:\n", i)
		}
		if len(q) == 0 {
			fmt.Fprintf(tw, "no results with score >= %g\n", s.minScore)
			continue
		}
		fmt.Fprintf(tw, "rank\tid\tscore")
		if keyed {
			fmt.Fprintf(tw, "\tkey")
		}
		if s.payload {
			fmt.Fprintf(tw, "\tpayload")
		}
		fmt.Fprintln(tw)
		for j, r := range q {
			fmt.Fprintf(tw, "%d\t%d\t%.6f", j+1, r.ID, r.Score)
			if keyed {
				fmt.Fprintf(tw, "\t%s", showText(r.Key)) // "" for a row added without a key
			}
			if s.payload {
				fmt.Fprintf(tw, "\t%s", showText(string(r.Payload)))
			}
			fmt.Fprintln(tw)
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

// isSet reports whether the flag name was given, even with an empty value.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// btoi is 1 for true, 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
