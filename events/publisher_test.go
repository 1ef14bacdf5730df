package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

const (
	testCluster  = "prod"
	testInstance = "db-1"
	testStream   = "MYSQL_HEALTH"
	// waitLimit bounds every wait; reached only when a test fails, never
	// by a loaded machine being slow (the longest wait, the 100x outage's
	// delivery of 37,200 spooled events, takes seconds).
	waitLimit = 3 * time.Minute
)

// testLog collects a test's log lines and prints them if it fails. Lines
// logged after the test ended (by NATS callbacks) go nowhere.
func testLog(t *testing.T) zerolog.Logger {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return zerolog.New(lockedWriter{&mu, &buf}).With().Timestamp().Logger()
}

// testLogB discards: benchmarks print no logs.
func testLogB(testing.TB) zerolog.Logger { return zerolog.Nop() }

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// testPassword is the sidecar user's password on the embedded servers
// the tests start; every test publisher authenticates with it, as the
// daemon's does (a server without authentication ignores it).
const testPassword = "test-sidecar-password"

func startBus(t testing.TB, addr string) *bus.Embedded {
	t.Helper()
	e, err := bus.StartEmbedded(context.Background(), bus.Options{Addr: addr, StoreDir: t.TempDir(), Password: testPassword}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	return e
}

func newPublisher(t testing.TB, o events.Options, log zerolog.Logger) *events.Publisher {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	o.Cluster, o.Instance = testCluster, testInstance
	if o.User == "" {
		o.User, o.Password = bus.SidecarUser, testPassword
	}
	p, err := events.New(o, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Short: with the bus down Close waits all of it, and tests that
		// care about Close call it themselves.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

// waitFor waits up to waitLimit for cond (internal/testwait).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, waitLimit, cond)
}

func published(s events.Stats) (n uint64) {
	for _, v := range s.Published {
		n += v
	}
	return n
}

// deadURL is a loopback URL where nothing listens (until a test starts a
// server there).
func deadURL(t testing.TB) (string, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "nats://" + addr, addr
}

type stored struct {
	Subject, ID string
	Data        []byte
}

// readStream returns every message in the stream, in stream order, through
// an ordered consumer.
func readStream(t testing.TB, url string) []stored {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := js.Stream(ctx, testStream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for m := range batch.Messages() {
			out = append(out, stored{m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data()})
		}
		if err := batch.Error(); err != nil && ctx.Err() != nil {
			t.Fatalf("fetch: %v", err)
		}
	}
	return out
}

// seqEvent is a problem event of type typ carrying n in its evidence, so a
// test can check order and completeness.
func seqEvent(b *events.Builder, typ string, n int) events.Event {
	if typ == events.TypeStreamStats {
		e := b.Lifecycle(events.TypeSidecarStarted, "x", nil) // reuse the info shape
		e.Type = events.TypePrefix + events.TypeStreamStats
		e.Data = events.InfoData{Common: e.Data.Base(), Details: map[string]any{"n": n}}
		return e
	}
	return b.FromTransition(health.Transition{State: health.StateFiring, Problem: health.Problem{
		Type: typ, ID: fmt.Sprint(typ, "/", n), Subject: "replica/db-2:3306", Severity: health.SeverityWarning,
		Summary: "Numbered test event.", Evidence: map[string]any{"n": n},
	}})
}

// seqOf reads n back from an event produced by seqEvent.
func seqOf(t testing.TB, data []byte) int {
	var v struct {
		Data struct {
			Evidence map[string]float64 `json:"evidence"`
			Details  map[string]float64 `json:"details"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n, ok := v.Data.Evidence["n"]; ok {
		return int(n)
	}
	return int(v.Data.Details["n"])
}

// checkDelivered asserts the stream holds every id in want exactly once,
// and that on each subject the n of seqEvent only increases.
func checkDelivered(t testing.TB, got []stored, want map[string]bool) {
	t.Helper()
	count := map[string]int{}
	last := map[string]int{}
	for _, m := range got {
		count[m.ID]++
		n := seqOf(t, m.Data)
		if prev, ok := last[m.Subject]; ok && n <= prev {
			t.Errorf("subject %s: n %d after %d, out of order", m.Subject, n, prev)
		}
		last[m.Subject] = n
	}
	var missing, dup int
	for id := range want {
		switch count[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(count) != len(want) {
		t.Errorf("stream: %d messages, %d distinct ids; of %d produced, %d missing, %d more than once",
			len(got), len(count), len(want), missing, dup)
	}
}

// (a) Every event type goes out on its subject, with its id as
// Nats-Msg-Id, byte for byte as encoded.
func TestPublisher_RoundTrip(t *testing.T) {
	srv := startBus(t, "127.0.0.1:0")
	p := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream}, testLog(t))
	all := oneOfEach(events.NewBuilder(testCluster, testInstance))
	for _, e := range all {
		p.Publish(e)
	}
	waitFor(t, "all published", func() bool { return published(p.Stats()) == uint64(len(all)) })
	st := p.Stats()
	if !st.Connected || !st.JetStream || st.Pending != 0 || st.Dropped != 0 {
		t.Errorf("stats: got %+v, want connected, jetstream, nothing pending or dropped", st)
	}
	got := readStream(t, srv.ClientURL())
	if len(got) != len(all) {
		t.Fatalf("stream: got %d messages, want %d", len(got), len(all))
	}
	for i, e := range all {
		want, _ := events.Encode(e)
		subj := events.Subject(events.DefaultSubjectPrefix, testCluster, testInstance, e.ShortType())
		if got[i].Subject != subj || got[i].ID != e.ID || !bytes.Equal(got[i].Data, want) {
			t.Errorf("message %d: got %s %s %s\nwant %s %s %s", i, got[i].Subject, got[i].ID, got[i].Data, subj, e.ID, want)
		}
		if st.Published[e.ShortType()] == 0 {
			t.Errorf("published[%s] = 0", e.ShortType())
		}
	}
}

// (a) The same event published twice is stored once: JetStream drops the
// second by its Nats-Msg-Id.
func TestPublisher_Dedupe(t *testing.T) {
	srv := startBus(t, "127.0.0.1:0")
	p := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	e := seqEvent(b, events.TypeReplicaMissing, 1)
	p.Publish(e)
	p.Publish(e)
	p.Publish(seqEvent(b, events.TypeReplicaMissing, 2))
	p.Publish(e)
	waitFor(t, "4 acks", func() bool { return published(p.Stats()) == 4 })
	got := readStream(t, srv.ClientURL())
	if len(got) != 2 || got[0].ID != e.ID {
		t.Errorf("stream: got %d messages (first %s), want 2 (first %s)", len(got), got[0].ID, e.ID)
	}
}

// (a) Interleaved events on several subjects keep their order on each.
func TestPublisher_OrderPerSubject(t *testing.T) {
	srv := startBus(t, "127.0.0.1:0")
	p := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream, InFlight: 16}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	types := []string{events.TypeReplicaMissing, events.TypeStreamStats, events.TypeDumpThreadZombie}
	want := map[string]bool{}
	for n := range 600 {
		e := seqEvent(b, types[n%len(types)], n)
		want[e.ID] = true
		p.Publish(e)
	}
	waitFor(t, "all published", func() bool { return published(p.Stats()) == uint64(len(want)) })
	checkDelivered(t, readStream(t, srv.ClientURL()), want)
}

// With no stream configured, events go out on core NATS, and a flush
// counts as delivery.
func TestPublisher_CoreNATS(t *testing.T) {
	tests := []struct {
		name   string
		js     bool
		stream string
	}{
		{"no stream configured", true, ""},
		{"server without jetstream", false, testStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := runServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: tt.js, StoreDir: t.TempDir()})
			nc, _ := nats.Connect(srv.ClientURL())
			defer nc.Close()
			sub, _ := nc.SubscribeSync(events.DefaultSubjectPrefix + ".>")
			nc.Flush()

			p := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: tt.stream}, testLog(t))
			b := events.NewBuilder(testCluster, testInstance)
			for n := range 20 {
				p.Publish(seqEvent(b, events.TypeReplicaUnknown, n))
			}
			for n := range 20 {
				m, err := sub.NextMsg(waitLimit)
				if err != nil {
					t.Fatalf("message %d: %v", n, err)
				}
				if got := seqOf(t, m.Data); got != n {
					t.Fatalf("message %d: got n=%d", n, got)
				}
			}
			waitFor(t, "all published", func() bool { return published(p.Stats()) == 20 })
			if p.Stats().JetStream {
				t.Error("stats: JetStream true, want false")
			}
		})
	}
}

// Close delivers what is queued before it returns, and after Close nothing
// is accepted.
func TestPublisher_CloseFlushes(t *testing.T) {
	srv := startBus(t, "127.0.0.1:0")
	p, err := events.New(events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream, DataDir: t.TempDir(),
		User: bus.SidecarUser, Password: testPassword, Cluster: testCluster, Instance: testInstance}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	b := events.NewBuilder(testCluster, testInstance)
	want := map[string]bool{}
	for n := range 200 { // before Start too: queued in memory
		if n == 100 {
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		e := seqEvent(b, events.TypeReplicaMissing, n)
		want[e.ID] = true
		p.Publish(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkDelivered(t, readStream(t, srv.ClientURL()), want)
	p.Publish(seqEvent(b, events.TypeReplicaMissing, 999))
	if st := p.Stats(); st.Dropped != 1 {
		t.Errorf("publish after close: dropped %d, want 1", st.Dropped)
	}
}

// With the bus down, Close returns within its deadline, says events were
// left, and they go out from the spool after the next start.
func TestPublisher_CloseBusDown(t *testing.T) {
	url, addr := deadURL(t)
	dir := t.TempDir()
	p, _ := events.New(events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, Cluster: testCluster, Instance: testInstance}, testLog(t))
	p.Start(context.Background())
	b := events.NewBuilder(testCluster, testInstance)
	want := map[string]bool{}
	for n := range 50 {
		e := seqEvent(b, events.TypeSemiSyncDegraded, n)
		want[e.ID] = true
		p.Publish(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, events.ErrUndelivered) {
		t.Fatalf("close: got %v, want ErrUndelivered", err)
	}

	srv := startBus(t, addr)
	p2 := newPublisher(t, events.Options{URLs: []string{srv.ClientURL()}, Stream: testStream, DataDir: dir}, testLog(t))
	waitFor(t, "spool delivered", func() bool { return published(p2.Stats()) == 50 })
	checkDelivered(t, readStream(t, srv.ClientURL()), want)
}

func TestLogOnly(t *testing.T) {
	var buf bytes.Buffer
	s := events.LogOnly(zerolog.New(&buf))
	b := events.NewBuilder(testCluster, testInstance)
	s.Publish(seqEvent(b, events.TypeReplicaMissing, 1))
	var line struct {
		Level, Message, Type string
		Event                struct{ Type string }
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if got, want := fmt.Sprint(line.Level, "|", line.Message, "|", line.Type, "|", line.Event.Type), "warn|event|replica.missing|binlog_sidecar.replica.missing"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := s.Stats().Published[events.TypeReplicaMissing]; got != 1 {
		t.Errorf("published: got %d, want 1", got)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Error(err)
	}
}
