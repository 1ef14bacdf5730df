package kv_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// Two publishers on one real nats-server sync the same findings at the
// same time, step by step (a fires; b fires; a resolves; b resolves), and a
// third starts late: the stream holds each transition exactly once, in
// order per problem, and the late one resolves what the others fired.
func TestAnnouncer_TwoPublishersEachTransitionOnce(t *testing.T) {
	srv := testnats.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := testnats.JetStream(t, srv.URL())
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MYSQL_HEALTH", Subjects: []string{"mysql.health.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.OpenProblems(ctx, js, "MYSQL_HEALTH_STATUS")
	if err != nil {
		t.Fatal(err)
	}
	newAnnouncer := func(name string) *kv.Announcer {
		cjs := testnats.JetStream(t, srv.URL())
		rec, err := cjs.KeyValue(ctx, kv.ProblemsBucket("MYSQL_HEALTH_STATUS"))
		if err != nil {
			t.Fatal(err)
		}
		a := &kv.Announcer{JS: cjs, Records: rec, Builder: events.NewBuilder("fleet", name), Prefix: "mysql.health"}
		if err := a.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	p1, p2 := newAnnouncer("p1"), newAnnouncer("p2")
	a := fleet.Finding{Type: fleet.TypeReplicaMisdirected, Subject: "replica/db-3:3306", Severity: "critical", Summary: "a"}
	b := fleet.Finding{Type: fleet.TypeSidecarSilent, Subject: "sidecar/prod/c", Severity: "warning", Summary: "b"}
	both := func(now []fleet.Finding) {
		var wg sync.WaitGroup
		for _, p := range []*kv.Announcer{p1, p2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.Sync(ctx, now); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	both([]fleet.Finding{a})
	both([]fleet.Finding{a, b})
	late := newAnnouncer("p3") // a and b are recorded firing
	both([]fleet.Finding{b})
	if sent, err := late.Sync(ctx, []fleet.Finding{b}); err != nil || len(sent) != 1 || !sent[0].Duplicate {
		t.Errorf("the late publisher sent %+v (%v), want a's resolution, a duplicate", sent, err)
	}
	both(nil)

	var got []string
	for _, m := range testnats.StoredMessages(t, ctx, stream) {
		var e struct {
			Type string `json:"type"`
			Data struct {
				State     string `json:"state"`
				ProblemID string `json:"problem_id"`
			} `json:"data"`
		}
		json.Unmarshal(m.Data, &e)
		got = append(got, e.Type+" "+e.Data.State)
	}
	want := []string{
		"binlog_sidecar.fleet.replica_misdirected firing", "binlog_sidecar.fleet.sidecar_silent firing",
		"binlog_sidecar.fleet.replica_misdirected resolved", "binlog_sidecar.fleet.sidecar_silent resolved",
	}
	if len(got) != len(want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %q, want %q", i+1, got[i], want[i])
		}
	}
	if p1.Published+p2.Published != 4 || p1.Duplicates+p2.Duplicates+late.Duplicates != 5 {
		t.Errorf("published %d+%d, duplicates %d+%d+%d; want 4 stored and 5 dropped", p1.Published, p2.Published,
			p1.Duplicates, p2.Duplicates, late.Duplicates)
	}
}

// A finding fires and resolves while the events stream is missing (every
// publish fails): once the stream is there, both transitions go out, in
// order; neither is lost for having been superseded before it was sent.
func TestAnnouncer_TransitionsQueuedWhileBusRefuses(t *testing.T) {
	srv := testnats.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := testnats.JetStream(t, srv.URL())
	rec, err := kv.OpenProblems(ctx, js, "S")
	if err != nil {
		t.Fatal(err)
	}
	a := &kv.Announcer{JS: js, Records: rec, Builder: events.NewBuilder("fleet", "p"), Prefix: "mysql.health"}
	f := fleet.Finding{Type: fleet.TypeReplicaShared, Subject: "server_id/3", Severity: "critical", Summary: "s"}
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := a.Sync(short(), []fleet.Finding{f}); err == nil {
		t.Fatal("published without a stream")
	}
	if _, err := a.Sync(short(), nil); err == nil {
		t.Fatal("published without a stream")
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MYSQL_HEALTH", Subjects: []string{"mysql.health.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := a.Sync(ctx, nil)
	if err != nil || len(sent) != 2 || sent[0].State != "firing" || sent[1].State != "resolved" {
		t.Fatalf("sent %+v (%v), want firing then resolved", sent, err)
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want 2", info.State.Msgs)
	}
}
