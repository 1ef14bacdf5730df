package probe

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

func TestZZRecord(t *testing.T) {
	if os.Getenv("RECORD") == "" {
		t.Skip()
	}
	p := testdb.StartPrimary(t, testdb.Options{Name: "rp", PerformanceSchema: true,
		Extra: []string{"--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-master-timeout=2000"}})
	r := testdb.StartReplica(t, p, testdb.Options{Name: "rr", Extra: []string{"--report-host=localhost", "--report-port=3307", "--rpl-semi-sync-slave-enabled=ON"}})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO sbtest.t VALUES (1)")
	time.Sleep(500 * time.Millisecond)
	rec := func(s *testdb.Server, file string, sqls ...string) {
		pr := New(Config{Addr: s.Addr, User: "bench", Password: "bench"}, zerolog.Nop())
		var out []recordedResult
		for _, q := range sqls {
			rs, err := pr.query(context.Background(), q)
			res := recordedResult{SQL: q, Columns: rs.Columns, Rows: rs.Rows}
			var me *gomysql.MyError
			if errors.As(err, &me) {
				res.Error = &recordedError{Code: me.Code, Message: me.Message}
			} else if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		b, _ := json.MarshalIndent(recording{Results: out}, "", "  ")
		os.WriteFile("testdata/"+file, b, 0o644)
	}
	rec(p, "mariadb-10.11-primary.json", sqlVariables, sqlStatus, sqlDumpMariaDBPS, sqlDumpMariaDB, sqlShowSlaveHosts, sqlBinlogStatus, sqlBinaryLogs, sqlAllSlavesStatus)
	r.Exec(t, "STOP SLAVE")
	r.Exec(t, "CHANGE MASTER 'old' TO MASTER_HOST='nonexistent.invalid', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1")
	r.Exec(t, "START ALL SLAVES")
	time.Sleep(2 * time.Second)
	rec(r, "mariadb-10.11-replica.json", sqlVariables, sqlStatus, sqlDumpMariaDB, sqlShowSlaveHosts, sqlBinlogStatus, sqlBinaryLogs, sqlAllSlavesStatus)
}
