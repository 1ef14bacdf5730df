package canary

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// startCanary runs a canary as user against srv, with the sidecar's own
// binlog stream feeding it rows, until the test ends.
func startCanary(t *testing.T, srv *testdb.Server, user string, cfg Config) (*Canary, *stream.Meter) {
	t.Helper()
	cfg.Target = client.Target{Addr: srv.Addr, User: user, Password: user}
	if cfg.Instance == "" {
		cfg.Instance = "db-1"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	c := New(cfg, zerolog.Nop())
	meter := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: 200 * time.Millisecond})
	meter.SetLagSource(c.Lag)
	src := binlog.New(binlog.Config{Addr: srv.Addr, User: "sidecar", Password: "sidecar", ServerID: 4000000123,
		HeartbeatPeriod: 200 * time.Millisecond, OnCanary: c.OnRow}, meter, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx) })
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c, meter
}

// waitStatus polls the canary's status until ok or the limit; the limit
// bounds the loop, it is not a timing assertion. On a timeout the last
// status is logged (Until's Fatalf runs the deferred log).
func waitStatus(t *testing.T, c *Canary, what string, limit time.Duration, ok func(Status) bool) Status {
	t.Helper()
	var s Status
	defer func() {
		if t.Failed() {
			t.Logf("canary status: %+v", s)
		}
	}()
	testwait.Until(t, "canary "+what, limit, func() bool { s = c.Status(); return ok(s) })
	return s
}

// TestCanary_measuresCommitAndDelivery: against a real primary the canary
// creates its table, keeps one row for its instance, and measures commit
// latency and delivery to its own stream, which also makes lag exact.
func TestCanary_measuresCommitAndDelivery(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	c, meter := startCanary(t, p, "bench", Config{})
	s := waitStatus(t, c, "5 writes with commit and delivery figures", 60*time.Second, func(s Status) bool {
		return s.State == StateWriting && s.Writes >= 5 && s.CommitMS != nil && s.DeliveryMS != nil
	})
	t.Logf("commit %+v ms, delivery %+v ms after %d writes", *s.CommitMS, *s.DeliveryMS, s.Writes)
	if s.CommitHist.Count < 5 || s.DeliveryHist.Count == 0 {
		t.Errorf("histograms: commit %d, delivery %d observations", s.CommitHist.Count, s.DeliveryHist.Count)
	}
	rows := p.Query(t, "SELECT instance, seq, server_id FROM binlog_sidecar.heartbeat")
	if len(rows) != 1 || rows[0]["instance"] != "db-1" || rows[0]["server_id"] != strconv.FormatUint(uint64(p.ServerID), 10) {
		t.Errorf("heartbeat rows %v, want one for db-1 with server_id %d", rows, p.ServerID)
	}
	if snap := meter.Snapshot(); snap.LagSeconds == nil {
		t.Errorf("lag unknown while the canary runs: %s", snap.LagUnknown)
	}
	iv := c.TakeInterval()
	if iv.Writes == 0 || iv.CommitMS == nil || iv.DeliveryMS == nil || iv.State != StateWriting {
		t.Errorf("interval %+v", iv)
	}
}

// TestCanary_readOnlySkipsAndResumes: a read-only server is skipped with
// the reason, and written again once it is writable.
func TestCanary_readOnlySkipsAndResumes(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "SET GLOBAL read_only = ON")
	c, _ := startCanary(t, p, "bench", Config{})
	s := waitStatus(t, c, "skipped", 30*time.Second, func(s Status) bool { return s.State == StateSkipped })
	if !strings.Contains(s.Reason, "read_only is ON") || s.Writes != 0 {
		t.Errorf("skipped: reason %q, %d writes", s.Reason, s.Writes)
	}
	t.Logf("read-only: state %s, reason %q", s.State, s.Reason)
	p.Exec(t, "SET GLOBAL read_only = OFF")
	s = waitStatus(t, c, "writing after read_only OFF", 30*time.Second, func(s Status) bool { return s.State == StateWriting && s.Writes > 0 })
	t.Logf("writable again: state %s, %d writes", s.State, s.Writes)
}

// TestCanary_skipsReplica: a replica that is not read-only is still never
// written to (its writes would be errant transactions).
func TestCanary_skipsReplica(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	c, _ := startCanary(t, r, "bench", Config{})
	s := waitStatus(t, c, "skipped", 30*time.Second, func(s Status) bool { return s.State == StateSkipped })
	if !strings.Contains(s.Reason, "replica of") || s.Writes != 0 {
		t.Errorf("skipped: reason %q, %d writes", s.Reason, s.Writes)
	}
	t.Logf("replica: state %s, reason %q", s.State, s.Reason)
}

// TestCanary_noPrivilegeNamesTheGrant: the sidecar's minimal account may
// not create the table: the canary says which privilege is missing and
// the statements that fix it; after the GRANT it writes.
func TestCanary_noPrivilegeNamesTheGrant(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	c, meter := startCanary(t, p, "sidecar", Config{})
	s := waitStatus(t, c, "unavailable", 30*time.Second, func(s Status) bool { return s.State == StateUnavailable })
	for _, want := range []string{"missing privilege CREATE", "CREATE TABLE IF NOT EXISTS binlog_sidecar.heartbeat", "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%'"} {
		if !strings.Contains(s.Reason, want) {
			t.Errorf("reason %q lacks %q", s.Reason, want)
		}
	}
	t.Logf("no privilege: %s", s.Reason)
	if !meter.Snapshot().Connected {
		// The stream runs as the same account: the canary's failure is its own.
		testwait.Until(t, "the stream connected", 30*time.Second, func() bool { return meter.Snapshot().Connected })
	}
	p.Exec(t, "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%'")
	waitStatus(t, c, "writing after the GRANT", 60*time.Second, func(s Status) bool { return s.State == StateWriting && s.Writes > 0 })
}

// TestCanary_lockedTableKilledNoPileUp: another session holds the table
// with LOCK TABLES ... WRITE. The canary's write blocks, is killed once
// the timeout passes, and never more than one of its writes is in flight.
func TestCanary_lockedTableKilledNoPileUp(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	c, _ := startCanary(t, p, "bench", Config{Interval: 100 * time.Millisecond, Timeout: time.Second, Slow: 200 * time.Millisecond})
	waitStatus(t, c, "writing", 30*time.Second, func(s Status) bool { return s.State == StateWriting && s.Writes > 0 })

	locker := p.Conn(t)
	if _, err := locker.Execute("LOCK TABLES binlog_sidecar.heartbeat WRITE"); err != nil {
		t.Fatal(err)
	}
	watcher := p.Conn(t)
	most := 0
	s := waitStatus(t, c, "2 killed writes", 60*time.Second, func(s Status) bool {
		// SHOW FULL PROCESSLIST, counted here: information_schema.PROCESSLIST
		// is an Aria temporary table per query, and mariadbd 10.11.19 has
		// crashed freeing it while this test's kills ran.
		res, err := watcher.Execute("SHOW FULL PROCESSLIST")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := range res.RowNumber() {
			if info, _ := res.GetStringByName(i, "Info"); strings.HasPrefix(info, "INSERT INTO binlog_sidecar.heartbeat") {
				n++
			}
		}
		most = max(most, n)
		return s.Killed >= 2
	})
	if most > 1 {
		t.Errorf("%d canary writes in flight at once; want at most 1", most)
	}
	if s.Timeouts < 2 || !strings.Contains(s.Reason, "killed true") || s.CommitMS == nil || s.CommitMS.Max < 1000 {
		t.Errorf("after the kills: %d timeouts, reason %q, commit %+v", s.Timeouts, s.Reason, s.CommitMS)
	}
	t.Logf("locked table: %d killed, %d timeouts, at most %d in flight, reason %q", s.Killed, s.Timeouts, most, s.Reason)
	if _, err := locker.Execute("UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	writes := s.Writes
	waitStatus(t, c, "writing after UNLOCK", 30*time.Second, func(s Status) bool { return s.State == StateWriting && s.Writes > writes })
}

// SIDECAR_MYSQL_FLAVOR holds for the canary as for the stream and the
// probe: a MariaDB server whose version string does not say so (here
// --version=8.0.36, as a proxy or an override may show it) is written to
// as MariaDB when the setting says mariadb.
func TestCanary_flavorSetting(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{Extra: []string{"--version=8.0.36"}})
	cfg := Config{Flavor: mysqlserver.FlavorMariaDB, Interval: 200 * time.Millisecond}
	cfg.Target = client.Target{Addr: p.Addr, User: "bench", Password: "bench"}
	c := New(cfg, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitStatus(t, c, "writing on a MariaDB that reports 8.0.36", 60*time.Second, func(s Status) bool {
		return s.State == StateWriting && s.Writes >= 2
	})
}
