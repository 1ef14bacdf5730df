package probe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// loadRecordings reads every recording whose file name matches pattern.
func loadRecordings(t *testing.T, pattern string) map[string]recording {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings match %s: %v", pattern, err)
	}
	out := map[string]recording{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec recording
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = rec
	}
	return out
}

// The MySQL recordings were written from the manuals; each result names
// the MySQL test result file its statement and columns were checked
// against, or says why no such file covers it (docs/mysql-checked.md).
func TestRecordedMySQL_eachResultNamesItsCheck(t *testing.T) {
	cited := regexp.MustCompile(`^mysql/mysql-server:mysql-test/\S+\.result(@[0-9a-f]{8,40})?( |$)|^no MySQL result file: \S`)
	for file, rec := range loadRecordings(t, "mysql-*.json") {
		for _, r := range rec.Results {
			if !cited.MatchString(r.Checked) {
				t.Errorf("%s: %s: checked = %q, want a mysql/mysql-server mysql-test/...result path or \"no MySQL result file: <why>\"", file, name(r.SQL), r.Checked)
			}
		}
	}
}

// selectList returns the column names a plain SELECT (no expressions)
// returns, or nil when the select list holds expressions.
func selectList(sql string) []string {
	up := strings.ToUpper(sql)
	if !strings.HasPrefix(up, "SELECT ") {
		return nil
	}
	from := strings.Index(up, " FROM ")
	if from < 0 || strings.ContainsAny(sql[:from], "()") {
		return nil
	}
	var cols []string
	for _, c := range strings.Split(sql[len("SELECT "):from], ",") {
		c = strings.TrimSpace(c)
		if i := strings.LastIndex(strings.ToUpper(c), " AS "); i >= 0 {
			c = c[i+4:]
		}
		if i := strings.LastIndex(c, "."); i >= 0 {
			c = c[i+1:]
		}
		cols = append(cols, c)
	}
	return cols
}

// A server returns exactly the columns a SELECT names: a recording that
// shows more (the whole table) would hide a mapping that depends on them.
func TestRecorded_selectColumnsAreTheSelectList(t *testing.T) {
	for file, rec := range loadRecordings(t, "*.json") {
		for _, r := range rec.Results {
			want := selectList(r.SQL)
			if want == nil || r.Error != nil {
				continue
			}
			if strings.Join(r.Columns, ",") != strings.Join(want, ",") {
				t.Errorf("%s: %s: columns %v, but the statement selects %v", file, name(r.SQL), r.Columns, want)
			}
			for i, row := range r.Rows {
				if len(row) != len(r.Columns) {
					t.Errorf("%s: %s: row %d has %d values for %d columns", file, name(r.SQL), i, len(row), len(r.Columns))
				}
			}
		}
	}
}
