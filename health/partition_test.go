package health_test

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/netns"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// The partition test uses the harness of integration_test.go (startMonitor,
// watcher, waitReport, within, poll, probeTimeout, grace, slack).
const (
	// extraSlack widens within's slack for this test: a namespace, a veth
	// and a partitioned link under -race on a shared 2-core machine.
	extraSlack = 2 * time.Second
	// netTimeout is the replica's slave_net_timeout (seconds): it gives up
	// on a silent connection and reconnects after this long.
	netTimeout = 5
	// hold is how long the partition lasts at least: past netTimeout, so
	// the replica has dropped its old connection and is retrying when the
	// link comes back, as after a real outage.
	hold = 9 * time.Second
)

// TestMonitor_networkPartition cuts the link between a primary and its
// replica (every packet dropped, no socket closed: replication-signals
// §2.2 "network partition"), expects dump_thread.zombie because the
// primary's dump thread lingers while the replica answers no handshake,
// then heals the link and expects the problem to resolve and the replica
// to reconnect and catch up.
//
// It is a fault test against a real network partition: the primary runs on
// the host, a real replica inside a network namespace (internal/netns), and
// the real health.Monitor with the real probe watches the primary while the
// link between them drops every packet and then comes back. It needs root
// (ip netns, tc) and mariadbd: without them it skips with the reason, and
// fails when the environment variable CI is set.
func TestMonitor_networkPartition(t *testing.T) {
	testdb.Require(t)
	ns := netns.New(t, "replica")
	// The primary listens on the veth's host address: reachable from the
	// namespace and, locally, from the monitor; never on the machine's
	// other interfaces.
	p := testdb.StartPrimary(t, testdb.Options{BindAddress: ns.HostIP()})
	r := testdb.StartReplica(t, p, testdb.Options{NetNS: ns.Name, BindAddress: ns.NSIP(),
		Extra:         []string{fmt.Sprintf("--slave-net-timeout=%d", netTimeout)},
		SourceOptions: []string{"MASTER_HEARTBEAT_PERIOD=1"}})
	// Cleanups run last-registered first: a failed test heals the link
	// before the servers stop.
	t.Cleanup(func() { ns.Heal(t) })
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))")

	want := inventory.Entry{Host: ns.NSIP(), Port: r.Port}
	m, w := startMonitor(t, p, "sidecar", health.Options{Inventory: inventory.Static([]inventory.Entry{want}, true).Get})
	waitReport(t, m, "replica connected", settleWait, func(rep health.Report) bool {
		return replicaStatus(rep, want.Addr()) == health.ReplicaConnected && len(rep.Problems) == 0
	})
	before := dumpThreadsFrom(t, p, ns.NSIP())
	if len(before) != 1 {
		t.Fatalf("dump threads of the replica before the partition: got %v, want one", before)
	}
	oldID := before[0].id
	load := startLoad(t, p)

	ns.Partition(t)
	cut := time.Now()
	t.Logf("partitioned %s (%s) from the host by %s; the primary's dump thread %s serves it", ns.NSIP(), want.Addr(), ns.Mechanism(), oldID)
	bound := within(probeTimeout+grace) + extraSlack
	tr := w.wait(t, health.StateFiring, health.TypeDumpThreadZombie, "thread/"+oldID, bound)
	detected := time.Since(cut)
	t.Logf("dump_thread.zombie fired %v after the partition (bound %v + %v slack): %s",
		detected.Round(time.Millisecond), bound-slack-extraSlack, slack+extraSlack, tr.Problem.Summary)
	if got := replicaStatus(m.Report(), want.Addr()); got != health.ReplicaZombie {
		t.Errorf("replica status while partitioned: got %q, want %q", got, health.ReplicaZombie)
	}
	if tr.Problem.Severity != health.SeverityCritical || tr.Problem.Evidence["reason"] != "no_greeting" {
		t.Errorf("problem: severity %s, reason %v; want critical, no_greeting", tr.Problem.Severity, tr.Problem.Evidence["reason"])
	}
	if pr, ok := tr.Problem.Evidence["probe"].(health.ProbeResult); ok {
		t.Logf("probe of %s during the partition: ok=%v after %v: %s", pr.Addr, pr.OK, pr.Took.Round(time.Millisecond), pr.Err)
	}

	// Hold the partition and watch the primary's side: the dump thread
	// stays (net_write_timeout needs a full send buffer, tcp_retries2
	// takes ~15 min), so replica.missing is not expected.
	for next := time.Now(); time.Since(cut) < hold; time.Sleep(100 * time.Millisecond) {
		if time.Now().Before(next) {
			continue
		}
		next = next.Add(2 * time.Second)
		t.Logf("+%v partitioned: dump threads %v; primary's socket to the replica %s; %d commits so far",
			time.Since(cut).Round(100*time.Millisecond), dumpThreadsFrom(t, p, ns.NSIP()), sendQ(p.Port, ns.NSIP()), load.commits.Load())
	}
	missing := w.first(health.StateFiring, health.TypeReplicaMissing, "replica/"+want.Addr())
	if missing != nil {
		t.Logf("replica.missing fired %v after the partition", missing.At.Sub(cut).Round(time.Millisecond))
	} else {
		t.Logf("replica.missing did not fire in %v of partition: the primary still had dump thread(s) %v",
			time.Since(cut).Round(time.Millisecond), dumpThreadsFrom(t, p, ns.NSIP()))
	}

	ns.Heal(t)
	healed := time.Now()
	w.wait(t, health.StateResolved, health.TypeDumpThreadZombie, tr.Problem.Subject, within(probeTimeout)+extraSlack)
	t.Logf("dump_thread.zombie %s resolved %v after healing (bound %v + %v slack)", tr.Problem.Subject,
		time.Since(healed).Round(time.Millisecond), within(probeTimeout)-slack, slack+extraSlack)

	// The replica reconnects by itself (its IO thread retries every second);
	// its new dump request makes the primary end the old thread.
	var after []thread
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after = dumpThreadsFrom(t, p, ns.NSIP())
		if len(after) == 1 && after[0].id != oldID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not reconnected 30 s after healing: dump threads %v (old %s)", after, oldID)
		}
	}
	t.Logf("replica reconnected %v after healing: dump thread %s replaced %s", time.Since(healed).Round(time.Millisecond), after[0].id, oldID)
	rep := waitReport(t, m, "replica connected, no problem", 30*time.Second, func(rep health.Report) bool {
		return replicaStatus(rep, want.Addr()) == health.ReplicaConnected && len(rep.Problems) == 0
	})
	t.Logf("report clean %v after healing: health %s", time.Since(healed).Round(time.Millisecond), rep.Health)

	load.stop()
	n := p.Query(t, "SELECT COUNT(*) AS n FROM sbtest.t")[0]["n"]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := r.Query(t, "SELECT COUNT(*) AS n FROM sbtest.t")[0]["n"]
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			st := r.Query(t, "SHOW SLAVE STATUS")
			t.Fatalf("replica has %s rows 30 s after healing, primary %s; slave status %v", got, n, st)
		}
	}
	t.Logf("replica caught up (%s rows, written every 50 ms throughout) %v after healing", n, time.Since(healed).Round(time.Millisecond))
	t.Logf("transitions (partitioned at %s): %v", cut.Format("15:04:05.000"), describe(w.transitions()))
	for _, x := range w.transitions() {
		if x.Problem.Type != health.TypeDumpThreadZombie && x.Problem.Type != health.TypeReplicaMissing {
			t.Errorf("unexpected %s %s %s", x.State, x.Problem.Type, x.Problem.Subject)
		}
	}
}

// thread is a binlog dump thread as the primary's processlist shows it.
type thread struct{ id, state, time string }

func (th thread) String() string { return fmt.Sprintf("%s(%q, %ss)", th.id, th.state, th.time) }

// dumpThreadsFrom returns the primary's binlog dump threads from ip, by id.
// It reads SHOW PROCESSLIST, as the probe does, filtered and sorted here:
// reads of information_schema.PROCESSLIST (an Aria temporary table per
// query) crashed mariadbd 10.11.19 (SIGSEGV in ha_maria::drop_table,
// freeing that table) as the old dump thread ended.
func dumpThreadsFrom(t *testing.T, p *testdb.Server, ip string) []thread {
	t.Helper()
	var out []thread
	for _, r := range p.Query(t, "SHOW PROCESSLIST") {
		if r["Command"] == "Binlog Dump" && strings.HasPrefix(r["Host"], ip+":") {
			out = append(out, thread{id: r["Id"], state: r["State"], time: r["Time"]})
		}
	}
	slices.SortFunc(out, func(a, b thread) int { // decimal ids: the shorter is the smaller
		return cmp.Or(cmp.Compare(len(a.id), len(b.id)), strings.Compare(a.id, b.id))
	})
	return out
}

// sendQ describes the primary's established sockets to ip (ss: Send-Q
// is what the peer has not acknowledged), for the log only.
func sendQ(port int, ip string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ss", "-Htn", "state", "established", fmt.Sprintf("( sport = :%d )", port), "dst", ip).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var socks []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			socks = append(socks, fmt.Sprintf("%s Send-Q %s", f[3], f[1]))
		}
	}
	if len(socks) == 0 {
		return "none established"
	}
	return "established " + strings.Join(socks, ", ")
}

// load inserts a row every 50 ms on its own connection, so the dump
// thread always has events to send.
type load struct {
	commits atomic.Int64
	stop    func()
}

func startLoad(t *testing.T, p *testdb.Server) *load {
	t.Helper()
	c := p.Conn(t)
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := c.Execute("INSERT INTO sbtest.t (v) VALUES (REPEAT('x', 100))"); err != nil {
				t.Errorf("load: %v", err)
				return
			}
			l.commits.Add(1)
		}
	})
	l.stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(l.stop) // after Conn's cleanup was registered, so it runs first
	return l
}
