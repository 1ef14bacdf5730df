package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// exampleBuilder is a Builder with a fixed clock and id, so the examples
// pin the wire format byte for byte.
func exampleBuilder() *events.Builder {
	b := events.NewBuilder("prod", "db-1")
	b.Now = func() time.Time { return time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC) }
	b.NewID = func() string { return "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M" }
	b.SetServer(health.Server{Flavor: "mariadb", Version: "10.11.19-MariaDB-0+deb12u1", ServerID: 1})
	return b
}

func printJSON(e events.Event) {
	b, err := events.Encode(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out bytes.Buffer
	_ = json.Indent(&out, b, "", "  ")
	fmt.Println(out.String())
}

func ExampleBuilder_FromTransition() {
	b := exampleBuilder()
	e := b.FromTransition(health.Transition{
		State: health.StateFiring,
		At:    time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC),
		Problem: health.Problem{
			Type: "replica.missing", ID: "replica.missing/db-2:3306", Subject: "replica/db-2:3306",
			Severity: health.SeverityWarning, Since: time.Date(2026, 11, 26, 13, 59, 50, 0, time.UTC),
			Summary:     "Expected replica db-2:3306 has no dump thread.",
			Remediation: "Check that the replica runs and its IO thread is started (SHOW REPLICA STATUS).",
			Evidence:    map[string]any{"polls_missing": 2, "sql": "SELECT ... FROM information_schema.PROCESSLIST"},
		},
	})
	fmt.Println(events.Subject(events.DefaultSubjectPrefix, "prod", "db-1", e.ShortType()))
	printJSON(e)
	// Output:
	// mysql.health.prod.db-1.replica.missing
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.replica.missing",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "replica/db-2:3306",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "warning",
	//     "summary": "Expected replica db-2:3306 has no dump thread.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "state": "firing",
	//     "problem_id": "replica.missing/db-2:3306",
	//     "since": "2026-11-26T13:59:50Z",
	//     "remediation": "Check that the replica runs and its IO thread is started (SHOW REPLICA STATUS).",
	//     "evidence": {
	//       "polls_missing": 2,
	//       "sql": "SELECT ... FROM information_schema.PROCESSLIST"
	//     }
	//   }
	// }
}

func ExampleBuilder_Stats() {
	b := exampleBuilder()
	start := time.Date(2026, 11, 26, 13, 59, 50, 0, time.UTC)
	var c stream.Counters
	c.Events[stream.EventWriteRows] = 40
	c.Events[stream.EventTableMap] = 40
	c.Events[stream.EventXID] = 20
	c.Events[stream.EventHeartbeat] = 10 // not counted in events
	c.Bytes, c.Transactions = 25000, 20
	c.Rows = stream.Rows{Insert: 80, Update: 15, Delete: 5}
	iv := stream.Interval{
		Start: start, End: start.Add(10 * time.Second), Counters: c,
		LargestTransaction: stream.Transaction{Bytes: 4000, Rows: 30, GTID: "0-1-4122"},
		TopTables:          []stream.TableStat{{Schema: "shop", Table: "orders", Bytes: 20000, Rows: 90}},
	}
	lag, behind := 0.0, int64(0)
	snap := stream.Snapshot{LagSeconds: &lag, BehindBytes: &behind, Position: stream.Position{File: "db-1-bin.000042", Pos: 1234567, GTID: "0-1-4122"}}
	printJSON(b.Stats(iv, snap))
	// Output:
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.stream.stats",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "stream/db-1",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "info",
	//     "summary": "Streamed 100 events (25000 bytes, 20 transactions, 100 rows) in 10s; lag 0.0 s.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "interval_seconds": 10,
	//     "events": 100,
	//     "bytes": 25000,
	//     "transactions": 20,
	//     "rows": {
	//       "insert": 80,
	//       "update": 15,
	//       "delete": 5
	//     },
	//     "per_second": {
	//       "events": 10,
	//       "bytes": 2500,
	//       "rows": 10,
	//       "transactions": 2
	//     },
	//     "lag_seconds": 0,
	//     "behind_bytes": 0,
	//     "largest_transaction": {
	//       "bytes": 4000,
	//       "rows": 30,
	//       "gtid": "0-1-4122"
	//     },
	//     "top_tables": [
	//       {
	//         "schema": "shop",
	//         "table": "orders",
	//         "bytes": 20000,
	//         "rows": 90
	//       }
	//     ],
	//     "position": {
	//       "file": "db-1-bin.000042",
	//       "pos": 1234567,
	//       "gtid": "0-1-4122"
	//     }
	//   }
	// }
}

func ExampleBuilder_HealthChanged() {
	b := exampleBuilder()
	printJSON(b.HealthChanged(health.StatusOK, health.StatusCritical, []health.Problem{
		{Type: "stream.down", ID: "stream.down/db-1", Subject: "stream/db-1", Severity: health.SeverityCritical},
	}))
	// Output:
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.health.changed",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "server/db-1",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "critical",
	//     "summary": "Health changed from ok to critical: stream.down.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "from": "ok",
	//     "to": "critical",
	//     "problems": [
	//       {
	//         "type": "stream.down",
	//         "problem_id": "stream.down/db-1",
	//         "subject": "stream/db-1",
	//         "severity": "critical"
	//       }
	//     ],
	//     "problems_total": 1,
	//     "truncated": false
	//   }
	// }
}

func ExampleBuilder_GapEvent() {
	b := exampleBuilder()
	printJSON(b.GapEvent(stream.Gap{
		At:     time.Date(2026, 11, 26, 13, 59, 58, 0, time.UTC),
		From:   stream.Position{File: "db-1-bin.000040", Pos: 4},
		To:     stream.Position{File: "db-1-bin.000042", Pos: 4},
		Reason: "binlog purged while the sidecar was away",
	}))
	// Output:
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.stream.gap",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "stream/db-1",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "warning",
	//     "summary": "Binlog stream skipped from db-1-bin.000040:4 to db-1-bin.000042:4: binlog purged while the sidecar was away.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "from": {
	//       "file": "db-1-bin.000040",
	//       "pos": 4
	//     },
	//     "to": {
	//       "file": "db-1-bin.000042",
	//       "pos": 4
	//     },
	//     "reason": "binlog purged while the sidecar was away",
	//     "at": "2026-11-26T13:59:58Z"
	//   }
	// }
}

func ExampleBuilder_Lifecycle() {
	b := exampleBuilder()
	printJSON(b.Lifecycle(events.TypeSidecarStarted, "Sidecar started.", map[string]any{"version": "v1.0.0"}))
	// Output:
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.sidecar.started",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "sidecar/db-1",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "info",
	//     "summary": "Sidecar started.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "details": {
	//       "version": "v1.0.0"
	//     }
	//   }
	// }
}

func ExampleBuilder_DumpThreadKilled() {
	b := exampleBuilder()
	e := b.DumpThreadKilled(health.KillReport{ThreadID: 1234, Replica: "db-2:3306", ProblemID: "9f2c4e1a7b3d5e60", Reason: "no_greeting",
		Err: errors.New("Error 1095: You are not owner of thread 1234")})
	printJSON(e)
	// Output:
	// {
	//   "specversion": "1.0",
	//   "id": "01KB0R3NF0ZY5ZJ7GDC5R2VQ8M",
	//   "source": "binlog-sidecar/prod/db-1",
	//   "type": "binlog_sidecar.dump_thread.killed",
	//   "time": "2026-11-26T14:00:00Z",
	//   "subject": "thread/1234",
	//   "datacontenttype": "application/json",
	//   "dataschema": "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json",
	//   "data": {
	//     "cluster": "prod",
	//     "instance": "db-1",
	//     "severity": "warning",
	//     "summary": "Could not kill dump thread 1234 serving db-2:3306: Error 1095: You are not owner of thread 1234.",
	//     "server": {
	//       "flavor": "mariadb",
	//       "version": "10.11.19-MariaDB-0+deb12u1",
	//       "server_id": 1
	//     },
	//     "details": {
	//       "problem_id": "9f2c4e1a7b3d5e60",
	//       "reason": "no_greeting",
	//       "replica": "db-2:3306",
	//       "result": "failed: Error 1095: You are not owner of thread 1234",
	//       "thread_id": 1234
	//     }
	//   }
	// }
}

func ExampleSubject() {
	fmt.Println(events.Subject("mysql.health", "prod eu", "db-1.example.com", events.TypeReplicaMissing))
	// Output:
	// mysql.health.prod_eu.db-1_example_com.replica.missing
}
