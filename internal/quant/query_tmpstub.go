package quant

type Query struct{ Codes []int8 }

func NewQuery(qn []float32) Query { return Query{Codes: make([]int8, len(qn))} }

func (q *Query) DotBounds(m Meta, dot int32) (lo, hi float32) { return -1e30, 1e30 }
