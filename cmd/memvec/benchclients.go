package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memvec/memvec"
)

// The --clients phase of bench: Search called by many goroutines at once,
// as a service embedding memvec calls it, beside SearchBatch of as many
// queries on the same store. Concurrent searches share their passes over
// the store (README "Concurrent searches"), so the first should approach
// the second's throughput.

// clientsCalls is how many Searches the --clients phase times: --queries,
// and at least clientsMinPerClient per client, so that its p99 is not
// just its slowest call.
func clientsCalls(queries, clients int) int {
	return max(queries, clientsMinPerClient*clients)
}

const clientsMinPerClient = 20

// benchClients times calls Searches made by clients goroutines at once
// (each taking the next query in turn) and as many queries in SearchBatch
// calls of clients queries, alternately in rounds, so that both see the
// same machine. It returns the two rows for the table.
func benchClients(ctx context.Context, db *memvec.DB, queries [][]float32, opts memvec.SearchOptions, clients, calls int, prog interface{ Add(int64) }) ([]benchRow, error) {
	const rounds = 4
	var (
		lat     []time.Duration // every Search's latency
		elapsed time.Duration   // the concurrent rounds' wall time
		batch   []time.Duration
	)
	qs := make([][]float32, clients)
	for i := range qs {
		qs[i] = queries[i%len(queries)]
	}
	for r := 0; r < rounds; r++ {
		n := calls*(r+1)/rounds - calls*r/rounds // the rounds share calls evenly
		t := time.Now()
		l, err := searchConcurrently(ctx, db, queries, opts, clients, n)
		if err != nil {
			return nil, err
		}
		elapsed += time.Since(t)
		lat = append(lat, l...)
		prog.Add(int64(n))
		for done := 0; done < n; done += clients {
			t := time.Now()
			if _, err := db.SearchBatch(ctx, qs, opts); err != nil {
				return nil, err
			}
			batch = append(batch, time.Since(t))
			prog.Add(int64(clients))
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	bt := median(batch)
	return []benchRow{
		{Name: "search_clients", Op: fmt.Sprintf("Search from %d goroutines, top %d", clients, opts.TopK), Calls: len(lat),
			MedianMs: ms(p(0.5)), P99Ms: ms(p(0.99)), QueriesPerS: round(rate(float64(len(lat)), elapsed))},
		{Name: "search_batch_clients", Op: fmt.Sprintf("SearchBatch of %d, top %d", clients, opts.TopK), Calls: len(batch), MedianMs: ms(bt),
			PerQueryMs: ms(bt / time.Duration(clients)), QueriesPerS: round(rate(float64(clients), bt))},
	}, nil
}

// searchConcurrently makes n Searches from clients goroutines, each taking
// the next call's query in turn, and returns their latencies.
func searchConcurrently(ctx context.Context, db *memvec.DB, queries [][]float32, opts memvec.SearchOptions, clients, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if _, err := db.Search(ctx, queries[i%len(queries)], opts); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n)) // the others stop at their next call
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return lat, firstErr
}
