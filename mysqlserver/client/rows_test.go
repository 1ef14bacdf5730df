package client

import (
	"context"
	"testing"
)

// Values are copied: they survive the result's Close, which hands the
// buffer back to go-mysql's pool, and NULL stays distinct from "".
func TestQuery_copiesAndKeepsNull(t *testing.T) {
	c, err := connect(t, liveTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query("SELECT 'first' AS a, NULL AS b, '' AS c")
	if err != nil {
		t.Fatal(err)
	}
	// Reuse the pooled buffers before looking at the copies.
	for range 3 {
		if _, err := c.Query("SELECT REPEAT('x', 64) AS a, 'zzzzz' AS b, 'y' AS c"); err != nil {
			t.Fatal(err)
		}
	}
	if cols := rows.Columns; len(cols) != 3 || cols[0] != "a" || cols[1] != "b" || cols[2] != "c" {
		t.Fatalf("columns = %v, want [a b c]", cols)
	}
	r := rows.Rows
	if len(r) != 1 || r[0][0] == nil || *r[0][0] != "first" || r[0][1] != nil || r[0][2] == nil || *r[0][2] != "" {
		t.Fatalf("rows = %v, want [[first <nil> \"\"]]", r)
	}
	if rows.Value(0, 0) != "first" || rows.Value(0, 1) != "" || rows.Value(1, 0) != "" || rows.Column("B") != 1 {
		t.Errorf("Value/Column: %q %q %q %d", rows.Value(0, 0), rows.Value(0, 1), rows.Value(1, 0), rows.Column("B"))
	}
}

// A server's error is told from the network's, and survives wrapping.
func TestAsServerError(t *testing.T) {
	c, err := connect(t, liveTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query("SELECT * FROM no_such_db.no_such_table")
	se, ok := AsServerError(err)
	if !ok || se.Code != 1146 && se.Code != 1049 {
		t.Fatalf("AsServerError(%v) = %+v, %v; want code 1146 or 1049", err, se, ok)
	}
	if _, ok := AsServerError(context.DeadlineExceeded); ok {
		t.Error("AsServerError(context.DeadlineExceeded) = ok")
	}
}
