package bus

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// The store fsyncs every write before the ack: the publisher deletes its
// own durable copy of an event once acknowledged.
func TestStartEmbedded_SyncAlways(t *testing.T) {
	e, err := StartEmbedded(context.Background(), Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	if cfg := e.srv.JetStreamConfig(); cfg == nil || !cfg.SyncAlways {
		t.Errorf("jetstream config %+v: want SyncAlways", cfg)
	}
}
