package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// A consumer needs nothing from this module: any NATS client reads the
// CloudEvents JSON. Delivery is at least once only through JetStream: a
// durable consumer on the MYSQL_HEALTH stream remembers, on the server,
// what it has acknowledged, so events published while the consumer is down
// (restarted, deployed, crashed) wait for it; it acks each event after
// handling it and dedupes on id (a redelivery after a lost ack repeats
// one). A core NATS subscription (nats sub) sees only what arrives while it
// is connected: at most once.
func Example_consumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "events-example")
	defer os.RemoveAll(dir)

	// The sidecar's side: the embedded bus and a publisher, which creates
	// the stream.
	srv, err := bus.StartEmbedded(ctx, bus.Options{Addr: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats")}, zerolog.Nop())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)
	user, password := srv.Credentials() // only the sidecar may publish
	pub, _ := events.New(events.Options{URLs: []string{srv.ClientURL()}, User: user, Password: password,
		Stream: events.DefaultStream, DataDir: dir, Cluster: "prod", Instance: "db-1"}, zerolog.Nop())
	pub.Start(ctx)
	defer pub.Close(ctx)
	problem := health.Problem{Type: "replica.missing", ID: "replica.missing/db-2:3306", Subject: "replica/db-2:3306",
		Severity: health.SeverityWarning, Since: time.Now(), Summary: "Expected replica db-2:3306 has no dump thread."}
	b := events.NewBuilder("prod", "db-1")

	// The consumer: anonymous, as any client without credentials.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := waitForStream(ctx, js, events.DefaultStream); err != nil {
		fmt.Println(err)
		return
	}
	// Durable: the server keeps the consumer and its position under this
	// name. Explicit acks: an event not acked within AckWait comes again.
	cfg := jetstream.ConsumerConfig{
		Durable:       "pager",
		FilterSubject: "mysql.health.prod.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, events.DefaultStream, cfg); err != nil {
		fmt.Println(err)
		return
	}
	seen := map[string]bool{} // in production: a store with a TTL
	handle := func() {
		// Bind by name, as a restarted consumer process does.
		cons, err := js.Consumer(ctx, events.DefaultStream, "pager")
		if err != nil {
			fmt.Println(err)
			return
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			fmt.Println(err)
			return
		}
		for m := range batch.Messages() {
			var e struct {
				ID, Type, Subject string
				Data              struct{ Severity, State, Summary string }
			}
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				fmt.Println(err)
				m.Term() // never redeliver what cannot be read
				continue
			}
			if !seen[e.ID] {
				seen[e.ID] = true
				fmt.Println(m.Subject())
				fmt.Println(e.Type, e.Subject, e.Data.Severity, e.Data.State)
			}
			// After handling: DoubleAck waits until the server has it.
			if err := m.DoubleAck(ctx); err != nil {
				fmt.Println(err)
			}
		}
		if batch.Error() != nil {
			fmt.Println(batch.Error())
		}
	}

	pub.Publish(b.FromTransition(health.Transition{State: health.StateFiring, At: time.Now(), Problem: problem}))
	handle()
	// The consumer is away while the problem resolves; the event waits in
	// the stream and the durable consumer gets it when it is back.
	pub.Publish(b.FromTransition(health.Transition{State: health.StateResolved, At: time.Now(), Problem: problem}))
	handle()
	// Output:
	// mysql.health.prod.db-1.replica.missing
	// binlog_sidecar.replica.missing replica/db-2:3306 warning firing
	// mysql.health.prod.db-1.replica.missing
	// binlog_sidecar.replica.missing replica/db-2:3306 warning resolved
}

// waitForStream waits, bounded by ctx, until the publisher has created the
// stream (it does so when it connects).
func waitForStream(ctx context.Context, js jetstream.JetStream, name string) error {
	for {
		if _, err := js.Stream(ctx, name); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
