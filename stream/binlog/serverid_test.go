package binlog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

func TestServerIDFree(t *testing.T) {
	const own = 4000000001
	tests := []struct {
		name string
		regs []registration
		want bool // free
	}{
		{"no replicas", nil, true},
		{"other ids", []registration{{serverID: 2, host: "db-2", port: 3306}, {serverID: 3}}, true},
		{"the sidecar's own earlier registration", []registration{{serverID: own, host: RegisterHost, port: 0}}, true},
		{"a replica with the sidecar's id", []registration{{serverID: 2}, {serverID: own, host: "db-3", port: 3307}}, false},
		{"a replica without report_host", []registration{{serverID: own, port: 3306}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serverIDFree(tt.regs, own)
			if (err == nil) != tt.want {
				t.Fatalf("serverIDFree = %v, want free %v", err, tt.want)
			}
			if err != nil && (!errors.Is(err, ErrDuplicateReplica) || !strings.Contains(Hint(err), "SIDECAR_SERVER_ID")) {
				t.Errorf("error %v (hint %q), want ErrDuplicateReplica naming SIDECAR_SERVER_ID", err, Hint(err))
			}
		})
	}
}

// dumpThreadOf returns the connection id of the dump thread the primary
// runs for the replication account repl (the real replica), 0 if none.
func dumpThreadOf(t *testing.T, p *testdb.Server) string {
	t.Helper()
	id := ""
	for _, row := range p.Query(t, "SHOW PROCESSLIST") {
		if strings.HasPrefix(row["Command"], "Binlog Dump") && row["User"] == "repl" {
			if id != "" {
				t.Fatalf("two dump threads of repl: %s and %s", id, row["Id"])
			}
			id = row["Id"]
		}
	}
	return id
}

// ioRunning reports the replica's IO thread state.
func ioRunning(t *testing.T, r *testdb.Server) string {
	t.Helper()
	st := r.Query(t, "SHOW SLAVE STATUS")
	if len(st) != 1 {
		t.Fatalf("SHOW SLAVE STATUS: %d rows", len(st))
	}
	return st[0]["Slave_IO_Running"]
}

// TestSource_refusesAReplicasServerID: with the server_id of a registered
// replica the stream refuses to start (a configuration error) and never
// registers: the replica's dump thread on the primary stays the same one
// and its IO thread keeps running. Before, the sidecar threw the replica
// off 7 times in 20 s.
func TestSource_refusesAReplicasServerID(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{Extra: []string{"--report-host=127.0.0.1", "--report-port=3310"}})
	var before string
	testwait.Until(t, "the replica's dump thread", 10*time.Second, func() bool { before = dumpThreadOf(t, p); return before != "" })

	src := startSource(t, p, Config{ServerID: r.ServerID})
	var err error
	select {
	case err = <-src.done:
		close(src.done)
	case <-time.After(60 * time.Second):
		t.Fatalf("Run still streaming with the replica's server_id: %+v", src.meter.Snapshot())
	}
	if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrDuplicateReplica) {
		t.Fatalf("Run = %v, want ErrConfig and ErrDuplicateReplica", err)
	}
	if !strings.Contains(err.Error(), "is used by the replica 127.0.0.1:3310") {
		t.Errorf("Run = %v, want it to name the replica", err)
	}
	// The replica reconnects after MASTER_CONNECT_RETRY=1 s when thrown
	// off; a new dump thread id would show it was.
	time.Sleep(2 * time.Second)
	if after := dumpThreadOf(t, p); after != before || ioRunning(t, r) != "Yes" {
		t.Errorf("replica's dump thread %s -> %s, IO thread %s: the replica was thrown off", before, after, ioRunning(t, r))
	}
}

// TestSource_replicaTakesTheServerIDLater: a replica that registers with
// the sidecar's server_id while the sidecar streams takes over (the server
// ends the sidecar's dump); the sidecar then reports why and keeps
// checking without registering, so the replica stays connected.
func TestSource_replicaTakesTheServerIDLater(t *testing.T) {
	const id = 4000000123
	p := testdb.StartPrimary(t, testdb.Options{})
	src := startSource(t, p, Config{ServerID: id})
	testwait.Until(t, "connected", 20*time.Second, func() bool { return src.meter.Snapshot().Connected })

	r := testdb.StartReplica(t, p, testdb.Options{ServerID: id})
	testwait.Until(t, "the conflict reported", 30*time.Second, func() bool {
		s := src.meter.Snapshot()
		return !s.Connected && strings.Contains(s.LastError, "server_id 4000000123 is used by")
	})
	if !strings.Contains(src.meter.Snapshot().Hint, "SIDECAR_SERVER_ID") {
		t.Errorf("hint %q, want it to name SIDECAR_SERVER_ID", src.meter.Snapshot().Hint)
	}
	before := dumpThreadOf(t, p)
	// Several more attempts of the stream (backoff 50-400 ms): each must
	// check and stay away.
	start := src.meter.Snapshot().Reconnects
	testwait.Until(t, "three more attempts", 30*time.Second, func() bool { return src.meter.Snapshot().Reconnects >= start+3 })
	time.Sleep(2 * time.Second) // the replica's MASTER_CONNECT_RETRY, had it been thrown off
	if after := dumpThreadOf(t, p); after != before || before == "" || ioRunning(t, r) != "Yes" {
		t.Errorf("replica's dump thread %s -> %s, IO thread %s: the sidecar threw it off", before, after, ioRunning(t, r))
	}
	if s := src.meter.Snapshot(); s.Connected || !strings.Contains(s.LastError, "is used by") {
		t.Errorf("stream connected %v, last error %q; want down, naming the conflict", s.Connected, s.LastError)
	}
	select {
	case err := <-src.done:
		t.Fatalf("Run returned %v; after a first dump a conflict is waited out, not fatal", err)
	default:
	}
}
