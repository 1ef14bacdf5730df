package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func TestToken(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{"prod", "prod"},
		{"db-1", "db-1"},
		{"db-1.example.com", "db-1_example_com"},
		{"a*b>c", "a_b_c"},
		{"eu west\t1\n", "eu_west_1_"},
		{"db\x00x", "db_x"},
		{"db:3306", "db:3306"},
		{"", "_"},
		{"bücher", "bücher"},
		{"no\u00a0break", "no_break"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := events.Token(tt.give); got != tt.want {
				t.Errorf("Token(%q): got %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name                       string
		prefix, cluster, inst, typ string
		want                       string
	}{
		{"contract example", "mysql.health", "prod", "db-1", "replica.missing", "mysql.health.prod.db-1.replica.missing"},
		{"dotted host", "mysql.health", "prod", "db-1.dc1", "stream.stats", "mysql.health.prod.db-1_dc1.stream.stats"},
		{"wildcards in names", "x", "*", ">", "health.changed", "x._._.health.changed"},
		{"empty names", "x", "", "", "sidecar.started", "x._._.sidecar.started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := events.Subject(tt.prefix, tt.cluster, tt.inst, tt.typ); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func decode(t *testing.T, e events.Event) map[string]any {
	t.Helper()
	b, err := events.Encode(e)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m["data"].(map[string]any)
}

func TestBuilder_FromTransition_Resolved(t *testing.T) {
	b := events.NewBuilder("prod", "db-1")
	e := b.FromTransition(health.Transition{State: health.StateResolved, Problem: health.Problem{
		Type: "stream.down", ID: "p1", Subject: "stream/db-1", Severity: health.SeverityCritical,
		Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), Summary: "Stream is down.",
	}})
	d := decode(t, e)
	got := fmt.Sprint(d["state"], "|", d["summary"], "|", d["since"], "|", d["evidence"], "|", e.Type, "|", e.Subject)
	want := "resolved|Resolved: Stream is down.|2026-01-02T02:04:05Z|map[]|binlog_sidecar.stream.down|stream/db-1"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBuilder_Stats(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tables := make([]stream.TableStat, 15)
	for i := range tables {
		tables[i] = stream.TableStat{Schema: "s", Table: fmt.Sprint("t", i)}
	}
	tests := []struct {
		name string
		give stream.Interval
		want string // per_second.events | len(top_tables) | largest_transaction
	}{
		{"zero-length interval has no rates", stream.Interval{Start: start, End: start},
			"0 | 0 | map[bytes:0 position:map[file: pos:0] rows:0]"},
		{"top tables capped at 10", stream.Interval{Start: start, End: start.Add(time.Second), TopTables: tables},
			"0 | 10 | map[bytes:0 position:map[file: pos:0] rows:0]"},
		{"largest transaction by position without GTID", stream.Interval{Start: start, End: start.Add(2 * time.Second),
			Counters:           stream.Counters{Events: [stream.NumEventTypes]uint64{stream.EventWriteRows: 4, stream.EventHeartbeat: 2}},
			LargestTransaction: stream.Transaction{Bytes: 9, Rows: 1, Position: stream.Position{File: "b.000001", Pos: 120}}},
			"2 | 0 | map[bytes:9 position:map[file:b.000001 pos:120] rows:1]"},
		{"largest transaction by GTID", stream.Interval{Start: start, End: start.Add(time.Second),
			LargestTransaction: stream.Transaction{Bytes: 9, Rows: 1, GTID: "0-1-7", Position: stream.Position{File: "b.000001", Pos: 120}}},
			"0 | 0 | map[bytes:9 gtid:0-1-7 rows:1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decode(t, events.NewBuilder("c", "i").Stats(tt.give, stream.Snapshot{}))
			got := fmt.Sprint(d["per_second"].(map[string]any)["events"], " | ", len(d["top_tables"].([]any)), " | ", d["largest_transaction"])
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBuilder_HealthChanged(t *testing.T) {
	tests := []struct {
		give health.Status
		want string
	}{
		{health.StatusOK, "info|Health changed from critical to ok."},
		{health.StatusDegraded, "warning|Health changed from critical to degraded."},
		{health.StatusCritical, "critical|Health changed from critical to critical."},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			d := decode(t, events.NewBuilder("c", "i").HealthChanged(health.StatusCritical, tt.give, nil))
			if got := fmt.Sprint(d["severity"], "|", d["summary"]); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if p, ok := d["problems"].([]any); !ok || len(p) != 0 {
				t.Errorf("problems: got %v, want []", d["problems"])
			}
		})
	}
}

func TestBuilder_Source(t *testing.T) {
	if got, want := events.NewBuilder("eu west", "db/1").Source(), "binlog-sidecar/eu%20west/db%2F1"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// An evidence value JSON cannot carry still yields a deliverable event.
func TestEncode_Unencodable(t *testing.T) {
	e := events.NewBuilder("c", "i").FromTransition(health.Transition{State: health.StateFiring,
		Problem: health.Problem{Type: "stream.down", Evidence: map[string]any{"ratio": math.NaN()}}})
	b, err := events.Encode(e)
	if err == nil || !strings.Contains(string(b), `"encode_error":"json: unsupported value: NaN"`) || !strings.Contains(string(b), `"state":"firing"`) {
		t.Errorf("got %s, %v; want the event with evidence.encode_error, and an error", b, err)
	}
}

func TestBuilder_DumpThreadKilled(t *testing.T) {
	tests := []struct {
		give error
		want string
	}{
		{nil, "info|killed"},
		{errors.New("denied"), "warning|failed: denied"},
	}
	for _, tt := range tests {
		d := decode(t, events.NewBuilder("c", "i").DumpThreadKilled(health.KillReport{ThreadID: 7, Replica: "r:3306", ProblemID: "p1", Reason: "no_greeting", Err: tt.give}))
		det := d["details"].(map[string]any)
		if got := fmt.Sprint(det["replica"], "|", det["problem_id"], "|", det["thread_id"], "|", det["reason"]); got != "r:3306|p1|7|no_greeting" {
			t.Errorf("details: got %s, want the replica's address, the zombie's problem_id, the thread and the reason", got)
		}
		if got := fmt.Sprint(d["severity"], "|", det["result"]); got != tt.want {
			t.Errorf("err %v: got %s, want %s", tt.give, got, tt.want)
		}
	}
}

// People read summaries and fixes: `<`, `>` and `&` stay as written.
func TestEncode_notHTMLEscaped(t *testing.T) {
	b := events.NewBuilder("prod", "db-1")
	raw, err := events.Encode(b.FromTransition(health.Transition{State: health.StateFiring, At: time.Now(), Problem: health.Problem{
		Type: events.TypeStreamDown, ID: "x", Subject: "stream", Severity: health.SeverityCritical, Since: time.Now(),
		Summary: "binlog off", Remediation: "set log_bin=<basename> & restart"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"remediation":"set log_bin=<basename> & restart"`) {
		t.Errorf("encoded %s: want the remediation as written", raw)
	}
}
