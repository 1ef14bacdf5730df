package stream

import (
	"cmp"
	"slices"
)

// topTables keeps per-table byte and row counts in bounded memory with the
// space-saving algorithm (Metwally et al., 2005): at most capacity tables are
// tracked; a table not tracked when the summary is full takes the place of
// the one with the fewest bytes and inherits its counts as possible error.
// Every table whose true share of the bytes exceeds 1/capacity is guaranteed
// to be tracked, so the top few are right even on a server with thousands of
// tables. Reported figures are the guaranteed lower bounds (count − error):
// exact for every table that was never evicted, never an over-estimate.
//
// An unbounded map of tables would grow with every table ever written,
// which on a multi-tenant server is a leak.
type topTables struct {
	capacity int
	index    map[tableKey]int
	items    []tableCounter
}

type tableKey struct{ schema, table string }

type tableCounter struct {
	key               tableKey
	bytes, rows       uint64
	bytesErr, rowsErr uint64
}

func newTopTables(capacity int) *topTables {
	return &topTables{
		capacity: capacity,
		index:    make(map[tableKey]int, capacity),
		items:    make([]tableCounter, 0, capacity),
	}
}

func (t *topTables) add(schema, table string, bytes, rows uint64) {
	k := tableKey{schema, table}
	if i, ok := t.index[k]; ok {
		t.items[i].bytes += bytes
		t.items[i].rows += rows
		return
	}
	if len(t.items) < t.capacity {
		t.index[k] = len(t.items)
		t.items = append(t.items, tableCounter{key: k, bytes: bytes, rows: rows})
		return
	}
	// Evict the smallest. A linear scan: capacity is small and eviction
	// only happens once more tables are active than the summary holds.
	m := 0
	for i := 1; i < len(t.items); i++ {
		if t.items[i].bytes < t.items[m].bytes {
			m = i
		}
	}
	old := t.items[m]
	delete(t.index, old.key)
	t.index[k] = m
	t.items[m] = tableCounter{
		key:      k,
		bytes:    old.bytes + bytes,
		rows:     old.rows + rows,
		bytesErr: old.bytes,
		rowsErr:  old.rows,
	}
}

// top returns at most n tables, largest guaranteed bytes first.
func (t *topTables) top(n int) []TableStat {
	out := make([]TableStat, 0, len(t.items))
	for _, it := range t.items {
		out = append(out, TableStat{
			Schema: it.key.schema,
			Table:  it.key.table,
			Bytes:  it.bytes - it.bytesErr,
			Rows:   it.rows - it.rowsErr,
		})
	}
	slices.SortFunc(out, func(a, b TableStat) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Schema, b.Schema); c != 0 {
			return c
		}
		return cmp.Compare(a.Table, b.Table)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (t *topTables) reset() {
	clear(t.index)
	t.items = t.items[:0]
}
