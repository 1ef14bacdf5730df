package bus_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
)

func TestStartEmbedded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	e, err := bus.StartEmbedded(ctx, bus.Options{Addr: "127.0.0.1:0", StoreDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(e.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("kept")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	nc.Close()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// The store outlives the server: a new one on the same directory has the message.
	e, err = bus.StartEmbedded(ctx, bus.Options{Addr: "127.0.0.1:0", StoreDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(ctx)
	nc, _ = nats.Connect(e.ClientURL())
	defer nc.Close()
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "t.1")
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("message after restart: got %v, %v; want \"kept\"", m, err)
	}
}

func inUse(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func TestStartEmbedded_BadOptions(t *testing.T) {
	tests := []struct {
		name string
		give bus.Options
	}{
		{"no store", bus.Options{Addr: "127.0.0.1:0"}},
		{"bad address", bus.Options{Addr: "localhost", StoreDir: t.TempDir()}},
		{"bad port", bus.Options{Addr: "127.0.0.1:x", StoreDir: t.TempDir()}},
		{"address in use", bus.Options{Addr: inUse(t), StoreDir: t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := bus.StartEmbedded(context.Background(), tt.give, zerolog.Nop()); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}
