package health_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/health/probe"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// Short intervals so faults show within seconds (the brief's test values).
const (
	poll         = 500 * time.Millisecond
	probeTimeout = 500 * time.Millisecond
	grace        = 2 * time.Second
	// slack absorbs scheduling on a shared 2-core machine; the contract
	// bound is what the test asserts plus this.
	slack  = 3 * time.Second
	selfID = 4000000001
)

// settleWait bounds the wait for a state a test sets up before its fault
// (a replica connected, the stream up): reached only when it never comes,
// never by a loaded machine being slow. Latency is asserted with within.
const settleWait = time.Minute

// within is the contract's bound: fire within 2 poll intervals (plus the
// probe timeout and grace where a rule has them), resolve within 2.
func within(extra time.Duration) time.Duration { return 2*poll + extra + slack }

// watcher records what the monitor reports through its callbacks.
type watcher struct {
	mu     sync.Mutex
	trs    []health.Transition
	kills  []health.KillReport
	health []string // "from->to" of each health change
}

func (w *watcher) healthChange(from, to health.Status, _ time.Time) {
	w.mu.Lock()
	w.health = append(w.health, from.String()+"->"+to.String())
	w.mu.Unlock()
}

func (w *watcher) healthChanges() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.health...)
}

func (w *watcher) transition(tr health.Transition) {
	w.mu.Lock()
	w.trs = append(w.trs, tr)
	w.mu.Unlock()
}
func (w *watcher) kill(k health.KillReport) { w.mu.Lock(); w.kills = append(w.kills, k); w.mu.Unlock() }

func (w *watcher) transitions() []health.Transition {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]health.Transition(nil), w.trs...)
}

// first returns the first transition of typ to state whose subject has the
// prefix, or nil.
func (w *watcher) first(state health.State, typ, subject string) *health.Transition {
	for _, tr := range w.transitions() {
		if tr.State == state && tr.Problem.Type == typ && strings.HasPrefix(tr.Problem.Subject, subject) {
			return &tr
		}
	}
	return nil
}

// wait polls until first finds a transition, or fails the test after d. It
// returns when it was seen.
func (w *watcher) wait(t *testing.T, state health.State, typ, subject string, d time.Duration) health.Transition {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if tr := w.first(state, typ, subject); tr != nil {
			return *tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s %s within %v; transitions: %v", state, typ, subject, d, describe(w.transitions()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(trs []health.Transition) []string {
	out := []string{}
	for _, tr := range trs {
		out = append(out, fmt.Sprintf("%s %s %s %s", tr.At.Format("15:04:05.000"), tr.State, tr.Problem.Type, tr.Problem.Subject))
	}
	return out
}

// startMonitor runs a monitor against srv as user until the test ends.
func startMonitor(t *testing.T, srv *testdb.Server, user string, o health.Options) (*health.Monitor, *watcher) {
	t.Helper()
	return startMonitorRead(t, srv, user, o, 2*time.Second)
}

// startMonitorRead is startMonitor with the probe's read timeout given.
func startMonitorRead(t *testing.T, srv *testdb.Server, user string, o health.Options, readTimeout time.Duration) (*health.Monitor, *watcher) {
	t.Helper()
	w := &watcher{}
	o.PollInterval, o.ProbeTimeout, o.ZombieGrace = poll, probeTimeout, grace
	if o.SelfServerID == 0 {
		o.SelfServerID = selfID
	}
	o.OnTransition, o.OnKill = w.transition, w.kill
	o.OnHealthChange = w.healthChange
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	pr := probe.New(probe.Config{Addr: srv.Addr, User: user, Password: user, ReadTimeout: readTimeout}, log)
	m := health.NewMonitor(o, pr, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("monitor did not stop within 10 s")
		}
		pr.Close()
	})
	return m, w
}

// waitReport polls the monitor's report until ok holds.
func waitReport(t *testing.T, m *health.Monitor, what string, d time.Duration, ok func(health.Report) bool) health.Report {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		rep := m.Report()
		if !rep.At.IsZero() && ok(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reached within %v; problems %v, replicas %+v, checks %v", what, d, rep.Problems, rep.Replicas, rep.Checks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func replicaStatus(rep health.Report, addr string) string {
	for _, r := range rep.Replicas {
		if r.Address == addr {
			return r.Status
		}
	}
	return ""
}

func entry(s *testdb.Server) inventory.Entry { return inventory.Entry{Host: "127.0.0.1", Port: s.Port} }

// dumpThreads returns the ids of the primary's binlog dump threads. It
// reads SHOW PROCESSLIST, as the probe does, never the temporary table of
// information_schema.PROCESSLIST (see dumpThreadsFrom).
func dumpThreads(t *testing.T, p *testdb.Server) []string {
	t.Helper()
	var ids []string
	for _, r := range p.Query(t, "SHOW PROCESSLIST") {
		if r["Command"] == "Binlog Dump" {
			ids = append(ids, r["Id"])
		}
	}
	return ids
}

// writeUntil inserts into sbtest.t until at most n dump threads remain: an
// idle dump thread notices a dead peer only when it writes, and the first
// write after the peer's FIN may still succeed.
func writeUntil(t *testing.T, p *testdb.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(dumpThreads(t, p)) > n {
		if time.Now().After(deadline) {
			t.Fatalf("dump threads %v still present after 30 s of writes", dumpThreads(t, p))
		}
		p.Exec(t, "INSERT INTO sbtest.t VALUES ()")
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMonitor_zombieWhenReplicaFrozen(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{entry(r)}, true).Get})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool {
		return replicaStatus(rep, entry(r).Addr()) == health.ReplicaConnected
	})

	r.Pause()
	t.Cleanup(r.Resume)
	paused := time.Now()
	tr := w.wait(t, health.StateFiring, health.TypeDumpThreadZombie, "thread/", within(probeTimeout+grace))
	t.Logf("dump_thread.zombie fired %v after SIGSTOP (bound %v)", time.Since(paused).Round(time.Millisecond), 2*poll+probeTimeout+grace)
	rep := m.Report()
	if got := replicaStatus(rep, entry(r).Addr()); got != health.ReplicaZombie {
		t.Errorf("replica status: got %q, want zombie", got)
	}
	if tr.Problem.Severity != health.SeverityCritical || !strings.HasPrefix(tr.Problem.Remediation, "KILL ") {
		t.Errorf("problem: severity %s, remediation %q; want critical and KILL", tr.Problem.Severity, tr.Problem.Remediation)
	}

	r.Resume()
	resumed := time.Now()
	w.wait(t, health.StateResolved, health.TypeDumpThreadZombie, tr.Problem.Subject, within(probeTimeout))
	t.Logf("dump_thread.zombie resolved %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
}

func TestMonitor_killZombie(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	// bench may KILL other accounts' threads; the sidecar's minimal grants may not.
	m, w := startMonitor(t, p, "bench", health.Options{KillZombies: true,
		Inventory: inventory.Static([]inventory.Entry{entry(r)}, true).Get})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool {
		return replicaStatus(rep, entry(r).Addr()) == health.ReplicaConnected
	})
	victim := dumpThreads(t, p)
	r.Pause()
	t.Cleanup(r.Resume)
	tr := w.wait(t, health.StateFiring, health.TypeDumpThreadZombie, "thread/", within(probeTimeout+grace))
	w.wait(t, health.StateResolved, health.TypeDumpThreadZombie, tr.Problem.Subject, within(probeTimeout))

	w.mu.Lock()
	kills := append([]health.KillReport(nil), w.kills...)
	w.mu.Unlock()
	if len(kills) != 1 || kills[0].Result != "killed" || kills[0].ProblemID != tr.Problem.ID || health.ThreadSubject(kills[0].ThreadID) != tr.Problem.Subject ||
		kills[0].Replica != entry(r).Addr() {
		t.Fatalf("kills: got %+v, want one kill of %s for problem %s", kills, tr.Problem.Subject, tr.Problem.ID)
	}
	if got := dumpThreads(t, p); len(got) != 0 {
		t.Errorf("dump threads after the kill: got %v (before %v), want none", got, victim)
	}
}

func TestMonitor_missingWhenReplicaKilled(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY)")
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{entry(r)}, true).Get})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool {
		return replicaStatus(rep, entry(r).Addr()) == health.ReplicaConnected
	})

	r.Kill()
	writeUntil(t, p, 0)
	gone := time.Now()
	tr := w.wait(t, health.StateFiring, health.TypeReplicaMissing, "replica/"+entry(r).Addr(), within(0))
	t.Logf("replica.missing fired %v after its dump thread ended (bound %v)", time.Since(gone).Round(time.Millisecond), 2*poll)

	r.Restart(t)
	restarted := time.Now()
	w.wait(t, health.StateResolved, health.TypeReplicaMissing, tr.Problem.Subject, 30*time.Second)
	t.Logf("replica.missing resolved %v after the replica restarted (it reconnects by itself)", time.Since(restarted).Round(time.Millisecond))
}

func TestMonitor_unknownReplica(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	a := testdb.StartReplica(t, p, testdb.Options{})
	syncer := simulateSidecar(t, p)
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{entry(a)}, true).Get})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool {
		return replicaStatus(rep, entry(a).Addr()) == health.ReplicaConnected
	})

	started := time.Now()
	b := testdb.StartReplica(t, p, testdb.Options{})
	tr := w.wait(t, health.StateFiring, health.TypeReplicaUnknown, "replica/"+entry(b).Addr(), within(0)+time.Since(started))
	t.Logf("replica.unknown fired %v after the second replica started", time.Since(started).Round(time.Millisecond))
	for _, x := range w.transitions() {
		if x.Problem.Type == health.TypeReplicaUnknown && x.Problem.Subject != tr.Problem.Subject {
			t.Errorf("unexpected %s %s (the sidecar is never unknown)", x.Problem.Type, x.Problem.Subject)
		}
	}

	b.Stop(t)
	// Its idle dump thread only notices the closed connection when it next
	// writes; until then it still serves an unknown (and now dead) replica.
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY)")
	writeUntil(t, p, 2) // a's and the sidecar's remain
	stopped := time.Now()
	w.wait(t, health.StateResolved, health.TypeReplicaUnknown, tr.Problem.Subject, within(0))
	t.Logf("replica.unknown resolved %v after the second replica stopped and a write ended its dump thread", time.Since(stopped).Round(time.Millisecond))
	syncer.Close()
}

func TestMonitor_flappingSharedServerID(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	a := testdb.StartReplica(t, p, testdb.Options{})
	m, w := startMonitor(t, p, "sidecar", health.Options{FlapWindow: 10 * time.Second})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool { return len(rep.Replicas) == 1 })

	started := time.Now()
	b := testdb.StartReplica(t, p, testdb.Options{ServerID: a.ServerID})
	tr := w.wait(t, health.StateFiring, health.TypeDumpThreadFlapping, "replica/server_id:", 30*time.Second)
	t.Logf("dump_thread.flapping fired %v after a second replica with server_id %d started: %s",
		time.Since(started).Round(time.Millisecond), a.ServerID, tr.Problem.Summary)

	b.Stop(t)
	stopped := time.Now()
	w.wait(t, health.StateResolved, health.TypeDumpThreadFlapping, tr.Problem.Subject, 10*time.Second+within(0))
	t.Logf("dump_thread.flapping resolved %v after the duplicate stopped (window 10 s)", time.Since(stopped).Round(time.Millisecond))
}

func TestMonitor_semisyncCommitsWaiting(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{Extra: []string{"--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-master-timeout=100000000"}})
	r := testdb.StartReplica(t, p, testdb.Options{Extra: []string{"--rpl-semi-sync-slave-enabled=ON"}})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY)")
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{{Host: "127.0.0.1", Port: r.Port, SemiSync: true}}, true).Get})
	waitReport(t, m, "semi-sync on with its replica", settleWait, func(rep health.Report) bool {
		return rep.SemiSync.StatusOn && rep.SemiSync.Clients == 1 && len(rep.Problems) == 0
	})

	frozen := testdb.FreezeUnderWrites(t, p, r, 2, "INSERT INTO sbtest.t VALUES ()")
	tr := w.wait(t, health.StateFiring, health.TypeSemiSyncDegraded, "semisync/"+health.ReasonCommitsWaiting, within(probeTimeout))
	// A poll waits up to the probe timeout for the frozen replica's greeting.
	t.Logf("semisync.degraded commits_waiting fired %v after the semi-sync replica froze under writes (bound %v)",
		time.Since(frozen).Round(time.Millisecond), 2*poll+probeTimeout)
	if tr.Problem.Severity != health.SeverityCritical || tr.Problem.Evidence["reason"] != health.ReasonCommitsWaiting ||
		!strings.Contains(tr.Problem.Remediation, "SET GLOBAL rpl_semi_sync_master_enabled=OFF") {
		t.Errorf("problem: severity %s, reason %v, remediation %q", tr.Problem.Severity, tr.Problem.Evidence["reason"], tr.Problem.Remediation)
	}

	r.Resume()
	resumed := time.Now()
	w.wait(t, health.StateResolved, health.TypeSemiSyncDegraded, tr.Problem.Subject, within(0))
	t.Logf("semisync.degraded commits_waiting resolved %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
}

func TestMonitor_sourceUnreachable(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{})
	m, w := startMonitor(t, r, "sidecar", health.Options{})
	waitReport(t, m, "healthy replica", settleWait, func(rep health.Report) bool {
		return len(rep.Channels) == 1 && rep.Checks[health.TypeSourceUnreachable].State == health.CheckOK
	})

	r.Exec(t, "STOP SLAVE")
	r.Exec(t, "CHANGE MASTER TO MASTER_HOST='nonexistent.invalid', MASTER_PORT=3306")
	r.Exec(t, "START SLAVE")
	changed := time.Now()
	tr := w.wait(t, health.StateFiring, health.TypeSourceUnreachable, "source/nonexistent.invalid:3306", 30*time.Second)
	t.Logf("source.unreachable fired %v after CHANGE MASTER to a host that does not exist: %s", time.Since(changed).Round(time.Millisecond), tr.Problem.Summary)
	if !strings.Contains(tr.Problem.Remediation, "CHANGE MASTER TO MASTER_HOST=") {
		t.Errorf("remediation %q does not say how to repoint", tr.Problem.Remediation)
	}

	r.Exec(t, "STOP SLAVE")
	r.Exec(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d", p.Port))
	r.Exec(t, "START SLAVE")
	fixed := time.Now()
	w.wait(t, health.StateResolved, health.TypeSourceUnreachable, tr.Problem.Subject, within(0))
	t.Logf("source.unreachable resolved %v after repointing", time.Since(fixed).Round(time.Millisecond))
}

// simulateSidecar registers and streams like the sidecar's binlog stream:
// go-mysql with the sidecar's server_id, user and registration host.
func simulateSidecar(t *testing.T, p *testdb.Server) *replication.BinlogSyncer {
	t.Helper()
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: selfID, Flavor: "mariadb", Host: "127.0.0.1",
		Port: uint16(p.Port), User: "sidecar", Password: "sidecar", Localhost: "binlog-sidecar", HeartbeatPeriod: time.Second,
		ReadTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	file, pos := p.MasterStatus(t)
	st, err := s.StartSync(gomysql.Position{Name: file, Pos: pos})
	if err != nil {
		t.Fatalf("simulated sidecar: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if _, err := st.GetEvent(ctx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); s.Close(); <-done })
	return s
}

// TestMonitor_soak runs write load on a primary with a healthy replica, a
// correct inventory and the sidecar's own stream, and requires silence:
// no problem at all. BINLOG_SIDECAR_SOAK sets the duration (default 20s).
func TestMonitor_soak(t *testing.T) {
	d := 20 * time.Second
	if v := os.Getenv("BINLOG_SIDECAR_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BINLOG_SIDECAR_SOAK: %v", err)
		}
	}
	p := testdb.StartPrimary(t, testdb.Options{PerformanceSchema: true})
	r := testdb.StartReplica(t, p, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))")
	simulateSidecar(t, p)
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{entry(r)}, true).Get})

	ctx, cancel := context.WithCancel(context.Background())
	var load sync.WaitGroup
	var commits int
	c := p.Conn(t)
	load.Go(func() {
		for ctx.Err() == nil {
			if _, err := c.Execute("INSERT INTO sbtest.t (v) VALUES (REPEAT('x', 100))"); err != nil {
				t.Errorf("load: %v", err)
				return
			}
			commits++
		}
	})
	start := time.Now()
	var polls int
	var last time.Time
	for time.Since(start) < d {
		time.Sleep(poll)
		rep := m.Report()
		if rep.At.IsZero() || rep.At.Equal(last) {
			continue
		}
		last = rep.At
		polls++
		for name, c := range rep.Checks {
			if c.State != health.CheckOK && c.State != health.CheckNotEvaluated {
				t.Errorf("check %s: %s %s", name, c.State, c.Reason)
			}
		}
	}
	cancel()
	load.Wait()
	rep := m.Report()
	if trs := w.transitions(); len(trs) != 0 {
		t.Errorf("transitions during the soak: %v", describe(trs))
	}
	sidecars, counted := 0, 0
	for _, d := range rep.DumpThreads {
		if d.Sidecar {
			sidecars++
		}
	}
	for _, n := range rep.Counts.DumpThreads {
		counted += n
	}
	got := []int{sidecars, counted, rep.Counts.Replicas[health.ReplicaConnected], rep.Counts.Replicas[health.ReplicaUnknown], len(rep.Replicas)}
	if want := []int{1, 1, 1, 0, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sidecar threads, counted threads, connected, unknown, replicas: got %v, want %v", got, want)
	}
	t.Logf("soak %v: %d commits, %d polls, zero problems; last poll: %d queries, %d rows, %v", d.Round(time.Second), commits, polls,
		rep.Poll.Queries, rep.Poll.Rows, rep.Poll.Took.Round(time.Microsecond))
}

// TestProbe_cost measures what one poll costs the primary: queries, rows
// and mariadbd CPU time (utime+stime from /proc) over many polls.
func TestProbe_cost(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	testdb.StartReplica(t, p, testdb.Options{})
	testdb.StartReplica(t, p, testdb.Options{})
	simulateSidecar(t, p)
	pr := probe.New(probe.Config{Addr: p.Addr, User: "sidecar", Password: "sidecar"}, zerolog.Nop())
	t.Cleanup(func() { pr.Close() })
	ctx := context.Background()
	o := pr.Observe(ctx) // connect outside the measurement
	for r, res := range o.Reads {
		if !res.OK() {
			t.Fatalf("read %s: %+v", r, res)
		}
	}
	const n = 200
	cpu0 := cpuTicks(t, p.PID())
	start := time.Now()
	queries, rows := 0, 0
	for range n {
		o := pr.Observe(ctx)
		queries += o.Queries()
		rows += o.RowsRead()
	}
	wall := time.Since(start)
	ticks := cpuTicks(t, p.PID()) - cpu0
	// USER_HZ is 100 on Linux: one tick is 10 ms.
	t.Logf("poll cost on MariaDB with 2 replicas + sidecar: %d queries, %.1f rows, %.3f ms wall, %.3f ms primary CPU per poll (%d polls, %d ticks)",
		queries/n, float64(rows)/n, float64(wall.Microseconds())/1000/n, float64(ticks)*10/n, n, ticks)
	if queries/n != len(health.Reads()) {
		t.Errorf("queries per poll: got %d, want %d", queries/n, len(health.Reads()))
	}
}

func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command; utime and stime are 14 and 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// TestMonitor_frozenPrimaryStallThenDown freezes the primary (SIGSTOP) past
// the stall threshold and the stream's read timeout, twice: the stall hands
// over to stream.down without health reading ok in between, and nothing
// resolves until the server answers again.
func TestMonitor_frozenPrimaryStallThenDown(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	// A 1 s heartbeat: stalled after 3 s of silence, disconnected by the
	// read timeout after 5 s; polls end within ~1 s on a frozen server
	// (100 ms per read), so several polls see each stage.
	const heartbeat = time.Second
	meter := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: heartbeat})
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	src := binlog.New(binlog.Config{Addr: p.Addr, User: "sidecar", Password: "sidecar", ServerID: selfID,
		HeartbeatPeriod: heartbeat, BackoffMin: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond}, meter, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	m, w := startMonitorRead(t, p, "sidecar", health.Options{Stream: meter.Snapshot, SelfThreadID: src.ThreadID}, 100*time.Millisecond)
	waitReport(t, m, "stream connected and health ok", settleWait, func(rep health.Report) bool {
		return meter.Snapshot().Connected && rep.Health == health.StatusOK
	})

	for round := 1; round <= 2; round++ {
		before, trsBefore := len(w.healthChanges()), len(w.transitions())
		p.Pause()
		waitReport(t, m, "critical while frozen", 60*time.Second, func(rep health.Report) bool { return rep.Health == health.StatusCritical })
		// Stay frozen a few more polls: nothing may resolve meanwhile.
		for last, n := m.Report().At, 0; n < 3; {
			if at := m.Report().At; at.After(last) {
				last, n = at, n+1
			}
			time.Sleep(50 * time.Millisecond)
		}
		frozen := w.healthChanges()[before:]
		resolved := []string{}
		for _, tr := range w.transitions()[trsBefore:] {
			if tr.State == health.StateResolved {
				resolved = append(resolved, tr.Problem.Type)
			}
		}
		p.Resume()
		waitReport(t, m, "ok after SIGCONT", 60*time.Second, func(rep health.Report) bool { return rep.Health == health.StatusOK })
		all := w.healthChanges()[before:]
		t.Logf("round %d: health changes %v", round, all)
		if want := []string{"ok->degraded", "degraded->critical"}; !slices.Equal(frozen, want) {
			t.Errorf("round %d: health changes while frozen: got %v, want %v; transitions %v", round, frozen, want, describe(w.transitions()))
		}
		if len(resolved) != 0 || !slices.Equal(all[len(all)-1:], []string{"critical->ok"}) {
			t.Errorf("round %d: resolved while frozen %v (want none); last change %v, want critical->ok", round, resolved, all)
		}
		waitReport(t, m, "stream connected again", settleWait, func(health.Report) bool { return meter.Snapshot().Connected })
	}
}
