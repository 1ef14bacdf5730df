package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
)

// slowSink is a sink whose Close uses its whole deadline, as the publisher's
// does when the bus it delivers to does not acknowledge.
type slowSink struct{}

func (slowSink) Publish(events.Event) {}
func (slowSink) Stats() events.Stats  { return events.Stats{} }
func (slowSink) Close(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// A flush that takes all of its time still leaves the embedded server its
// own time to stop (and flush its JetStream store).
func TestCloseEvents_slowFlushLeavesEmbeddedItsTime(t *testing.T) {
	emb, err := bus.StartEmbedded(context.Background(), bus.Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	url := emb.ClientURL()
	sinkErr, embErr := closeEvents(zerolog.Nop(), slowSink{}, emb, 100*time.Millisecond, 30*time.Second)
	if !errors.Is(sinkErr, context.DeadlineExceeded) {
		t.Errorf("sink close: %v, want the flush deadline", sinkErr)
	}
	if embErr != nil {
		t.Errorf("embedded shutdown: %v, want a clean stop after the slow flush", embErr)
	}
	if nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Errorf("the embedded server still accepts connections at %s", url)
	}
}
