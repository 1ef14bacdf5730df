package fleetbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// The sidecars' defaults: a status put and a stream.stats every 10 s.
const (
	statusEvery = fleet.DefaultEvery
	statsEvery  = 10 * time.Second
	// viewEvery is how often the live view reads the bucket.
	viewEvery = time.Second
	// replicasPer is each simulated primary's replicas (and inventory).
	replicasPer = 5
)

// knobs are the benchmark's size: sidecars, the measured window, and
// state changes per second.
type knobs struct {
	sidecars int
	window   time.Duration
	changes  float64
}

func readKnobs(t *testing.T) knobs {
	k := knobs{sidecars: 20, window: 5 * time.Second, changes: 10}
	if v := os.Getenv("BENCH_FLEET_SIDECARS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BENCH_FLEET_SIDECARS=%q: want a positive integer", v)
		}
		k.sidecars = n
	}
	if v := os.Getenv("BENCH_FLEET_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("BENCH_FLEET_DURATION=%q: want a positive duration", v)
		}
		k.window = d
	}
	if v := os.Getenv("BENCH_FLEET_CHANGES"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("BENCH_FLEET_CHANGES=%q: want a positive number", v)
		}
		k.changes = f
	}
	return k
}

// TestFleetScale runs the simulated fleet on a three-node cluster (the
// events stream and the bucket with three replicas), changes one
// sidecar's state after another during the window, and logs the table.
// It asserts only that every change showed in the view.
func TestFleetScale(t *testing.T) {
	k := readKnobs(t)
	nodes := testnats.StartCluster(t, 3)
	urls := testnats.URLs(nodes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js := testnats.JetStream(t, urls)
	testnats.CreateStream(t, ctx, js, jetstream.StreamConfig{Name: events.DefaultStream, Subjects: []string{events.DefaultSubjectPrefix + ".>"},
		Storage: jetstream.FileStorage, Replicas: 3, Duplicates: events.DefaultDuplicateWindow})
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: kv.DefaultBucket, History: 1,
		TTL: 6 * statusEvery, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}

	load := [2]string{loadavg()}
	started := time.Now()
	sims := startSims(t, ctx, urls, k.sidecars)
	view := startView(ctx, js)
	testwait.Until(t, fmt.Sprintf("%d primaries in the view", k.sidecars), 10*time.Minute, func() bool { return view.primaries() == k.sidecars })
	t.Logf("%d simulated sidecars connected and in the view after %v", k.sidecars, time.Since(started).Round(time.Millisecond))

	before := sample(t, ctx, nodes)
	changes := changeStates(ctx, sims, view, k)
	testwait.Until(t, "every change in the view", time.Minute, func() bool { return view.pending() == 0 })
	after := sample(t, ctx, nodes)
	load[1] = loadavg()

	lat := view.latencies()
	if len(lat) != changes {
		t.Errorf("%d changes, %d seen in the view", changes, len(lat))
	}
	reads := view.readTimes()
	t.Logf("fleet benchmark, %d simulated sidecars, %v window, %d state changes (%.0f/s); %d view reads: p50 %v, max %v (a whole read)\n%s\nload average before: %s; after: %s",
		k.sidecars, k.window, changes, k.changes, len(reads), percentile(reads, 50).Round(time.Millisecond),
		percentile(reads, 100).Round(time.Millisecond), table(lat, before, after), load[0], load[1])
}

// sim is one simulated sidecar: its own connection, publisher, status
// writer and stream.stats loop, and a health that the benchmark flips.
type sim struct {
	name     string
	degraded atomic.Bool
	pub      *events.Publisher
}

func startSims(t *testing.T, ctx context.Context, urls string, n int) []*sim {
	t.Helper()
	sims := make([]*sim, n)
	var wg sync.WaitGroup
	dir := t.TempDir()
	for i := range sims {
		s := &sim{name: fmt.Sprintf("db-%04d", i)}
		pub, err := events.New(events.Options{URLs: strings.Split(urls, ","), Stream: events.DefaultStream,
			DataDir: filepath.Join(dir, s.name), Cluster: "bench", Instance: s.name}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Start(ctx); err != nil {
			t.Fatal(err)
		}
		s.pub = pub
		w := &kv.Writer{JS: pub.JetStream(), Bucket: kv.DefaultBucket, Every: statusEvery, Cluster: "bench", Instance: s.name,
			SidecarServerID: uint32(4000000000 + i), Report: func() health.Report { return s.report(i) },
			Stream: func() stream.Snapshot { return s.snapshot() }, Log: zerolog.Nop()}
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Sidecars and the view start independently: their once-a-second
			// checks are out of phase by a random part of a second.
			if stream.SleepContext(ctx, rand.N(time.Second)) == nil {
				_ = w.Run(ctx)
			}
		}()
		go func() { defer wg.Done(); s.publishStats(ctx) }()
		sims[i] = s
	}
	t.Cleanup(func() {
		wg.Wait() // ctx is cancelled first (the test's defer)
		for _, s := range sims {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.pub.Close(cctx)
			cancel()
		}
	})
	return sims
}

// report is the simulated primary's health: five replicas connected, or
// one of them missing with its problem while degraded.
func (s *sim) report(i int) health.Report {
	r := health.Report{At: time.Now(), Health: health.StatusOK,
		Server: health.Server{Flavor: "mariadb", Version: "10.11.6", ServerID: uint32(i + 1)}}
	for j := range replicasPer {
		addr := fmt.Sprintf("%s-r%d.bench.example:3306", s.name, j)
		r.Inventory.Entries = append(r.Inventory.Entries, health.InventoryEntry{Address: addr, SemiSync: j == 0,
			IPs: []string{fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j)}})
		rep := health.ReplicaInfo{Address: addr, ServerID: uint32(100000 + i*10 + j), Status: "connected", Expected: true}
		if j == 0 && s.degraded.Load() {
			rep.Status = "missing"
			r.Health = health.StatusDegraded
			r.Problems = append(r.Problems, health.Problem{Type: health.TypeReplicaMissing, ID: s.name + "-r0",
				Subject: "replica/" + addr, Severity: health.SeverityWarning, Since: time.Now(), Summary: "replica " + addr + " is missing"})
		}
		r.Replicas = append(r.Replicas, rep)
	}
	return r
}

func (s *sim) snapshot() stream.Snapshot {
	lag := 0.2
	return stream.Snapshot{At: time.Now(), Connected: true, LagSeconds: &lag,
		Position: stream.Position{File: "mysql-bin.000042", Pos: 123456789}}
}

// publishStats publishes a stream.stats every statsEvery, starting at a
// random point of the first period as sidecars started at different times.
func (s *sim) publishStats(ctx context.Context) {
	b := events.NewBuilder("bench", s.name)
	wait := rand.N(statsEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = statsEvery
		end := time.Now()
		var c stream.Counters
		c.Bytes, c.Transactions = 1<<20, 1000
		s.pub.Publish(b.Stats(stream.Interval{Start: end.Add(-statsEvery), End: end, Counters: c}, s.snapshot()))
	}
}

// view reads the bucket every viewEvery as the live view does (a
// kv.Follower, fleet.Compute) and
// records, for each change of a primary's health, how long after the
// benchmark made it the view showed it.
type view struct {
	mu        sync.Mutex
	changedAt map[string]time.Time // instance -> when its health was flipped, not yet seen
	want      map[string]string    // instance -> the health the flip leads to
	lat       []time.Duration
	count     int
	reads     []time.Duration // each read of the bucket, the whole reads included
}

func startView(ctx context.Context, js jetstream.JetStream) *view {
	v := &view{changedAt: map[string]time.Time{}, want: map[string]string{}}
	go func() {
		follower := &kv.Follower{JS: js, Bucket: kv.DefaultBucket}
		tick := time.NewTicker(viewEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			start := time.Now()
			entries, err := follower.Entries(ctx)
			if err != nil {
				continue
			}
			v.seen(fleet.Compute(entries, time.Now(), statusEvery), time.Since(start))
		}
	}()
	return v
}

func (v *view) seen(fv fleet.View, took time.Duration) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.count = len(fv.Primaries)
	v.reads = append(v.reads, took)
	for _, p := range fv.Primaries {
		at, ok := v.changedAt[p.Instance]
		if ok && p.Health == v.want[p.Instance] {
			v.lat = append(v.lat, now.Sub(at))
			delete(v.changedAt, p.Instance)
		}
	}
}

// changed records a flip of instance's health to want.
func (v *view) changed(instance, want string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.changedAt[instance], v.want[instance] = time.Now(), want
}

func (v *view) primaries() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.count
}

func (v *view) pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.changedAt)
}

func (v *view) latencies() []time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.lat)
}

// readTimes are the view's read durations, sorted.
func (v *view) readTimes() []time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := slices.Clone(v.reads)
	slices.Sort(r)
	return r
}

// changeStates flips one sidecar's health after another, k.changes per
// second for k.window, never one whose last flip the view has not shown
// yet; it returns how many it made.
func changeStates(ctx context.Context, sims []*sim, v *view, k knobs) int {
	tick := time.NewTicker(time.Duration(float64(time.Second) / k.changes))
	defer tick.Stop()
	end := time.After(k.window)
	n := 0
	for i := 0; ; i = (i + 1) % len(sims) {
		select {
		case <-ctx.Done():
			return n
		case <-end:
			return n
		case <-tick.C:
		}
		s := sims[i]
		v.mu.Lock()
		_, busy := v.changedAt[s.name]
		v.mu.Unlock()
		if busy {
			continue
		}
		want := "degraded"
		if s.degraded.Load() {
			want = "ok"
		}
		v.changed(s.name, want)
		s.degraded.Store(want == "degraded")
		n++
	}
}
