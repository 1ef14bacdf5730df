// Package result copies go-mysql result sets out of go-mysql's pooled
// buffers, for every SQL reader of the sidecar (the health probe, validate
// --live, audit). It needs go-mysql's protocol types only, not its client.
package result

import (
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Strings copies a result's column names and values out of go-mysql's
// buffers, nil for NULL. go-mysql's strings alias the result's pooled
// buffer, which Close hands back for reuse, so nothing read from a result
// may outlive it uncopied.
func Strings(res *gomysql.Result) (columns []string, rows [][]*string) {
	if res == nil || res.Resultset == nil {
		return nil, nil
	}
	columns = make([]string, len(res.Fields))
	for j, f := range res.Fields {
		columns[j] = string(f.Name)
	}
	rows = make([][]*string, len(res.Values))
	for i, vals := range res.Values {
		rows[i] = make([]*string, len(vals))
		for j := range vals {
			if vals[j].Type == gomysql.FieldValueTypeNull {
				continue
			}
			s, _ := res.GetString(i, j)
			s = strings.Clone(s)
			rows[i][j] = &s
		}
	}
	return columns, rows
}
