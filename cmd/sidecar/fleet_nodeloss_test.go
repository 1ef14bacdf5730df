package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// One node of the three-node cluster is SIGKILLed while two sidecars (on
// real MariaDB primaries) and a simulated one publish: the node that
// holds sidecar a's connection and the view's, and leads the events
// stream and the status bucket. Right after the kill a replica of a's
// primary stops and starts again. Then:
//   - the live view (`sidecar fleet`) shows the stop and the start;
//   - both sidecars reconnect on their own and keep their status fresh;
//   - no event is lost: every event id the simulated sidecar produced is
//     in the stream, every event a sidecar counted as acknowledged is
//     there, and after dedupe on the event id each is there once (the
//     copies JetStream stored twice are counted);
//   - the replica's problem fired and resolved once each (by problem id).
//
// The counts and the time the view took to show the change are logged.
func TestFleet_ClusterNodeLoss(t *testing.T) {
	testdb.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bus := startFleetBus(t, ctx)
	dbs := startFleetPrimaries(t, "nl", 1)
	r1 := dbs.replicas[0]
	fast := "SIDECAR_STATS_INTERVAL=1s"
	a := startClusterSidecar(t, bus.urls, "a", "SIDECAR_MYSQL_ADDR="+dbs.p1.Addr, expectedReplicas(r1), fast)
	b := startClusterSidecar(t, bus.urls, "b", "SIDECAR_MYSQL_ADDR="+dbs.p2.Addr, fast)
	src := startProblemSource(t, ctx, bus.urls)

	target := nodeOf(t, ctx, bus.nodes, "binlog-sidecar/prod/a")
	for _, stream := range []string{clusterStream, "KV_" + clusterBucket} {
		leader, err := testnats.LeadStream(ctx, bus.nc, bus.js, stream, target.Name(), 10)
		if err != nil {
			t.Fatalf("move the leader of %s to %s: %v", stream, target.Name(), err)
		}
		t.Logf("%s: leader %s", stream, leader)
	}
	view := startLiveViewOn(t, ctx, bus, target)
	waitFor(t, "both primaries in the live view, r1 connected", 90*time.Second, func() bool {
		return strings.Contains(view.line("prod/a"), "1 connected") && view.line("prod/b") != ""
	})
	waitFor(t, "the simulated sidecar's events in the stream", 60*time.Second, func() bool { return src.acked() > 50 })

	killed := time.Now()
	target.Kill()
	elected := leadersBack(ctx, bus.js, clusterStream, "KV_"+clusterBucket)
	// The change: r1 stops replicating. On an idle primary MariaDB's dump
	// thread notices its replica gone only when a write to the socket
	// fails, the second heartbeat after the close (2 x slave_net_timeout/2,
	// 60 s by default): the writes make it notice at once.
	r1.Exec(t, "STOP SLAVE")
	dbs.p1.Exec(t, "CREATE TABLE sbtest.nodeloss (id INT PRIMARY KEY)")
	dbs.p1.Exec(t, "INSERT INTO sbtest.nodeloss VALUES (1)")
	waitFor(t, "r1 missing in the live view after the kill", 2*time.Minute, func() bool {
		return strings.Contains(view.line("prod/a"), "1 missing")
	})
	recovered := time.Since(killed)
	r1.Exec(t, "START SLAVE")
	waitFor(t, "r1 connected again in the live view", 2*time.Minute, func() bool {
		l := view.line("prod/a")
		return strings.Contains(l, "1 connected") && !strings.Contains(l, "missing")
	})
	t.Logf("killed %s; new leaders after %v; the live view showed r1 missing %v after the kill, connected again %v after; view errors meanwhile: %q",
		target.Name(), <-elected, recovered.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), view.errs.String())

	waitReconnected(t, ctx, bus, target, killed, "binlog-sidecar/prod/a", "binlog-sidecar/prod/b", "binlog-sidecar fleet")
	produced, err := src.finish(ctx)
	if err != nil {
		t.Fatalf("simulated sidecar: %v", err)
	}
	if code := view.stop(); code != exitOK {
		t.Errorf("live view: exit %d, want 0", code)
	}
	// Each sidecar's publisher delivers what piled up in its spool once
	// its ack timeout and backoff let it try again: the read below must
	// come after, so wait until neither has anything pending.
	acked := map[string]int{}
	waitFor(t, "both sidecars' events delivered", 2*time.Minute, func() bool {
		for _, s := range []*clusterSidecar{a, b} {
			n, pending := busFigures(t, s.base)
			if pending > 0 {
				return false
			}
			acked[s.name] = n
		}
		return true
	})
	delivered := time.Since(killed)
	stored := readStream(t, ctx, bus.js, clusterStream)

	sim := countDelivery(stored, "binlog-sidecar/prod/loadgen")
	if sim.unique != len(produced) || sim.missing(produced) != 0 {
		t.Errorf("simulated sidecar: produced %d, delivered %d, %d produced ids missing", len(produced), sim.unique, sim.missing(produced))
	}
	t.Logf("simulated sidecar: produced %d, delivered %d after dedupe (%d stored, %d duplicates dropped)",
		len(produced), sim.unique, sim.stored, sim.stored-sim.unique)
	for _, s := range []*clusterSidecar{a, b} {
		c := countDelivery(stored, "binlog-sidecar/prod/"+s.name)
		if c.unique < acked[s.name] {
			t.Errorf("sidecar %s: %d events acknowledged, only %d in the stream", s.name, acked[s.name], c.unique)
		}
		t.Logf("sidecar %s: %d acknowledged before the read (nothing pending %v after the kill), delivered %d after dedupe (%d stored, %d duplicates dropped)",
			s.name, acked[s.name], delivered.Round(time.Millisecond), c.unique, c.stored, c.stored-c.unique)
	}
	missing := countDelivery(stored, "binlog-sidecar/prod/a").problems[health.TypeReplicaMissing]
	if len(missing) != 1 || strings.Join(missing[0].states, ",") != "firing,resolved" {
		t.Errorf("sidecar a's replica.missing transitions after dedupe: %+v, want one problem id, firing then resolved", missing)
	}
}

// leadersBack measures, from now, how long until each stream has a
// leader again, as the test's own connection sees it (polled every 100
// ms, each request bounded by a second); the channel gets the times once
// all have one, or when ctx ends.
func leadersBack(ctx context.Context, js jetstream.JetStream, streams ...string) <-chan map[string]time.Duration {
	start := time.Now()
	ch := make(chan map[string]time.Duration, 1)
	go func() {
		back := map[string]time.Duration{}
		defer func() { ch <- back }()
		for len(back) < len(streams) && ctx.Err() == nil {
			for _, s := range streams {
				if _, ok := back[s]; ok {
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				if l, err := testnats.Leader(rctx, js, s); err == nil && l != "" {
					back[s] = time.Since(start).Round(time.Millisecond)
				}
				cancel()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}

// nodeOf is the cluster node that holds the client connection named name.
func nodeOf(t *testing.T, ctx context.Context, nodes []*testnats.Server, name string) *testnats.Server {
	t.Helper()
	var node *testnats.Server
	waitFor(t, "the connection "+name, time.Minute, func() bool {
		for _, n := range nodes {
			if names, err := n.Clients(ctx); err == nil && slices.Contains(names, name) {
				node = n
				return true
			}
		}
		return false
	})
	return node
}

// liveView is `sidecar fleet` (the live view) run in-process.
type liveView struct {
	out, errs syncBuffer
	stop      func() int
}

func startLiveView(t *testing.T, urls string) *liveView {
	ctx, cancel := context.WithCancel(context.Background())
	v := &liveView{}
	done := make(chan int, 1)
	env := []string{"SIDECAR_NATS_URL=" + urls, "SIDECAR_NATS_KV_EVERY=1s", "SIDECAR_DATA_DIR=" + t.TempDir()}
	go func() { done <- fleetCommand(ctx, nil, env, &v.out, &v.errs) }()
	var code int
	var stopped bool
	v.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { v.stop() })
	return v
}

// startLiveViewOn starts the live view with every node's URL, as an
// operator would, until its connection lands on node (the client picks a
// URL at random): the kill of node must also make the view reconnect.
func startLiveViewOn(t *testing.T, ctx context.Context, bus *fleetBus, node *testnats.Server) *liveView {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v := startLiveView(t, bus.urls)
		on := nodeOf(t, ctx, bus.nodes, "binlog-sidecar fleet")
		if on == node || attempt == 30 {
			t.Logf("live view connected to %s (attempt %d)", on.Name(), attempt)
			return v
		}
		v.stop()
		// The next try must not find this one's connection, still listed.
		waitFor(t, "the stopped view's connection gone", time.Minute, func() bool {
			for _, n := range bus.nodes {
				if names, err := n.Clients(ctx); err != nil || slices.Contains(names, "binlog-sidecar fleet") {
					return false
				}
			}
			return true
		})
	}
}

// line is the latest view's line of primary (cluster/instance), or "".
// Into a buffer the live view appends each view that changed, each
// starting with its header line.
func (v *liveView) line(primary string) string {
	out := v.out.String()
	for _, l := range strings.Split(out[max(strings.LastIndex(out, "fleet at "), 0):], "\n") {
		if strings.HasPrefix(l, primary+" ") {
			return l
		}
	}
	return ""
}

// waitReconnected waits until every named client is connected to a node
// other than killed, and both sidecars' statuses were put after the kill.
func waitReconnected(t *testing.T, ctx context.Context, bus *fleetBus, killed *testnats.Server, at time.Time, names ...string) {
	t.Helper()
	waitFor(t, "the clients reconnected to the other nodes", time.Minute, func() bool {
		var all []string
		for _, n := range bus.nodes {
			if n != killed {
				got, _ := n.Clients(ctx)
				all = append(all, got...)
			}
		}
		for _, name := range names {
			if !slices.Contains(all, name) {
				return false
			}
		}
		return true
	})
	waitFor(t, "both sidecars' statuses put after the kill", time.Minute, func() bool {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		entries, _, err := kv.Read(rctx, bus.js, clusterBucket)
		fresh := 0
		for _, e := range entries {
			if err == nil && e.Updated.After(at) {
				fresh++
			}
		}
		return fresh == 2
	})
}

// problemSource is a simulated sidecar (prod/loadgen) that publishes
// through the sidecars' own publisher (memory queue, spool, JetStream with
// the event id as Nats-Msg-Id): a replica.missing problem that fires and
// resolves in turn, one event every 20 ms, each id remembered.
type problemSource struct {
	pub        *events.Publisher
	mu         sync.Mutex
	ids        []string
	stop, done chan struct{}
}

func startProblemSource(t *testing.T, ctx context.Context, urls string) *problemSource {
	t.Helper()
	pub, err := events.New(events.Options{URLs: strings.Split(urls, ","), Stream: clusterStream, DataDir: t.TempDir(),
		Cluster: "prod", Instance: "loadgen"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &problemSource{pub: pub, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { _, _ = s.finish(context.Background()) })
	b := events.NewBuilder("prod", "loadgen")
	since := time.Now()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			state := health.StateFiring
			if i%2 == 1 {
				state = health.StateResolved
			}
			e := b.FromTransition(health.Transition{State: state, Problem: health.Problem{Type: health.TypeReplicaMissing,
				ID: "loadgen-missing", Subject: "replica/loadgen:3306", Severity: health.SeverityCritical, Since: since,
				Summary: fmt.Sprintf("transition %d", i)}})
			s.mu.Lock()
			s.ids = append(s.ids, e.ID)
			s.mu.Unlock()
			pub.Publish(e)
		}
	}()
	return s
}

// acked counts the events the bus acknowledged so far.
func (s *problemSource) acked() uint64 { return s.pub.Stats().Published[health.TypeReplicaMissing] }

// finish stops producing and closes the publisher, which delivers
// everything produced before ctx ends; it returns every id produced.
func (s *problemSource) finish(ctx context.Context) ([]string, error) {
	select {
	case <-s.stop:
		return nil, nil
	default:
	}
	close(s.stop)
	<-s.done
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.pub.Close(cctx); err != nil {
		return nil, err
	}
	if d := s.pub.Stats().Dropped; d > 0 {
		return nil, fmt.Errorf("%d events dropped", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids, nil
}

// busFigures are the sidecar's events the bus acknowledged and those
// pending, from its /metrics.
func busFigures(t *testing.T, base string) (acked, pending int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(scrape(t, base)))
	for sc.Scan() {
		l := sc.Text()
		var n *int
		switch {
		case strings.HasPrefix(l, "binlog_sidecar_events_published_total{"):
			n = &acked
		case strings.HasPrefix(l, "binlog_sidecar_events_pending "):
			n = &pending
		default:
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		*n += int(v)
	}
	return acked, pending
}

// storedEvent is one message of the events stream.
type storedEvent struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Type   string `json:"type"`
	Data   struct {
		ProblemID string `json:"problem_id"`
		State     string `json:"state"`
	} `json:"data"`
}

// readStream reads every message of stream by sequence number (no
// consumer: the test reads what the stream holds, not what a consumer is
// given).
func readStream(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) []storedEvent {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs := testnats.StoredMessages(t, ctx, s)
	out := make([]storedEvent, 0, len(msgs))
	for _, m := range msgs {
		var e storedEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("%s message %d: %v", name, m.Sequence, err)
		}
		out = append(out, e)
	}
	return out
}

// delivery is what the stream holds of one source.
type delivery struct {
	stored, unique int
	ids            map[string]bool
	// problems are the transitions of each problem type after dedupe on
	// the event id, by problem id in the order first seen.
	problems map[string][]problemStates
}

type problemStates struct {
	id     string
	states []string
}

func countDelivery(stored []storedEvent, source string) delivery {
	d := delivery{ids: map[string]bool{}, problems: map[string][]problemStates{}}
	for _, e := range stored {
		if e.Source != source {
			continue
		}
		d.stored++
		if d.ids[e.ID] {
			continue
		}
		d.ids[e.ID] = true
		if e.Data.ProblemID == "" {
			continue
		}
		typ := strings.TrimPrefix(e.Type, events.TypePrefix)
		i := slices.IndexFunc(d.problems[typ], func(p problemStates) bool { return p.id == e.Data.ProblemID })
		if i < 0 {
			d.problems[typ] = append(d.problems[typ], problemStates{id: e.Data.ProblemID})
			i = len(d.problems[typ]) - 1
		}
		d.problems[typ][i].states = append(d.problems[typ][i].states, e.Data.State)
	}
	d.unique = len(d.ids)
	return d
}

// missing counts the produced ids not delivered.
func (d delivery) missing(produced []string) int {
	n := 0
	for _, id := range produced {
		if !d.ids[id] {
			n++
		}
	}
	return n
}
