package result

import (
	"context"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/mytls"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// Values are copied: they survive the result's Close, which hands the
// buffer back to go-mysql's pool, and NULL stays distinct from "".
func TestStrings_copiesAndKeepsNull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mariadbd")
	}
	srv := testdb.StartPrimary(t, testdb.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mytls.Connect(ctx, mytls.Target{Addr: srv.Addr, User: "bench", Password: "bench"}, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Execute("SELECT 'first' AS a, NULL AS b, '' AS c")
	if err != nil {
		t.Fatal(err)
	}
	cols, rows := Strings(res)
	res.Close()
	// Reuse the pooled buffers before looking at the copies.
	for range 3 {
		r, err := c.Execute("SELECT REPEAT('x', 64) AS a, 'zzzzz' AS b, 'y' AS c")
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if len(cols) != 3 || cols[0] != "a" || cols[1] != "b" || cols[2] != "c" {
		t.Fatalf("columns = %v, want [a b c]", cols)
	}
	if len(rows) != 1 || rows[0][0] == nil || *rows[0][0] != "first" || rows[0][1] != nil || rows[0][2] == nil || *rows[0][2] != "" {
		t.Fatalf("rows = %v, want [[first <nil> \"\"]]", rows)
	}
}
