package kv_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// waitFor polls the bucket with an anonymous client's Read until ok
// accepts the entries, or fails after a bound (not a measure).
func waitFor(t *testing.T, ctx context.Context, js jetstream.JetStream, what string, ok func([]fleet.Entry) bool) []fleet.Entry {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		entries, bad, err := kv.Read(rctx, js, "FLEET")
		cancel()
		if err == nil && bad == 0 && ok(entries) {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen; last read %+v (bad %d, err %v)", what, entries, bad, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// embedded starts the embedded server (stopped at the test's end) and
// returns its client URL and the sidecar's authenticated JetStream.
func embedded(t *testing.T, ctx context.Context) (string, jetstream.JetStream) {
	t.Helper()
	url, side := testnats.Embedded(t, ctx)
	js, err := jetstream.New(side)
	if err != nil {
		t.Fatal(err)
	}
	return url, js
}

// On the embedded server: the sidecar's writer (its own authenticated
// connection) creates the bucket and puts its status; an anonymous client
// binds the bucket and reads it, sees a change of state, may not write,
// and sees the key removed by the TTL (a delete marker) once the writer
// stops.
func TestWriter_EmbeddedAnonymousReads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, sjs := embedded(t, ctx)

	var status atomic.Int32 // a health.Status
	report := func() health.Report {
		return health.Report{At: time.Now(), Health: health.Status(status.Load()),
			Server:   health.Server{Flavor: "mariadb", Version: "11.4.2", ServerID: 1},
			Replicas: []health.ReplicaInfo{{Address: "db-3:3306", Status: health.ReplicaMissing, Expected: true}},
			Inventory: health.InventoryInfo{Configured: true, Entries: []health.InventoryEntry{
				{Address: "db-3:3306", IPs: []string{"10.0.0.3"}, Status: health.ReplicaMissing}}},
		}
	}
	snap := func() stream.Snapshot {
		return stream.Snapshot{Connected: true, Position: stream.Position{File: "b.000001", Pos: 4}}
	}
	w := &kv.Writer{JS: sjs, Bucket: "FLEET", Every: time.Second, Cluster: "prod", Instance: "db.1",
		SidecarServerID: 4000000001, Report: report, Stream: snap, Log: zerolog.Nop()}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()

	anon, err := nats.Connect(url, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	ajs, _ := jetstream.New(anon)
	var b jetstream.KeyValue
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, err = ajs.KeyValue(ctx, "FLEET"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the anonymous client cannot bind the bucket: %v", err)
		}
	}
	entries := waitFor(t, ctx, ajs, "the sidecar's status", func(es []fleet.Entry) bool { return len(es) == 1 })
	got := entries[0]
	if got.Key != "prod.db_1" || got.Doc == nil || got.Doc.Instance != "db.1" || got.Doc.SidecarServerID != 4000000001 ||
		got.Doc.Health != "ok" || len(got.Doc.Inventory) != 1 || got.Doc.Inventory[0].IPs[0] != "10.0.0.3" ||
		len(got.Doc.Replicas) != 1 || got.Doc.Replicas[0].Status != "missing" || !got.Doc.Stream.Connected || got.Updated.IsZero() {
		t.Fatalf("entry %+v doc %+v", got, got.Doc)
	}

	status.Store(int32(health.StatusCritical))
	waitFor(t, ctx, ajs, "the change of state", func(es []fleet.Entry) bool {
		return len(es) == 1 && es[0].Doc != nil && es[0].Doc.Health == "critical"
	})

	// The server drops a refused publish without an answer: the put fails
	// when its context ends.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := b.Put(pctx, "prod.forged", []byte(`{}`)); err == nil {
		t.Error("the anonymous client put a key")
	}

	// The sidecar stops: the key expires after the TTL and the reader is
	// told by the delete marker (nats-server 2.11+).
	stop()
	<-done
	waitFor(t, ctx, ajs, "the expired key", func(es []fleet.Entry) bool { return len(es) == 1 && es[0].Gone })
	v := fleet.Compute(waitFor(t, ctx, ajs, "the expired key", func(es []fleet.Entry) bool { return len(es) == 1 }), time.Now(), time.Second)
	if len(v.Findings) != 1 || v.Findings[0].Type != fleet.TypeSidecarSilent || !v.Findings[0].Evidence.Gone {
		t.Errorf("findings %+v, want one sidecar_silent, gone", v.Findings)
	}
}

// A key read as removed, or absent from a later read, keeps the document
// last seen, marked Gone.
func TestState_Update(t *testing.T) {
	st := kv.NewState()
	a := &fleet.Document{Cluster: "prod", Instance: "a"}
	b := &fleet.Document{Cluster: "prod", Instance: "b"}
	st.Update([]fleet.Entry{{Key: "prod.a", Doc: a}, {Key: "prod.b", Doc: b}})
	st.Update([]fleet.Entry{{Key: "prod.a", Gone: true}})
	got := st.Entries()
	if len(got) != 2 || !got[0].Gone || got[0].Doc != a || !got[1].Gone || got[1].Doc != b {
		t.Errorf("entries %+v", got)
	}
	st.Update([]fleet.Entry{{Key: "prod.b", Doc: b}})
	if got := st.Entries(); got[1].Gone {
		t.Errorf("prod.b is back, still gone: %+v", got[1])
	}
}
