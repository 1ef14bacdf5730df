package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// oversized is health.changed as version 0.1.0 built it for 10,000 expected
// replicas that do not exist: every problem listed, about 2 MB, over NATS's
// default max_payload of 1 MiB.
func oversized(b *events.Builder) events.Event {
	e := b.HealthChanged(health.StatusOK, health.StatusDegraded, nil)
	d := e.Data.(events.HealthChangedData)
	for i := range 10000 {
		d.Problems = append(d.Problems, events.ProblemRef{Type: events.TypeReplicaMissing,
			ProblemID: fmt.Sprintf("replica.missing/replica-%05d.db.example.invalid:3306", i),
			Subject:   fmt.Sprintf("replica/replica-%05d.db.example.invalid:3306", i), Severity: health.SeverityWarning})
	}
	d.ProblemsTotal = len(d.Problems)
	e.Data = d
	return e
}

// deadLetters reads the dead-letter file's lines.
func deadLetters(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, events.DeadLetterFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dead-letter line: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// A poison event (a spooled health.changed over the server's max_payload,
// as 0.1.0 left one in the spool, where it blocked all delivery across
// restarts) is dead-lettered: kept aside on disk, counted and logged, and
// delivery goes on with the next event, against a real nats-server with a
// 1 MiB max_payload. A restart afterwards delivers normally.
func TestPublisher_PoisonEventDeadLettered(t *testing.T) {
	dir := t.TempDir()
	b := events.NewBuilder(testCluster, testInstance)
	a, x, bb := seqEvent(b, events.TypeReplicaMissing, 1), oversized(b), seqEvent(b, events.TypeReplicaMissing, 2)
	raw, _ := events.Encode(x)

	// The spool a stuck 0.1.0 left: the poison event between two others.
	url, _ := deadURL(t)
	p0, err := events.New(events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, Cluster: testCluster, Instance: testInstance}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{a, x, bb} {
		p0.Publish(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p0.Close(ctx)

	srv := testnats.StartConfig(t, "max_payload: 1048576")
	p := newPublisher(t, events.Options{URLs: []string{srv.URL()}, Stream: testStream, DataDir: dir}, testLog(t))
	waitFor(t, "the spool delivered past the poison event", func() bool { return p.Stats().Pending == 0 })
	c := seqEvent(b, events.TypeReplicaMissing, 3)
	p.Publish(c)
	waitFor(t, "a later event delivered", func() bool { return p.Stats().Pending == 0 && published(p.Stats()) == 3 })

	st := p.Stats()
	key := events.DeadLetterKey{Type: events.TypeHealthChanged, Reason: events.ReasonPayloadTooLarge}
	if st.DeadLettered[key] != 1 {
		t.Errorf("dead-lettered %v, want 1 %v", st.DeadLettered, key)
	}
	dls := deadLetters(t, dir)
	if len(dls) != 1 || dls[0]["id"] != x.ID || dls[0]["reason"] != events.ReasonPayloadTooLarge || dls[0]["bytes"].(float64) < float64(len(raw)) {
		t.Fatalf("dead-letter file: %v; want one line for %s, payload_too_large", dls, x.ID)
	}
	checkDelivered(t, readStream(t, srv.URL()), map[string]bool{a.ID: true, bb.ID: true, c.ID: true})
	t.Logf("poison event %s (%d bytes) dead-lettered: %s; delivered %d events", x.ID, len(raw), dls[0]["error"], published(st))

	// A restart of the server and of the publisher: nothing is stuck,
	// nothing dead-lettered again, the next event is delivered.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := p.Close(ctx2); err != nil {
		t.Fatalf("close: %v", err)
	}
	srv.Kill()
	srv.Start()
	p2 := newPublisher(t, events.Options{URLs: []string{srv.URL()}, Stream: testStream, DataDir: dir}, testLog(t))
	d := seqEvent(b, events.TypeReplicaMissing, 4)
	p2.Publish(d)
	waitFor(t, "delivered after the restart", func() bool { return p2.Stats().Pending == 0 && published(p2.Stats()) == 1 })
	if n := len(deadLetters(t, dir)); n != 1 {
		t.Errorf("dead-letter file has %d lines after the restart, want still 1", n)
	}
	checkDelivered(t, readStream(t, srv.URL()), map[string]bool{a.ID: true, bb.ID: true, c.ID: true, d.ID: true})
}

// A subject the server refuses this connection (a permission violation,
// reported asynchronously; the JetStream ack never comes) is dead-lettered
// with reason permission, and the events after it are delivered.
func TestPublisher_PermissionDeniedDeadLettered(t *testing.T) {
	denied := events.Subject(events.DefaultSubjectPrefix, testCluster, testInstance, events.TypeSourceUnreachable)
	srv := runServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{{Username: "pub", Password: "pw", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{denied}},
		}}}})
	url := fmt.Sprintf("nats://pub:pw@%s", srv.Addr().String())
	dir := t.TempDir()
	p := newPublisher(t, events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, AckTimeout: time.Second}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	first, refused, last := seqEvent(b, events.TypeReplicaMissing, 1), seqEvent(b, events.TypeSourceUnreachable, 2), seqEvent(b, events.TypeReplicaMissing, 3)
	for _, e := range []events.Event{first, refused, last} {
		p.Publish(e)
	}
	waitFor(t, "everything done", func() bool { return p.Stats().Pending == 0 })
	st := p.Stats()
	if n := st.DeadLettered[events.DeadLetterKey{Type: events.TypeSourceUnreachable, Reason: events.ReasonPermission}]; n != 1 || published(st) != 2 {
		t.Errorf("dead-lettered %d, published %d; want 1, 2", n, published(st))
	}
	if dls := deadLetters(t, dir); len(dls) != 1 || dls[0]["id"] != refused.ID {
		t.Errorf("dead-letter file %v, want the refused event", dls)
	}
	checkDelivered(t, readStream(t, fmt.Sprintf("nats://pub:pw@%s", srv.Addr().String())), map[string]bool{first.ID: true, last.ID: true})
}

// An event over the spool's record limit (no Builder event comes near it)
// is dead-lettered by the writer instead of blocking it: the events around
// it are spooled.
func TestPublisher_OverSpoolLimitDeadLettered(t *testing.T) {
	url, _ := deadURL(t)
	dir := t.TempDir()
	p := newPublisher(t, events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir}, testLog(t))
	b := events.NewBuilder(testCluster, testInstance)
	huge := b.Lifecycle(events.TypeSidecarStarted, "huge", nil)
	huge.Data = events.InfoData{Common: huge.Data.Base(), Details: map[string]any{"x": strings.Repeat("x", spool.MaxRecord)}}
	p.Publish(seqEvent(b, events.TypeReplicaMissing, 1))
	p.Publish(huge)
	p.Publish(seqEvent(b, events.TypeReplicaMissing, 2))
	waitFor(t, "memory drained to the spool", func() bool { return p.Stats().Queued == 0 })
	st := p.Stats()
	if n := st.DeadLettered[events.DeadLetterKey{Type: events.TypeSidecarStarted, Reason: events.ReasonPayloadTooLarge}]; n != 1 || st.Spooled != 2 {
		t.Errorf("dead-lettered %d, spooled %d; want 1, 2", n, st.Spooled)
	}
	if dls := deadLetters(t, dir); len(dls) != 1 || dls[0]["id"] != huge.ID || dls[0]["event_head"] == nil {
		t.Errorf("dead-letter file: %d lines, want the huge event's head", len(dls))
	}
}

// A spool damaged while the sidecar was stopped: the publisher delivers
// the records whose checksums hold and counts the lost one in
// Stats.Dropped (binlog_sidecar_events_dropped_total), which read 0 before.
func TestPublisher_DamagedSpoolCounted(t *testing.T) {
	url, _ := deadURL(t)
	dir := t.TempDir()
	p, err := events.New(events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir, Cluster: testCluster, Instance: testInstance}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	b := events.NewBuilder(testCluster, testInstance)
	for n := range 31 {
		p.Publish(seqEvent(b, events.TypeReplicaMissing, n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	segs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	data, _ := os.ReadFile(segs[0])
	data[len(data)/2] ^= 0xff // one flipped byte in the middle record
	if err := os.WriteFile(segs[0], data, 0o640); err != nil {
		t.Fatal(err)
	}
	p2 := newPublisher(t, events.Options{URLs: []string{url}, Stream: testStream, DataDir: dir}, testLog(t))
	if st := p2.Stats(); st.Dropped != 1 || st.Spooled != 30 {
		t.Errorf("after the damage: dropped %d, spooled %d; want 1, 30", st.Dropped, st.Spooled)
	}
}
