package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func testServer(snap stream.Snapshot, live error) *httptest.Server {
	s := New(":0", Sources{
		Stream: func() stream.Snapshot { return snap },
		Health: func() health.Report { return health.Report{Health: health.StatusDegraded} },
		Bus:    func() events.Stats { return events.Stats{} },
		Live:   func() error { return live },
		Build:  BuildInfo{Version: "v-test", Commit: "abc123"},
	}, zerolog.Nop())
	return httptest.NewServer(s.Handler())
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer_Probes(t *testing.T) {
	now := time.Now()
	down := stream.Snapshot{At: now, HeartbeatPeriod: time.Second, LastError: "access denied", Hint: "GRANT REPLICATION SLAVE"}
	srv := testServer(down, nil)
	defer srv.Close()

	code, body := get(t, srv.URL+"/livez")
	if code != 200 {
		t.Errorf("/livez = %d %s, want 200 even with the stream down", code, body)
	}
	code, body = get(t, srv.URL+"/readyz")
	var rz struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(body), &rz); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if code != 503 || rz.Ready || len(rz.Reasons) != 1 || !strings.Contains(rz.Reasons[0], "GRANT REPLICATION SLAVE") {
		t.Errorf("/readyz = %d %+v, want 503 with the fix in the reason", code, rz)
	}

	up := stream.Snapshot{At: now, HeartbeatPeriod: time.Second, Connected: true, ConnectedSince: now.Add(-time.Minute), LastReceived: now}
	srv2 := testServer(up, errors.New("binlog stream loop exited"))
	defer srv2.Close()
	if code, _ := get(t, srv2.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	if code, body := get(t, srv2.URL+"/livez"); code != 503 || !strings.Contains(body, "loop exited") {
		t.Errorf("/livez = %d %s, want 503 naming the loop", code, body)
	}
}

func TestServer_Status(t *testing.T) {
	srv := testServer(stream.Snapshot{Position: stream.Position{File: "b.000001", Pos: 4}}, nil)
	defer srv.Close()
	code, body := get(t, srv.URL+"/status")
	if code != 200 {
		t.Fatalf("/status = %d", code)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"health", "server", "stream", "dump_threads", "replicas", "semisync", "inventory", "problems", "checks"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("/status lacks key %q", k)
		}
	}
	if string(doc["health"]) != `"degraded"` {
		t.Errorf("health = %s", doc["health"])
	}
	if !strings.Contains(string(doc["stream"]), `"file": "b.000001"`) {
		t.Errorf("stream = %s, want the live snapshot", doc["stream"])
	}
}

// TestServer_Metrics checks the contract's families, each with every known
// label value present at 0 from the start, and that promtool accepts the
// exposition.
func TestServer_Metrics(t *testing.T) {
	srv := testServer(stream.Snapshot{LagUnknown: "the stream has not connected yet", BehindUnknown: "not read yet",
		TxBytesHist: stream.Histogram{Bounds: stream.TxBytesBuckets, Counts: make([]uint64, len(stream.TxBytesBuckets)+1)},
		TxRowsHist:  stream.Histogram{Bounds: stream.TxRowsBuckets, Counts: make([]uint64, len(stream.TxRowsBuckets)+1)},
	}, nil)
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	want := []string{
		`binlog_sidecar_stream_events_total{type="write_rows"} 0`,
		`binlog_sidecar_stream_events_total{type="annotate_rows"} 0`,
		`binlog_sidecar_stream_events_total{type="heartbeat"} 0`,
		`binlog_sidecar_stream_bytes_total 0`,
		`binlog_sidecar_stream_rows_total{op="update"} 0`,
		`binlog_sidecar_stream_transactions_total 0`,
		`binlog_sidecar_stream_connected 0`,
		`binlog_sidecar_stream_reconnects_total 0`,
		`binlog_sidecar_dump_threads{state="idle"} 0`,
		`binlog_sidecar_dump_threads{state="terminating"} 0`,
		`binlog_sidecar_replicas{status="zombie"} 0`,
		`binlog_sidecar_replicas{status="expected"} 0`,
		`binlog_sidecar_problem_active{type="replica.missing"} 0`,
		`binlog_sidecar_problem_active{type="dump_thread.zombie"} 0`,
		`binlog_sidecar_health_status 1`,
		`binlog_sidecar_events_published_total{type="semisync.degraded"} 0`,
		`binlog_sidecar_events_published_total{type="stream.stats"} 0`,
		`binlog_sidecar_events_pending 0`,
		`binlog_sidecar_events_dropped_total 0`,
		`binlog_sidecar_events_dead_lettered_total{reason="payload_too_large",type="health.changed"} 0`,
		`binlog_sidecar_stream_transaction_bytes_bucket{le="1024"} 0`,
		`binlog_sidecar_stream_transaction_rows_count 0`,
		`binlog_sidecar_problem_active{type="check.unavailable"} 0`,
		`binlog_sidecar_check_state{check="dump_threads",state="unknown"} 1`,
		`binlog_sidecar_check_state{check="dump_threads",state="unavailable"} 0`,
		`binlog_sidecar_check_state{check="dump_thread.zombie",state="ok"} 0`,
		`binlog_sidecar_check_state{check="dump_thread.flapping (replica side)",state="not_evaluated"} 0`,
		`binlog_sidecar_mysql_up 0`,
		`binlog_sidecar_poll_duration_seconds_bucket{le="0.1"} 0`,
		`binlog_sidecar_poll_duration_seconds_count 0`,
		`binlog_sidecar_poll_errors_total{read="replica_status"} 0`,
		`binlog_sidecar_build_info{commit="abc123",goversion="go`,
		`process_cpu_seconds_total`,
		`go_goroutines`,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	// Unknown figures have no sample: never -1 or a fake 0.
	for _, unknown := range []string{"binlog_sidecar_stream_lag_seconds ", "binlog_sidecar_stream_behind_bytes ",
		"binlog_sidecar_stream_last_received_timestamp_seconds ", "binlog_sidecar_semisync_clients ",
		"binlog_sidecar_semisync_waiting_sessions "} {
		if strings.Contains(body, "\n"+unknown) {
			t.Errorf("/metrics has a sample of %sbefore it is known", unknown)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "binlog_sidecar_") &&
			!strings.HasPrefix(line, "process_") && !strings.HasPrefix(line, "go_") {
			t.Errorf("family without the binlog_sidecar_ prefix: %s", line)
		}
		if strings.HasPrefix(line, "binlog_sidecar_process_") || strings.HasPrefix(line, "binlog_sidecar_go_") {
			t.Errorf("runtime family under the sidecar's prefix: %s", line)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed (make deps installs the prometheus package)")
		}
		t.Skip("promtool not installed")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// A check that cannot run is a reason in /readyz (without making it 503:
// the stream works, and a restart grants nothing), and the text people
// read is not HTML-escaped.
func TestServer_ReadyzBlindAndUnescaped(t *testing.T) {
	now := time.Now()
	up := stream.Snapshot{At: now, HeartbeatPeriod: time.Second, Connected: true, ConnectedSince: now.Add(-time.Minute), LastReceived: now}
	blind := health.Problem{Type: health.TypeCheckUnavailable, Subject: "check/dump_threads", Severity: health.SeverityWarning,
		Summary: "The dump_threads check cannot run.", Remediation: "GRANT PROCESS ON *.* TO 'sidecar'@'%';"}
	s := New(":0", Sources{
		Stream: func() stream.Snapshot { return up },
		Health: func() health.Report {
			return health.Report{Health: health.StatusDegraded, Problems: []health.Problem{blind}}
		},
		Bus:  func() events.Stats { return events.Stats{} },
		Live: func() error { return nil },
	}, zerolog.Nop())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, body := get(t, srv.URL+"/readyz")
	want := `"check/dump_threads: The dump_threads check cannot run. (fix: GRANT PROCESS ON *.* TO 'sidecar'@'%';)"`
	if code != 200 || !strings.Contains(body, want) {
		t.Errorf("/readyz = %d %s, want 200 with reason %s", code, body, want)
	}

	down := stream.Snapshot{At: now, HeartbeatPeriod: time.Second, LastError: "binlog off", Hint: "set log_bin=<basename> & restart"}
	srv2 := testServer(down, nil)
	defer srv2.Close()
	if _, body := get(t, srv2.URL+"/readyz"); !strings.Contains(body, "log_bin=<basename> & restart") {
		t.Errorf("/readyz %s: want the hint as written, not HTML-escaped", body)
	}
}
