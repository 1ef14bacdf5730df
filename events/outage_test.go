package events_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// outageLong is how long the real nats-server stays dead in
// TestPublisher_Outage with BINLOG_SIDECAR_LONG=1; outageShort otherwise,
// which keeps the package's tests (with -race) well under 90 s.
const (
	outageLong  = 30 * time.Second
	outageShort = 5 * time.Second
)

func outage() time.Duration {
	if os.Getenv("BINLOG_SIDECAR_LONG") == "1" {
		return outageLong
	}
	return outageShort
}

// producePace is the interval between events in the outage tests: 100/s,
// 1,000 times the production stats rate.
const producePace = 10 * time.Millisecond

// (b) A real nats-server is SIGKILLed in the middle of a stream of events
// and restarted on the same port and store after outage() (30 s with
// BINLOG_SIDECAR_LONG=1, else 5 s). Every event
// produced before, during and after is in the stream exactly once (after
// JetStream's dedupe by Nats-Msg-Id), in order on each subject.
func TestPublisher_Outage(t *testing.T) {
	srv := testnats.Start(t)
	p := newPublisher(t, events.Options{URLs: []string{srv.URL()}, Stream: testStream, AckTimeout: 2 * time.Second}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	types := []string{events.TypeStreamStats, events.TypeReplicaMissing, events.TypeDumpThreadFlapping}

	var mu sync.Mutex
	want := map[string]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the producer: never waits for the bus
		defer close(done)
		tick := time.NewTicker(producePace)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			e := seqEvent(b, types[n%len(types)], n)
			mu.Lock()
			want[e.ID] = true
			mu.Unlock()
			p.Publish(e)
		}
	}()
	produced := func() int { mu.Lock(); defer mu.Unlock(); return len(want) }

	waitFor(t, "events flowing", func() bool { return published(p.Stats()) >= 100 })
	srv.Kill()
	killedAt, before := time.Now(), produced()
	waitFor(t, "publisher to see the outage", func() bool { return !p.Stats().Connected })
	time.Sleep(outage() - time.Since(killedAt)) // the scenario's outage, not a wait for a condition
	srv.Start()
	during := produced() - before
	pendingAtRestart := p.Stats().Pending
	restartedAt := time.Now()
	waitFor(t, "reconnect", func() bool { return p.Stats().Connected })
	reconnected := time.Since(restartedAt)
	waitFor(t, "more events after the restart", func() bool { return produced() >= before+during+100 })
	close(stop)
	<-done
	n := produced()
	waitFor(t, "everything published", func() bool { return p.Stats().Pending == 0 })
	drained := time.Since(restartedAt) // includes the last ~1 s of production

	mu.Lock()
	checkDelivered(t, readStream(t, srv.URL()), want)
	mu.Unlock()
	st := p.Stats()
	if st.Dropped != 0 {
		t.Errorf("dropped %d, want 0", st.Dropped)
	}
	if got := published(st); got != uint64(n) { // each spooled event is counted once, resent or not
		t.Errorf("published %d, want %d", got, n)
	}
	t.Logf("outage %s: %d events produced in all, %d during the outage, %d pending at restart; reconnected %s and all delivered %s after restart",
		outage(), n, during, pendingAtRestart, reconnected.Round(time.Millisecond), drained.Round(time.Millisecond))
}

// childEnv carries the spool directory and bus URL to the child process of
// TestPublisher_KilledProcess.
const childEnv = "BINLOG_SIDECAR_EVENTS_CHILD"

// childEvents is how many events the child spools before it is killed.
const childEvents = 300

// TestKilledProcessChild is the child of TestPublisher_KilledProcess: it
// publishes to a bus that is down, prints each event id, prints SPOOLED once
// every event is on disk, then waits to be killed.
func TestKilledProcessChild(t *testing.T) {
	env := os.Getenv(childEnv)
	if env == "" {
		t.Skip("helper process for TestPublisher_KilledProcess")
	}
	dir, url, _ := strings.Cut(env, " ")
	p, err := events.New(events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, Cluster: testCluster, Instance: testInstance}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	b := events.NewBuilder(testCluster, testInstance)
	types := []string{events.TypeStreamStats, events.TypeDumpThreadZombie}
	for n := range childEvents {
		e := seqEvent(b, types[n%2], n)
		fmt.Println("ID", e.ID)
		p.Publish(e)
	}
	waitFor(t, "all spooled", func() bool { return p.Stats().Spooled == childEvents })
	fmt.Println("SPOOLED")
	time.Sleep(waitLimit) // killed long before
}

// (c) A sidecar killed with events in its spool (SIGKILL: no Close, no
// flush) loses none: a new publisher on the same data directory delivers
// them, once each and in order.
func TestPublisher_KilledProcess(t *testing.T) {
	url, addr := deadURL(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcessChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+dir+" "+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	want := map[string]bool{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(waitLimit)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("child exited before spooling")
			}
			if id, ok := strings.CutPrefix(l, "ID "); ok {
				want[id] = true
			}
			if l == "SPOOLED" {
				break wait
			}
		case <-timeout:
			t.Fatal("child did not spool in time")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(want) != childEvents {
		t.Fatalf("child printed %d ids, want %d", len(want), childEvents)
	}

	srv := startBus(t, addr)
	p := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream, DataDir: dir}, testLog(t))
	waitFor(t, "spool delivered", func() bool { return published(p.Stats()) == childEvents })
	checkDelivered(t, readStream(t, srv.ClientURL()), want)
}

// (d) With the bus down, events beyond MaxPending go to the spool: the
// memory queue never holds more than MaxPending, nothing is dropped while
// the disk has room, and everything is pending.
func TestPublisher_MemoryBound(t *testing.T) {
	const maxPending, n = 64, 64 * 50
	url, _ := deadURL(t)
	p := newPublisher(t, events.Options{URLs: []string{url}, Stream: testStream, MaxPending: maxPending}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	maxQueued := 0
	for i := range n {
		p.Publish(seqEvent(b, []string{events.TypeStreamStats, events.TypeReplicaMissing}[i%2], i))
		maxQueued = max(maxQueued, p.Stats().Queued)
		if i%(maxPending/2) == maxPending/2-1 { // the producer is slower than the disk, as in production
			waitFor(t, "memory drained to the spool", func() bool { return p.Stats().Queued == 0 })
		}
	}
	waitFor(t, "memory drained to the spool", func() bool { return p.Stats().Queued == 0 })
	st := p.Stats()
	if maxQueued > maxPending || st.Spooled != n || st.Pending != n || st.Dropped != 0 || st.Connected {
		t.Errorf("got max queued %d, %+v; want queued <= %d, %d spooled and pending, 0 dropped, not connected",
			maxQueued, st, maxPending, n)
	}
	t.Logf("%d events: at most %d in memory, %d spooled in %d bytes", n, maxQueued, st.Spooled, st.SpoolBytes)
}

// (d) When the spool's disk bound is reached too, the oldest stats go
// first: every problem event is delivered later, and the stats that
// survive are the newest.
func TestPublisher_SpoolBound(t *testing.T) {
	const maxBytes, n, problemEvery = 256 << 10, 2000, 10
	url, addr := deadURL(t)
	dir := t.TempDir()
	p, _ := events.New(events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, MaxPending: 64,
		MaxSpoolBytes: maxBytes, Cluster: testCluster, Instance: testInstance}, testLog(t))
	p.Start(context.Background())
	b := events.NewBuilder(testCluster, testInstance)
	for i := range n {
		typ := events.TypeStreamStats
		if i%problemEvery == 0 {
			typ = events.TypeSourceUnreachable
		}
		p.Publish(seqEvent(b, typ, i))
		if i%32 == 31 {
			waitFor(t, "memory drained to the spool", func() bool { return p.Stats().Queued == 0 })
		}
	}
	waitFor(t, "memory drained to the spool", func() bool { return p.Stats().Queued == 0 })
	st := p.Stats()
	if st.Dropped == 0 || st.Pending+int(st.Dropped) != n || st.SpoolBytes > maxBytes {
		t.Fatalf("got %+v; want drops, pending+dropped = %d, spool <= %d bytes", st, n, maxBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.Close(ctx)

	srv := startBus(t, addr)
	p2 := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream, DataDir: dir}, testLog(t))
	waitFor(t, "spool delivered", func() bool { return published(p2.Stats()) == uint64(st.Pending) })
	var problems, stats, firstStat int
	firstStat = -1
	for _, m := range readStream(t, srv.ClientURL()) {
		i := seqOf(t, m.Data)
		if i%problemEvery == 0 {
			problems++
			continue
		}
		if firstStat < 0 {
			firstStat = i
		}
		stats++
	}
	wantStats := 0 // the stats from the first survivor on: the newest ones
	for i := firstStat; i < n; i++ {
		if i%problemEvery != 0 {
			wantStats++
		}
	}
	if problems != n/problemEvery || stats != wantStats || stats+problems+int(st.Dropped) != n {
		t.Errorf("delivered %d problems (want %d) and %d stats (want the newest %d); %d dropped",
			problems, n/problemEvery, stats, wantStats, st.Dropped)
	}
	t.Logf("%d events into a %d-byte spool: %d stats dropped, %d problems and %d stats delivered", n, maxBytes, st.Dropped, problems, stats)
}

// An hour-long outage at the production rate (one stats event per 10 s and
// a problem every 30 events) and at 100 times that: memory stays bounded,
// everything waits in the spool, and all of it is delivered, in order,
// once the bus is back.
//
// The bus is a nats-server process, as in production where an outage of
// that length is of an external NATS (the embedded bus lives and dies
// with the sidecar). The embedded bus fsyncs each message before its ack
// (SyncAlways): with it the 37,200 deliveries took 26 s of fsyncs, in a
// server built with -race inside the test binary, and their duration
// followed the machine's disk and load.
func TestPublisher_HourOutage(t *testing.T) {
	tests := []struct {
		name  string
		scale int
	}{
		{"production rate", 1},
		{"100x production rate", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxPending = events.DefaultMaxPending
			srv := testnats.New(t) // down until the outage ends
			p := newPublisher(t, events.Options{URLs: []string{srv.URL()}, Stream: testStream}, testLog(t))
			b := events.NewBuilder(testCluster, testInstance)
			base := heapInuse()
			n := 372 * tt.scale // 360 stats and 12 problems per hour
			want := map[string]bool{}
			maxQueued := 0
			for i := range n {
				typ := events.TypeStreamStats
				if i%31 == 30 {
					typ = events.TypeReplicaMissing
				}
				e := seqEvent(b, typ, i)
				want[e.ID] = true
				p.Publish(e)
				maxQueued = max(maxQueued, p.Stats().Queued)
				if i%(maxPending/2) == maxPending/2-1 {
					waitFor(t, "memory drained", func() bool { return p.Stats().Queued == 0 })
				}
			}
			waitFor(t, "memory drained", func() bool { return p.Stats().Queued == 0 })
			heap := heapInuse()
			st := p.Stats()
			if maxQueued > maxPending || st.Spooled != n || st.Dropped != 0 {
				t.Errorf("got max queued %d, %+v; want <= %d queued, %d spooled, 0 dropped", maxQueued, st, maxPending, n)
			}
			// 37,200 events are ~45 MiB of JSON: if they were held in memory
			// the heap would show it.
			if growth := int64(heap) - int64(base); growth > 16<<20 {
				t.Errorf("heap in use grew by %d MiB during the outage, want < 16 MiB", growth>>20)
			}

			start := time.Now()
			srv.Start()
			waitFor(t, "reconnect", func() bool { return p.Stats().Connected })
			reconnect := time.Now()
			waitFor(t, "spool delivered", func() bool { return p.Stats().Pending == 0 })
			delivered := time.Since(reconnect)
			checkDelivered(t, readStream(t, srv.URL()), want)
			t.Logf("%d events during the outage: heap in use %.1f MiB before, %.1f MiB at the end of the outage; spool %.1f MiB; reconnected %s after the bus came back, delivered in %s more",
				n, float64(base)/(1<<20), float64(heap)/(1<<20), float64(st.SpoolBytes)/(1<<20),
				reconnect.Sub(start).Round(time.Millisecond), delivered.Round(time.Millisecond))
		})
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
