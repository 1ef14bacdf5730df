package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
)

// refusal is how long an anonymous request the server refuses may take to
// fail (the server drops it and answers nothing): a bound, not a measure.
const refusal = 2 * time.Second

// The embedded server, with real clients: an anonymous client may
// subscribe and consume (a core subscription, a durable pull consumer with
// acks, a push consumer) and nothing else: its publish under the prefix
// (a forged dump_thread.zombie), a purge, a delete, a stream create or
// update, a reply to another client's inbox are refused, and the stream is
// as the sidecar left it. The sidecar's own connection, with its generated
// password, publishes and manages the stream.
func TestEmbedded_AnonymousMayOnlyConsume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := bus.StartEmbedded(ctx, bus.Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	user, password := e.Credentials()
	if user != bus.SidecarUser || len(password) < 40 {
		t.Fatalf("credentials %q and a %d-character password, want %q and a long random one", user, len(password), bus.SidecarUser)
	}
	if strings.Contains(e.ClientURL(), password) {
		t.Fatal("the client URL carries the password")
	}

	// The sidecar: creates the stream and publishes.
	side, err := nats.Connect(e.ClientURL(), nats.UserInfo(user, password))
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	sjs, _ := jetstream.New(side)
	stream, err := sjs.CreateStream(ctx, jetstream.StreamConfig{Name: "MYSQL_HEALTH", Subjects: []string{"mysql.health.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("the sidecar creates the stream: %v", err)
	}
	if _, err := sjs.Publish(ctx, "mysql.health.prod.db-1.replica.missing", []byte("1")); err != nil {
		t.Fatalf("the sidecar's publish: %v", err)
	}

	// A wrong password is not anonymous: it is refused.
	if nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(user, "guess")); err == nil {
		nc.Close()
		t.Error("connected with a wrong password")
	}

	// The anonymous client.
	asyncErrs := make(chan error, 16)
	anon, err := nats.Connect(e.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case asyncErrs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("anonymous connect: %v", err)
	}
	defer anon.Close()
	ajs, _ := jetstream.New(anon)

	// Allowed: a core subscription (nats sub), a durable pull consumer
	// with acks, a push consumer.
	sub, err := anon.SubscribeSync("mysql.health.>")
	if err != nil {
		t.Fatal(err)
	}
	anon.Flush()
	cons, err := ajs.CreateOrUpdateConsumer(ctx, "MYSQL_HEALTH", jetstream.ConsumerConfig{Durable: "ops", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("anonymous durable consumer: %v", err)
	}
	legacy, _ := anon.JetStream()
	push, err := legacy.SubscribeSync("mysql.health.>", nats.Durable("ops-push"), nats.DeliverAll())
	if err != nil {
		t.Fatalf("anonymous push consumer: %v", err)
	}
	if _, err := sjs.Publish(ctx, "mysql.health.prod.db-1.replica.unknown", []byte("2")); err != nil {
		t.Fatalf("the sidecar's publish: %v", err)
	}
	if m, err := sub.NextMsg(10 * time.Second); err != nil || string(m.Data) != "2" {
		t.Errorf("anonymous subscription: got %v, %v; want the sidecar's event", m, err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("anonymous ack: %v", err)
		}
	}
	if strings.Join(got, ",") != "1,2" {
		t.Errorf("durable consumer read %v, want [1 2]", got)
	}
	for _, want := range []string{"1", "2"} {
		m, err := push.NextMsg(10 * time.Second)
		if err != nil || string(m.Data) != want {
			t.Fatalf("push consumer: got %v, %v; want %s", m, err, want)
		}
		if err := m.AckSync(); err != nil {
			t.Errorf("push ack: %v", err)
		}
	}

	// Refused: a forged event under the prefix, and a reply to an inbox.
	for _, subject := range []string{"mysql.health.prod.db-1.dump_thread.zombie", "_INBOX.forged"} {
		if err := anon.Publish(subject, []byte(`{"remediation":"RESET MASTER"}`)); err != nil {
			t.Fatal(err)
		}
		anon.Flush()
		select {
		case err := <-asyncErrs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Errorf("anonymous publish to %s: got %v, want a permission violation", subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("anonymous publish to %s: no permission violation reported", subject)
		}
	}
	rctx, rcancel := context.WithTimeout(ctx, refusal)
	defer rcancel()
	if _, err := ajs.Publish(rctx, "mysql.health.prod.db-1.dump_thread.zombie", []byte("forged")); err == nil {
		t.Error("anonymous JetStream publish acknowledged")
	}
	astream, err := ajs.Stream(ctx, "MYSQL_HEALTH")
	if err != nil {
		t.Fatalf("anonymous stream info: %v", err)
	}
	for name, op := range map[string]func(context.Context) error{
		"purge":  func(ctx context.Context) error { return astream.Purge(ctx) },
		"delete": func(ctx context.Context) error { return ajs.DeleteStream(ctx, "MYSQL_HEALTH") },
		"create": func(ctx context.Context) error {
			_, err := ajs.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}})
			return err
		},
		"update": func(ctx context.Context) error {
			_, err := ajs.UpdateStream(ctx, jetstream.StreamConfig{Name: "MYSQL_HEALTH", Subjects: []string{"mysql.health.>"}, MaxMsgs: 1})
			return err
		},
		"delete message": func(ctx context.Context) error { return astream.DeleteMsg(ctx, 1) },
	} {
		rctx, rcancel := context.WithTimeout(ctx, refusal)
		if err := op(rctx); err == nil {
			t.Errorf("anonymous %s: succeeded, want refused", name)
		}
		rcancel()
	}

	// The stream is as the sidecar left it, and the sidecar still manages it.
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream after the attempts: %v", err)
	}
	if info.State.Msgs != 2 || info.Config.MaxMsgs > 0 {
		t.Errorf("stream after the attempts: %d messages, max %d; want the sidecar's 2, unlimited", info.State.Msgs, info.Config.MaxMsgs)
	}
	if _, err := sjs.Stream(ctx, "EVIL"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream EVIL: %v, want not found", err)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Errorf("the sidecar's purge: %v", err)
	}
}
