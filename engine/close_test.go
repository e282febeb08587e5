package engine

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memvec/memvec/internal/errs"
)

// closeGuard fails the test if done is not closed in time: a failure
// guard only, never a wait the test relies on.
func closeGuard(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// TestCloseCancelsSearches starts each kind of search, holds it at its
// first check for cancellation (testHookStopped) until Close has begun, and checks that the search
// returns ErrClosed, that Close then returns, and that a Get racing the
// Close gets ErrClosed without waiting for it.
func TestCloseCancelsSearches(t *testing.T) {
	const dim = 4
	searches := map[string]func(e *Engine) error{
		"Search": func(e *Engine) error {
			_, err := e.Search(context.Background(), []float32{1, 2, 3, 4}, 5, -1)
			return err
		},
		"SearchBatch": func(e *Engine) error {
			_, err := e.SearchBatch(context.Background(), [][]float32{{1, 2, 3, 4}, {4, 3, 2, 1}}, 5, -1)
			return err
		},
		"SearchIn": func(e *Engine) error {
			ids := make([]uint64, 3*chunkRows)
			for i := range ids {
				ids[i] = uint64(i)
			}
			_, err := e.SearchIn(context.Background(), []float32{1, 2, 3, 4}, ids, 5, -1)
			return err
		},
		"Verify": func(e *Engine) error { return e.Verify(context.Background()) },
	}
	for name, search := range searches {
		t.Run(name, func(t *testing.T) {
			e, err := Open(filepath.Join(t.TempDir(), "s"), Config{Dimension: dim, NoSync: true, SegmentBytes: DefaultSegmentBytes})
			if err != nil {
				t.Fatal(err)
			}
			vecs := make([][]float32, 2*chunkRows)
			for i := range vecs {
				vecs[i] = []float32{1, float32(i), 2, 3}
			}
			if _, err := e.Add(vecs); err != nil {
				t.Fatal(err)
			}
			// The first check for cancellation, inside the search,
			// waits for Close to begin.
			inScan := make(chan struct{})
			var once sync.Once
			testHookStopped = func() {
				once.Do(func() {
					close(inScan)
					<-e.closeCtx.Done()
				})
			}
			defer func() { testHookStopped = nil }()

			searchDone := make(chan error, 1)
			go func() { searchDone <- search(e) }()
			<-inScan
			closeDone := make(chan struct{})
			var closeErr error
			go func() {
				closeErr = e.Close()
				close(closeDone)
			}()
			<-e.closeCtx.Done()
			// Close has begun and waits for the search: a Get does
			// not queue behind it.
			getDone := make(chan struct{})
			go func() {
				if _, err := e.Get(0); !errors.Is(err, errs.ErrClosed) {
					t.Errorf("Get during Close: %v, want ErrClosed", err)
				}
				close(getDone)
			}()
			closeGuard(t, getDone, "Get during Close")
			select {
			case err := <-searchDone:
				if !errors.Is(err, errs.ErrClosed) {
					t.Fatalf("%s cancelled by Close returned %v, want ErrClosed", name, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s did not return after Close began", name)
			}
			closeGuard(t, closeDone, "Close")
			if closeErr != nil {
				t.Fatal(closeErr)
			}
		})
	}
}
