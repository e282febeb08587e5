package engine

import (
	"container/heap"
	"sort"
)

// Hit is one search result. Key is the row's key (empty for a row added
// without one); Payload is filled only when the search asks for it.
type Hit struct {
	ID      uint64
	Score   float32
	Key     string
	Payload []byte
}

// worse orders hits from worst to best: lower score, then higher ID.
func worse(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID > b.ID
}

// topK keeps the k best hits seen; its root is the worst of them, so a
// candidate that does not beat the root is rejected with one comparison.
type topK struct {
	k    int
	hits []Hit
}

// newTopK returns an empty top-k; it starts with room for min(k, capHint)
// hits and grows only as hits arrive, so a huge k costs what is returned.
func newTopK(k int, capHint uint64) *topK {
	c := k
	if capHint < uint64(c) {
		c = int(capHint)
	}
	return &topK{k: k, hits: make([]Hit, 0, c)}
}

func (t *topK) Len() int           { return len(t.hits) }
func (t *topK) Less(i, j int) bool { return worse(t.hits[i], t.hits[j]) }
func (t *topK) Swap(i, j int)      { t.hits[i], t.hits[j] = t.hits[j], t.hits[i] }
func (t *topK) Push(x any)         { t.hits = append(t.hits, x.(Hit)) }
func (t *topK) Pop() any {
	h := t.hits[len(t.hits)-1]
	t.hits = t.hits[:len(t.hits)-1]
	return h
}

// offer considers h for the top k.
func (t *topK) offer(h Hit) {
	if len(t.hits) < t.k {
		heap.Push(t, h)
		return
	}
	if worse(t.hits[0], h) {
		t.hits[0] = h
		heap.Fix(t, 0)
	}
}

// floor returns the lowest score that can still enter: minScore until the
// heap is full, then the current worst score (an equal score enters only
// with a lower ID, which offer decides).
func (t *topK) floor(minScore float32) float32 {
	if len(t.hits) < t.k {
		return minScore
	}
	return max(minScore, t.hits[0].Score)
}

// merge returns the k best of several partial results, best first.
func merge(k int, parts ...[]Hit) []Hit {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	all := make([]Hit, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	sort.Slice(all, func(i, j int) bool { return worse(all[j], all[i]) })
	if len(all) > k {
		all = all[:k:k]
	}
	return all
}
