package engine

import (
	"iter"
	"slices"
)

// segList is a persistent array of segViews: a tree of fan-out 32 whose
// leaves hold the views. with copies only the path from the root to one
// leaf (at most 32 views and a few nodes of 32 pointers), so a write that
// changes one segment (a Delete, an Add into the active segment) costs
// O(log n), not a copy of the list, and every older version keeps its own.
type segList struct {
	root  *slNode
	n     int
	shift uint // 5 * height above the leaves
}

type slNode struct {
	kids []*slNode // inner node
	vals []segView // leaf
}

const (
	slBits  = 5
	slWidth = 1 << slBits
	slMask  = slWidth - 1
)

// newSegList builds a list holding segs, in O(len(segs)).
func newSegList(segs []segView) segList {
	if len(segs) == 0 {
		return segList{}
	}
	var level []*slNode
	for i := 0; i < len(segs); i += slWidth {
		level = append(level, &slNode{vals: slices.Clone(segs[i:min(i+slWidth, len(segs))])})
	}
	var shift uint
	for len(level) > 1 {
		var up []*slNode
		for i := 0; i < len(level); i += slWidth {
			up = append(up, &slNode{kids: level[i:min(i+slWidth, len(level)):min(i+slWidth, len(level))]})
		}
		level, shift = up, shift+slBits
	}
	return segList{root: level[0], n: len(segs), shift: shift}
}

func (l segList) len() int { return l.n }

// at returns view i. It points into a node other versions share: the
// caller must not modify it.
func (l segList) at(i int) *segView {
	nd := l.root
	for s := l.shift; s > 0; s -= slBits {
		nd = nd.kids[(i>>s)&slMask]
	}
	return &nd.vals[i&slMask]
}

// with returns a list in which view i is s; l is unchanged.
func (l segList) with(i int, s segView) segList {
	l.root = l.root.with(l.shift, i, s)
	return l
}

func (nd *slNode) with(shift uint, i int, s segView) *slNode {
	if shift == 0 {
		c := &slNode{vals: slices.Clone(nd.vals)}
		c.vals[i&slMask] = s
		return c
	}
	c := &slNode{kids: slices.Clone(nd.kids)}
	j := (i >> shift) & slMask
	c.kids[j] = nd.kids[j].with(shift-slBits, i, s)
	return c
}

// appendTo appends every view to dst, in order.
func (l segList) appendTo(dst []segView) []segView {
	if l.root != nil {
		dst = l.root.appendTo(dst)
	}
	return dst
}

func (nd *slNode) appendTo(dst []segView) []segView {
	if nd.kids == nil {
		return append(dst, nd.vals...)
	}
	for _, k := range nd.kids {
		dst = k.appendTo(dst)
	}
	return dst
}

// all yields every view with its position, in order.
func (l segList) all() iter.Seq2[int, segView] {
	return func(yield func(int, segView) bool) {
		if l.root != nil {
			i := 0
			l.root.each(&i, yield)
		}
	}
}

func (nd *slNode) each(i *int, yield func(int, segView) bool) bool {
	if nd.kids == nil {
		for _, s := range nd.vals {
			if !yield(*i, s) {
				return false
			}
			*i++
		}
		return true
	}
	for _, k := range nd.kids {
		if !k.each(i, yield) {
			return false
		}
	}
	return true
}
