package events_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// problemTypes are the types FromTransition produces.
var problemTypes = []string{
	events.TypeStreamDown, events.TypeStreamStalled, events.TypeReplicaMissing, events.TypeReplicaUnknown,
	events.TypeDumpThreadZombie, events.TypeDumpThreadFlapping, events.TypeSemiSyncDegraded, events.TypeSourceUnreachable,
	events.TypeCheckUnavailable,
}

// oneOfEach returns an event of every type in events.Types.
func oneOfEach(b *events.Builder) []events.Event {
	now := time.Now()
	out := []events.Event{
		b.Lifecycle(events.TypeSidecarStarted, "Sidecar started.", map[string]any{"version": "test"}),
		b.Stats(stream.Interval{Start: now.Add(-10 * time.Second), End: now,
			TopTables: []stream.TableStat{{Schema: "s", Table: "t", Bytes: 1, Rows: 1}}},
			stream.Snapshot{LagUnknown: "the stream has not connected yet", BehindUnknown: "not read yet", Position: stream.Position{File: "b.000001", Pos: 4}}),
		b.GapEvent(stream.Gap{At: now, From: stream.Position{File: "b.000001", Pos: 4}, To: stream.Position{File: "b.000003", Pos: 4}, Reason: "purged"}),
		b.DumpThreadKilled(health.KillReport{ThreadID: 42, Replica: "db-2:3306", ProblemID: "9f2c4e1a7b3d5e60", Reason: "no_greeting"}),
		b.HealthChanged(health.StatusOK, health.StatusDegraded, []health.Problem{{Type: events.TypeReplicaMissing, ID: "p", Subject: "replica/db-2:3306", Severity: health.SeverityWarning}}),
	}
	for i, typ := range problemTypes {
		out = append(out, b.FromTransition(health.Transition{State: health.StateFiring, At: now, Problem: health.Problem{
			Type: typ, ID: typ + "/x", Subject: "replica/db-2:3306", Severity: health.SeverityWarning, Since: now,
			Summary: "Something is wrong.", Remediation: "Fix it.", Evidence: map[string]any{"reason": "commits_waiting", "i": i},
		}}))
	}
	return append(out, b.Lifecycle(events.TypeSidecarStopping, "Sidecar stopping.", map[string]any{"reason": "SIGTERM"}))
}

// runServer starts an in-process NATS server with opts (NoSigs and NoLog
// set), waits until it accepts clients and shuts it down at cleanup.
func runServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
