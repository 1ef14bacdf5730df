package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// Names the cluster tests use: the events stream and the status bucket
// as the sidecars' defaults name them.
const (
	clusterStream = "MYSQL_HEALTH"
	clusterBucket = "MYSQL_HEALTH_STATUS"
)

// fleetBus is a real three-node nats-server cluster on loopback with the
// operator's part done: the events stream and both buckets with three
// replicas.
type fleetBus struct {
	nodes []*testnats.Server
	urls  string // every node's client URL, as SIDECAR_NATS_URL takes them
	nc    *nats.Conn
	js    jetstream.JetStream
}

// startFleetBus starts the cluster and creates the stream and the buckets
// once JetStream has a meta leader.
func startFleetBus(t *testing.T, ctx context.Context) *fleetBus {
	t.Helper()
	b := &fleetBus{nodes: testnats.StartCluster(t, 3)}
	b.urls = testnats.URLs(b.nodes)
	nc, err := nats.Connect(b.urls, nats.Name("fleet test"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	testnats.CreateStream(t, ctx, b.js, jetstream.StreamConfig{Name: clusterStream, Subjects: []string{"mysql.health.>"},
		Storage: jetstream.FileStorage, Replicas: 3, Duplicates: 2 * time.Minute})
	for _, cfg := range []jetstream.KeyValueConfig{
		{Bucket: clusterBucket, History: 1, TTL: 10 * time.Minute, Replicas: 3, Storage: jetstream.FileStorage},
		{Bucket: clusterBucket + "_PROBLEMS", History: 1, Replicas: 3, Storage: jetstream.FileStorage},
	} {
		if _, err := b.js.CreateKeyValue(ctx, cfg); err != nil {
			t.Fatalf("bucket %s: %v", cfg.Bucket, err)
		}
	}
	return b
}

// fleetPrimaries are two real MariaDB primaries (p2 in GTID domain 2)
// and replicas of p1 that report their host, named after prefix.
type fleetPrimaries struct {
	p1, p2   *testdb.Server
	replicas []*testdb.Server
}

func startFleetPrimaries(t *testing.T, prefix string, replicas int) fleetPrimaries {
	t.Helper()
	f := fleetPrimaries{
		p1: testdb.StartPrimary(t, testdb.Options{Name: prefix + "p1"}),
		p2: testdb.StartPrimary(t, testdb.Options{Name: prefix + "p2", Extra: []string{"--gtid-domain-id=2"}}),
	}
	for i := range replicas {
		f.replicas = append(f.replicas, testdb.StartReplica(t, f.p1,
			testdb.Options{Name: fmt.Sprintf("%sr%d", prefix, i+1), Extra: []string{"--report-host=127.0.0.1"}}))
	}
	return f
}

// expectedReplicas is SIDECAR_EXPECTED_REPLICAS naming servers.
func expectedReplicas(servers ...*testdb.Server) string {
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", s.Port)
	}
	return "SIDECAR_EXPECTED_REPLICAS=" + strings.Join(addrs, ",")
}

// clusterSidecar is a daemon run in-process against the NATS cluster.
type clusterSidecar struct {
	name, base string
	stop       func()
}

// startClusterSidecar runs the daemon as prod/<instance> with short
// periods (status every second, stats every 2 s); env adds to or
// overrides its environment.
func startClusterSidecar(t *testing.T, urls, instance string, env ...string) *clusterSidecar {
	t.Helper()
	httpAddr := freeAddr(t)
	env = append([]string{"SIDECAR_CLUSTER=prod", "SIDECAR_INSTANCE=" + instance, "SIDECAR_HTTP_ADDR=" + httpAddr,
		"SIDECAR_NATS_URL=" + urls, "SIDECAR_NATS_KV_EVERY=1s", "SIDECAR_DATA_DIR=" + t.TempDir(),
		"SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar", "SIDECAR_HEARTBEAT_PERIOD=500ms",
		"SIDECAR_POLL_INTERVAL=500ms", "SIDECAR_PROBE_TIMEOUT=500ms", "SIDECAR_STATS_INTERVAL=2s", "SIDECAR_LOG_LEVEL=error"}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, io.Discard) }()
	var once bool
	s := &clusterSidecar{name: instance, base: "http://" + httpAddr, stop: func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("sidecar %s: run did not return within 60 s of cancel", instance)
		}
	}}
	t.Cleanup(s.stop)
	return s
}

// fleetOnceText runs `sidecar fleet --once` in-process.
func fleetOnceText(t *testing.T, urls, format string) string {
	var out, errb strings.Builder
	if code := mainCode([]string{"fleet", "--once", "--format", format}, []string{"SIDECAR_NATS_URL=" + urls,
		"SIDECAR_NATS_KV_EVERY=1s", "SIDECAR_DATA_DIR=" + t.TempDir()}, &out, &errb); code != exitOK {
		t.Logf("sidecar fleet --once: exit %d: %s", code, errb.String())
	}
	return out.String()
}

// A real three-node nats-server cluster (routes on loopback, the events
// stream and both buckets with three replicas), two real MariaDB
// primaries with their sidecars and a third sidecar: replica r1 is moved
// from p1 (whose inventory expects it) to p2 (misdirected), replica r2
// replicates from both (shared), sidecars a and b share a server_id
// (conflict), sidecar c stops (silent). `sidecar fleet --once`, given the
// three servers' URLs, shows the four findings.
func TestFleet_ClusterFourFindings(t *testing.T) {
	testdb.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bus := startFleetBus(t, ctx)
	urls := bus.urls
	dbs := startFleetPrimaries(t, "fl", 2)
	p1, p2, r1, r2 := dbs.p1, dbs.p2, dbs.replicas[0], dbs.replicas[1]
	file, pos := p2.MasterStatus(t)
	r2.Exec(t, fmt.Sprintf("CHANGE MASTER 'b' TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='repl', "+
		"MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=no, MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d", p2.Port, file, pos))
	r2.Exec(t, "START SLAVE 'b'")

	inv := expectedReplicas(r1, r2)
	a := startClusterSidecar(t, urls, "a", "SIDECAR_MYSQL_ADDR="+p1.Addr, "SIDECAR_SERVER_ID=4000000123", inv)
	b := startClusterSidecar(t, urls, "b", "SIDECAR_MYSQL_ADDR="+p2.Addr, "SIDECAR_SERVER_ID=4000000123")
	c := startClusterSidecar(t, urls, "c", "SIDECAR_MYSQL_ADDR="+p1.Addr, "SIDECAR_SERVER_ID=4000000200", inv)
	waitFor(t, "three primaries in the fleet", 90*time.Second, func() bool {
		return strings.Contains(fleetOnceText(t, urls, "text"), ": 3 primaries")
	})
	c.stop() // silent from now on

	move := func(r *testdb.Server, to *testdb.Server) {
		f, p := to.MasterStatus(t)
		r.Exec(t, "STOP SLAVE ''")
		r.Exec(t, fmt.Sprintf("CHANGE MASTER '' TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USE_GTID=no, MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d", to.Port, f, p))
		r.Exec(t, "START SLAVE ''")
	}
	move(r1, p2)

	types := fleet.FindingTypes()
	var text string
	waitFor(t, "the four findings", 120*time.Second, func() bool {
		text = fleetOnceText(t, urls, "text")
		for _, typ := range types {
			if !strings.Contains(text, typ) {
				return false
			}
		}
		return true
	})
	t.Logf("sidecar fleet --once --format text:\n%s", text)

	_, _ = a, b // running until the end: their statuses stay fresh
}
