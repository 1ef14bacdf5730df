package probe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
)

func newProbe(t *testing.T, s *testdb.Server, user, password string) *Probe {
	t.Helper()
	p := New(Config{Addr: s.Addr, User: user, Password: password, ReadTimeout: 2 * time.Second}, zerolog.New(zerolog.NewTestWriter(t)))
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProbe_Observe_live(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{Extra: []string{"--report-host=localhost", "--report-port=3307"}})
	o := newProbe(t, p, "sidecar", "sidecar").Observe(context.Background())
	failed := map[health.Read]string{}
	for read, res := range o.Reads {
		if !res.OK() {
			failed[read] = res.Err + res.MissingPrivilege
		}
	}
	got := []any{failed, o.Server.Flavor, o.Server.ServerID, len(o.DumpThreads), o.Replicas, o.Binlog.File != "", o.SemiSync.Available}
	want := []any{map[health.Read]string{}, mysqlserver.FlavorMariaDB, p.ServerID, 1,
		[]health.Registration{{ServerID: r.ServerID, Host: "localhost", Port: 3307, SourceID: p.ServerID}}, true, true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observation:\n got %v\nwant %v", got, want)
	}
}

// TestProbe_Observe_missingPrivilege: each missing grant is named on the
// read that needs it, and no rule check that depends on it says ok.
func TestProbe_Observe_missingPrivilege(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	// Users made on a live primary stay out of its binlog (lab-notes §1.2).
	p.Exec(t, "SET sql_log_bin=0")
	p.Exec(t, "CREATE USER nomadmin@'%' IDENTIFIED BY 'x'")
	p.Exec(t, "GRANT REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR, PROCESS ON *.* TO nomadmin@'%'")
	p.Exec(t, "CREATE USER noproc@'%' IDENTIFIED BY 'x'")
	p.Exec(t, "GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR ON *.* TO noproc@'%'")
	p.Exec(t, "SET sql_log_bin=1")

	tests := []struct {
		user, password string
		want           map[health.Read]string // read -> missing privilege
		grants         map[health.Read]string // read -> what check.unavailable says to grant
	}{
		{"sidecar", "sidecar", map[health.Read]string{}, nil},
		{"nomadmin", "x", map[health.Read]string{health.ReadReplicaHosts: "REPLICATION MASTER ADMIN"},
			map[health.Read]string{health.ReadReplicaHosts: "REPLICATION MASTER ADMIN"}},
		{"noproc", "x", map[health.Read]string{health.ReadDumpThreads: "PROCESS"},
			map[health.Read]string{health.ReadDumpThreads: "PROCESS"}},
		{"norepl", "norepl", map[health.Read]string{health.ReadReplicaHosts: "REPLICATION MASTER ADMIN",
			health.ReadChannels: "one of SUPER, SLAVE MONITOR"},
			map[health.Read]string{health.ReadReplicaHosts: "REPLICATION MASTER ADMIN", health.ReadChannels: "SLAVE MONITOR"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			o := newProbe(t, p, tt.user, tt.password).Observe(context.Background())
			got := map[health.Read]string{}
			for read, res := range o.Reads {
				if !res.OK() {
					got[read] = res.MissingPrivilege
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("missing privileges: got %v, want %v", got, tt.want)
			}

			rules := health.Rules{SelfServerID: 4000000001}
			_, out := rules.Evaluate(health.Memory{}, health.Input{Observation: o, InventoryConfigured: true,
				Inventory: []inventory.Entry{{Host: "127.0.0.1", Port: r.Port}}}, o.At)
			trs, rep := out.Transitions, out.Report
			fixes := map[health.Read]string{}
			for _, tr := range trs {
				if tr.Problem.Type != health.TypeCheckUnavailable {
					t.Errorf("transition %s %s, want only check.unavailable", tr.Problem.Type, tr.Problem.Subject)
					continue
				}
				fixes[health.Read(strings.TrimPrefix(tr.Problem.Subject, "check/"))] = tr.Problem.Remediation
			}
			if len(fixes) != len(tt.grants) {
				t.Errorf("check.unavailable fixes %v, want one for each of %v", fixes, tt.grants)
			}
			for read, grant := range tt.grants {
				if want := "GRANT " + grant + " ON *.* TO '" + tt.user + "'@'"; !strings.HasPrefix(fixes[read], want) {
					t.Errorf("check/%s fix %q, want it to start %q", read, fixes[read], want)
				}
			}
			for read, priv := range tt.want {
				if c := rep.Checks[string(read)]; c.State != health.CheckUnavailable || !strings.Contains(c.Reason, "missing privilege "+priv) {
					t.Errorf("check %s: got %+v, want unavailable naming %s", read, c, priv)
				}
			}
			for _, typ := range health.ProblemTypes() {
				c := rep.Checks[typ]
				if c.State == health.CheckUnavailable && !strings.Contains(c.Reason, "missing privilege") {
					t.Errorf("check %s: %+v does not name the privilege", typ, c)
				}
			}
			if len(tt.want) > 0 && rep.Checks[health.TypeReplicaMissing].State != health.CheckUnavailable {
				t.Errorf("replica.missing: got %+v, want unavailable", rep.Checks[health.TypeReplicaMissing])
			}
		})
	}
}

// A GRANT ends the blindness on the next poll: the server applies global
// grants to new connections only, so the probe reconnects while blind.
func TestProbe_Observe_grantTakesEffect(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	testdb.StartReplica(t, p, testdb.Options{})
	p.Exec(t, "SET sql_log_bin=0")
	p.Exec(t, "CREATE USER latergrant@'%' IDENTIFIED BY 'x'")
	p.Exec(t, "GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR ON *.* TO latergrant@'%'")
	p.Exec(t, "SET sql_log_bin=1")
	pr := newProbe(t, p, "latergrant", "x")
	o := pr.Observe(context.Background())
	if got := o.Read(health.ReadDumpThreads); got.MissingPrivilege != "PROCESS" || len(o.DumpThreads) != 0 {
		t.Fatalf("before the grant: %+v, %d threads; want PROCESS missing and no thread seen", got, len(o.DumpThreads))
	}
	p.Exec(t, "GRANT PROCESS ON *.* TO latergrant@'%'")
	o = pr.Observe(context.Background())
	if got := o.Read(health.ReadDumpThreads); !got.OK() || len(o.DumpThreads) != 1 {
		t.Errorf("after the grant: %+v, %d threads; want the replica's thread", got, len(o.DumpThreads))
	}
}

func TestProbe_Kill(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	testdb.StartReplica(t, p, testdb.Options{})
	ctx := context.Background()
	observer := newProbe(t, p, "bench", "bench")
	// thread waits for the replica's one dump thread other than not: from
	// the kill until the replica reconnects (it retries every second)
	// there is none, and the killed one may linger beside the new one.
	thread := func(not uint64) uint64 {
		deadline := time.Now().Add(time.Minute)
		for {
			var ids []uint64
			for _, d := range observer.Observe(ctx).DumpThreads {
				if d.ID != not {
					ids = append(ids, d.ID)
				}
			}
			if len(ids) == 1 {
				return ids[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("dump threads other than %d after a minute: %v, want one", not, ids)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	id := thread(0)
	err := newProbe(t, p, "sidecar", "sidecar").Kill(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "missing privilege CONNECTION ADMIN") {
		t.Errorf("kill as sidecar: got %v, want missing privilege CONNECTION ADMIN", err)
	}
	if err := newProbe(t, p, "bench", "bench").Kill(ctx, id); err != nil {
		t.Fatalf("kill as bench: %v", err)
	}
	// The replica reconnects: a new thread replaces the killed one.
	thread(id)
}

// TestProbe_Observe_reconnects: a poll during an outage fails its reads
// (quickly once the connection is lost), the next after it succeeds on a
// new connection.
func TestProbe_Observe_reconnects(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	pr := New(Config{Addr: p.Addr, User: "sidecar", Password: "sidecar", ReadTimeout: 300 * time.Millisecond}, zerolog.New(zerolog.NewTestWriter(t)))
	t.Cleanup(func() { pr.Close() })
	ctx := context.Background()
	ok := func(o health.Observation) []health.Read {
		var bad []health.Read
		for _, r := range health.Reads() {
			if !o.Read(r).OK() {
				bad = append(bad, r)
			}
		}
		return bad
	}
	if bad := ok(pr.Observe(ctx)); len(bad) != 0 {
		t.Fatalf("failed reads before the outage: %v", bad)
	}

	p.Pause()
	waitState(t, p.PID(), 'T') // SIGSTOP is asynchronous; a query may slip through first
	start := time.Now()
	polled := make(chan health.Observation, 1)
	go func() { polled <- pr.Observe(ctx) }()
	var o health.Observation
	select {
	case o = <-polled:
	case <-time.After(frozenPollLimit):
		// Unbounded reads would wait for the server for ever: it stays
		// frozen until the poll returns. Resume it so the poll (which
		// holds the probe) ends and the cleanup can close the probe.
		p.Resume()
		t.Fatalf("a poll of a frozen server did not return in %v with a 300ms read timeout: its reads are not bounded by their timeout", frozenPollLimit)
	}
	took := time.Since(start)
	p.Resume()
	if bad := ok(o); len(bad) != len(health.Reads()) {
		t.Errorf("failed reads while frozen: got %v, want all", bad)
	}
	// Only the first read waits out its timeout; the others fail at once
	// instead of each waiting for a server that did not answer (a poll
	// of len(Reads) timeouts).
	if first := o.Read(health.ReadVariables); first.Skipped || !strings.Contains(first.Err, "i/o timeout") {
		t.Errorf("first read while frozen: %+v, want it tried and timed out", first)
	}
	for _, r := range health.Reads()[1:] {
		if res := o.Read(r); !res.Skipped || !strings.Contains(res.Err, "connection lost earlier in this poll") {
			t.Errorf("read %s while frozen: %+v, want it skipped: the connection was lost earlier in this poll", r, res)
		}
	}
	t.Logf("a poll of a frozen server took %v with a 300ms read timeout (first error: %s)", took.Round(time.Millisecond), o.Read(health.ReadVariables).Err)

	p.Restart(t)
	if bad := ok(pr.Observe(ctx)); len(bad) != 0 {
		t.Errorf("failed reads after the restart: %v", bad)
	}
}

// frozenPollLimit bounds the wait for a poll of a frozen server: reached
// only when its reads are not bounded (they would never return), never by
// a slow machine.
const frozenPollLimit = 2 * time.Minute

// waitState waits until process pid is in state (third field of
// /proc/pid/stat), e.g. 'T' once a SIGSTOP took effect.
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not in state %c after 5 s", pid, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
