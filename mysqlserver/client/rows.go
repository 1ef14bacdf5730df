package client

import (
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Rows is a result set as text: column names and rows, nil for NULL. Live
// results and recorded ones (health/probe's testdata) have the same shape.
type Rows struct {
	Columns []string    `json:"columns"`
	Rows    [][]*string `json:"rows"`
}

// copyRows copies a result's column names and values out of go-mysql's
// buffers, nil for NULL. go-mysql's strings alias the result's pooled
// buffer, which Close hands back for reuse, so nothing read from a result
// may outlive it uncopied.
func copyRows(res *gomysql.Result) Rows {
	if res == nil || res.Resultset == nil {
		return Rows{}
	}
	out := Rows{Columns: make([]string, len(res.Fields)), Rows: make([][]*string, len(res.Values))}
	for j, f := range res.Fields {
		out.Columns[j] = string(f.Name)
	}
	for i, vals := range res.Values {
		out.Rows[i] = make([]*string, len(vals))
		for j := range vals {
			if vals[j].Type == gomysql.FieldValueTypeNull {
				continue
			}
			s, _ := res.GetString(i, j)
			s = strings.Clone(s)
			out.Rows[i][j] = &s
		}
	}
	return out
}

// Value is row i's value in column j, "" when NULL or absent.
func (r Rows) Value(i, j int) string {
	if i < 0 || i >= len(r.Rows) || j < 0 || j >= len(r.Rows[i]) || r.Rows[i][j] == nil {
		return ""
	}
	return *r.Rows[i][j]
}

// Uint is Value as a number, 0 when it is none.
func (r Rows) Uint(i, j int) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(r.Value(i, j)), 10, 64)
	return n
}

// Column is the index of the column named name (case-insensitively), or
// -1.
func (r Rows) Column(name string) int {
	for j, c := range r.Columns {
		if strings.EqualFold(c, name) {
			return j
		}
	}
	return -1
}
