package memvec

import (
	"errors"
	"math/rand"
	"sync"
	"testing"
)

// load runs goroutines that each repeat a step, with a generator of its
// own seed, until the load stops: halt is called, a step returns
// errLoadDone, or a step fails (its error is kept for wait).
type load struct {
	wg   sync.WaitGroup
	once sync.Once
	stop chan struct{}
	errc chan error
}

// errLoadDone, returned by a step, ends its goroutine and stops the load.
var errLoadDone = errors.New("load done")

func newLoad() *load { return &load{stop: make(chan struct{}), errc: make(chan error, 64)} }

// run starts a goroutine that calls step until the load stops.
func (l *load) run(seed int64, step func(rng *rand.Rand) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		rng := rand.New(rand.NewSource(seed))
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			if err := step(rng); err != nil {
				if err != errLoadDone {
					l.errc <- err
				}
				l.halt()
				return
			}
		}
	}()
}

// halt stops the load; its goroutines end after their current step.
func (l *load) halt() { l.once.Do(func() { close(l.stop) }) }

// wait waits for every goroutine to end and fails t on their errors.
func (l *load) wait(t *testing.T) {
	t.Helper()
	l.wg.Wait()
	close(l.errc)
	for err := range l.errc {
		t.Fatal(err)
	}
}
