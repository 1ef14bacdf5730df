package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

func TestFleetCommand_BadArguments(t *testing.T) {
	for _, args := range [][]string{{"--format", "xml"}, {"extra"}, {"--nope"}, {"--once", "--http", "127.0.0.1:0"},
		{"--publish", "--http", "127.0.0.1:0"}, {"--once", "--publish"}} {
		var out, errb strings.Builder
		if code := mainCode(append([]string{"fleet"}, args...), []string{"SIDECAR_NATS_URL=none"}, &out, &errb); code != exitConfig {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	for env, want := range map[string]string{
		"SIDECAR_NATS_URL=none":               "SIDECAR_NATS_URL=none",
		"SIDECAR_NATS_KV_BUCKET=":             "SIDECAR_NATS_KV_BUCKET is empty",
		"SIDECAR_NATS_URL=nats://127.0.0.1:1": "connect to nats://127.0.0.1:1",
		"SIDECAR_NATS_KV_BUCKET=a.b":          "SIDECAR_NATS_KV_BUCKET",
	} {
		var out, errb strings.Builder
		code := mainCode([]string{"fleet", "--once"}, []string{env, "SIDECAR_DATA_DIR=" + t.TempDir()}, &out, &errb)
		if code != exitConfig || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", env, code, errb.String(), want)
		}
	}
}

// embeddedFleet starts an embedded server (stopped at the test's end) and
// returns its client URL, the sidecar's authenticated connection and the
// status bucket it created.
func embeddedFleet(t *testing.T, ctx context.Context) (string, *nats.Conn, jetstream.KeyValue) {
	t.Helper()
	url, side := testnats.Embedded(t, ctx)
	js, err := jetstream.New(side)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kv.Open(ctx, js, "MYSQL_HEALTH_STATUS", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return url, side, b
}

// putDoc puts d at key, as a sidecar's writer would.
func putDoc(t *testing.T, ctx context.Context, b jetstream.KeyValue, key string, d fleet.Document) {
	t.Helper()
	body, err := json.Marshal(d)
	if err == nil {
		_, err = b.Put(ctx, key, body)
	}
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// `sidecar fleet --once` as an anonymous client of the embedded server:
// two primaries' documents put by the sidecars' authenticated connection,
// one replica expected by a and connected to b: both formats show both
// primaries and the misdirected replica; --cluster filters.
func TestFleetCommand_OnceOnEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, _, b := embeddedFleet(t, ctx)
	now := time.Now()
	for _, d := range []fleet.Document{
		{Cluster: "prod", Instance: "a", At: now, Health: "degraded", Server: fleet.Server{ServerID: 1}, SidecarServerID: 4000000001,
			Replicas:  []fleet.Replica{{Address: "db-3:3306", Status: fleet.ReplicaMissing, Expected: true}},
			Inventory: []fleet.InventoryItem{{Address: "db-3:3306", IPs: []string{"10.0.0.3"}}}},
		{Cluster: "prod", Instance: "b", At: now, Health: "ok", Server: fleet.Server{ServerID: 2}, SidecarServerID: 4000000002,
			Replicas: []fleet.Replica{{Address: "10.0.0.3:3306", ServerID: 3, Status: fleet.ReplicaConnected}}},
		{Cluster: "stage", Instance: "c", At: now, Health: "ok", Server: fleet.Server{ServerID: 5}, SidecarServerID: 4000000005},
	} {
		putDoc(t, ctx, b, kv.Key(d.Cluster, d.Instance), d)
	}
	env := []string{"SIDECAR_NATS_URL=" + url, "SIDECAR_DATA_DIR=" + t.TempDir()}

	var out, errb strings.Builder
	if code := mainCode([]string{"fleet", "--once", "--format", "json"}, env, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var v fleet.View
	if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(v.Primaries) != 3 || len(v.Findings) != 1 || v.Findings[0].Type != fleet.TypeReplicaMisdirected ||
		strings.Join(v.Findings[0].Evidence.ConnectedTo, ",") != "prod/b" {
		t.Errorf("view %+v", v)
	}
	if !strings.Contains(out.String(), `"stale": false`) {
		t.Errorf("no stale field in\n%s", out.String())
	}

	out.Reset()
	if code := mainCode([]string{"fleet", "--once", "--cluster", "stage"}, env, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "1 primaries, 0 findings") || !strings.Contains(out.String(), "stage/c") || strings.Contains(out.String(), "prod/") {
		t.Errorf("--cluster stage:\n%s", out.String())
	}
	out.Reset()
	if code := mainCode([]string{"fleet", "--once"}, env, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"prod/a", "degraded", "1 missing", "fleet.replica_misdirected", "replica/db-3:3306"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	t.Logf("sidecar fleet --once:\n%s", out.String())
}

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The live view shows a change of the bucket and lists events (not
// stream.stats) under the primaries; it ends with exit 0 when ctx ends.
// On a terminal it redraws the screen every second; into a pipe it
// appends the view only when it changed.
func TestFleetCommand_LiveOnEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats server")
	}
	for _, tt := range []struct {
		name       string
		terminal   bool
		wantClears bool
	}{
		{name: "terminal", terminal: true, wantClears: true},
		{name: "pipe", terminal: false, wantClears: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			terminal = func(io.Writer) bool { return tt.terminal }
			defer func() { terminal = isTerminal }()
			out := liveOnEmbedded(t)
			if got := strings.Contains(out, "\x1b[2J"); got != tt.wantClears {
				t.Errorf("screen cleared: got %v, want %v", got, tt.wantClears)
			}
			if views := strings.Count(out, "fleet at "); !tt.terminal && views != 2 {
				t.Errorf("into a pipe: %d views, want 2 (the first, the change):\n%s", views, out)
			}
		})
	}
}

// liveOnEmbedded runs the live view against an embedded server while a
// primary's health changes and events arrive, and returns its output.
func liveOnEmbedded(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, side, b := embeddedFleet(t, ctx)
	put := func(health string) {
		putDoc(t, ctx, b, "prod.a", fleet.Document{Cluster: "prod", Instance: "a", At: time.Now(), Health: health})
	}
	put("ok")

	lctx, stop := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- fleetCommand(lctx, nil, []string{"SIDECAR_NATS_URL=" + url, "SIDECAR_DATA_DIR=" + t.TempDir()}, &out, io.Discard)
	}()
	waitOutput := func(want string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%q in the live view", want), 30*time.Second, func() bool { return strings.Contains(out.String(), want) })
	}
	waitOutput("prod/a")
	put("critical")
	waitOutput("critical")
	waitFor(t, "an event in the live view", 30*time.Second, func() bool {
		side.Publish("mysql.health.prod.a.stream.stats", []byte(`{"type":"binlog_sidecar.stream.stats","data":{"summary":"stats-line"}}`))
		side.Publish("mysql.health.prod.a.replica.missing", []byte(`{"type":"binlog_sidecar.replica.missing","data":{"cluster":"prod","instance":"a","state":"firing","summary":"db-9 is gone"}}`))
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(out.String(), "replica.missing firing: db-9 is gone")
	})
	time.Sleep(1500 * time.Millisecond) // a redraw or two more, with nothing changed
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	if strings.Contains(out.String(), "stats-line") {
		t.Error("stream.stats listed in the feed")
	}
	return out.String()
}

// `sidecar fleet --publish` on a real nats-server: a misdirected replica
// fires one event on <prefix>.fleet.replica_misdirected; once the replica
// is back, the same problem id resolves.
func TestFleetCommand_Publish(t *testing.T) {
	srv := testnats.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := testnats.JetStream(t, srv.URL())
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MYSQL_HEALTH", Subjects: []string{"mysql.health.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b, err := kv.Open(ctx, js, "MYSQL_HEALTH_STATUS", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	put := func(status string) {
		// b first: moving back, the replica leaves b before a sees it.
		for _, d := range []fleet.Document{
			{Cluster: "prod", Instance: "b", At: time.Now(), Server: fleet.Server{ServerID: 2}, SidecarServerID: 4000000002,
				Replicas: []fleet.Replica{{Address: "db-3:3306", ServerID: 3, Status: fleet.ReplicaUnknown}}},
			{Cluster: "prod", Instance: "a", At: time.Now(), Server: fleet.Server{ServerID: 1}, SidecarServerID: 4000000001,
				Replicas: []fleet.Replica{{Address: "db-3:3306", ServerID: 3, Status: status, Expected: true}}},
		} {
			if d.Instance == "b" && status == fleet.ReplicaConnected {
				d.Replicas = nil
			}
			putDoc(t, ctx, b, kv.Key(d.Cluster, d.Instance), d)
		}
	}
	put(fleet.ReplicaMissing)

	pctx, stop := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- fleetCommand(pctx, []string{"--publish"}, []string{"SIDECAR_NATS_URL=" + srv.URL(), "SIDECAR_DATA_DIR=" + t.TempDir()}, &out, io.Discard)
	}()
	states := func() []string {
		var got []string
		for _, m := range testnats.StoredMessages(t, ctx, stream) {
			var e struct {
				Type string `json:"type"`
				Data struct {
					State string `json:"state"`
				} `json:"data"`
			}
			json.Unmarshal(m.Data, &e)
			got = append(got, m.Subject+" "+e.Type+" "+e.Data.State)
		}
		return got
	}
	waitStates := func(n int) []string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if got := states(); len(got) >= n || time.Now().After(deadline) {
				return got
			}
		}
	}
	got := waitStates(1)
	put(fleet.ReplicaConnected)
	got = waitStates(2)
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
	want := []string{
		"mysql.health.fleet.replica_misdirected binlog_sidecar.fleet.replica_misdirected firing",
		"mysql.health.fleet.replica_misdirected binlog_sidecar.fleet.replica_misdirected resolved",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream holds\n%s\nwant\n%s\nstdout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out.String())
	}
}
