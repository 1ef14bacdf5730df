package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// A consumer needs nothing from this module: any NATS client subscribes to
// mysql.health.> (or narrower: mysql.health.prod.*.replica.>) and decodes
// the CloudEvents JSON. To miss nothing while the consumer is down, use a
// durable JetStream consumer on the MYSQL_HEALTH stream instead, and
// dedupe on id.
func Example_consumer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "events-example")
	defer os.RemoveAll(dir)

	// The sidecar's side: the embedded bus and a publisher.
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

	// The consumer: anonymous, as any client without credentials.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 16)
	sub, _ := nc.ChanSubscribe("mysql.health.>", msgs)
	defer sub.Unsubscribe()
	nc.Flush()

	pub.Publish(events.NewBuilder("prod", "db-1").FromTransition(health.Transition{
		State: health.StateFiring, At: time.Now(),
		Problem: health.Problem{Type: "replica.missing", ID: "replica.missing/db-2:3306", Subject: "replica/db-2:3306",
			Severity: health.SeverityWarning, Since: time.Now(), Summary: "Expected replica db-2:3306 has no dump thread."},
	}))

	select {
	case m := <-msgs:
		var e struct {
			ID, Type, Subject string
			Data              struct{ Severity, State, Summary string }
		}
		if err := json.Unmarshal(m.Data, &e); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(m.Subject)
		fmt.Println(e.Type, e.Subject, e.Data.Severity, e.Data.State)
		fmt.Println(e.Data.Summary)
		fmt.Println("Nats-Msg-Id is the id:", m.Header.Get("Nats-Msg-Id") == e.ID)
	case <-time.After(10 * time.Second):
		fmt.Println("no event")
	}
	// Output:
	// mysql.health.prod.db-1.replica.missing
	// binlog_sidecar.replica.missing replica/db-2:3306 warning firing
	// Expected replica db-2:3306 has no dump thread.
	// Nats-Msg-Id is the id: true
}
