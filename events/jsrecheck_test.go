package events_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/binlog-sidecar/binlog-sidecar/events"
)

// A publisher that found no JetStream at first contact (NATS starting with
// the sidecar) switches to JetStream once the server has it: after a
// reconnect, or at the next periodic check without one. The events sent
// with core NATS before count as published; those after are stored.
func TestPublisher_JetStreamLater(t *testing.T) {
	tests := []struct {
		name      string
		reconnect bool
	}{
		{"after reconnect", true},
		{"periodic check", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.reconnect {
				t.Cleanup(events.SetJSRecheckEvery(100 * time.Millisecond)) // runs after the publisher's Close
			}
			_, addr := deadURL(t)
			host, port := splitAddr(t, addr)
			srv := runServer(t, &server.Options{Host: host, Port: port})
			url := srv.ClientURL()
			p := newPublisher(t, events.Options{URLs: []string{url}, Stream: testStream}, testLog(t))
			b := events.NewBuilder(testCluster, testInstance)
			for n := range 5 {
				p.Publish(seqEvent(b, events.TypeReplicaMissing, n))
			}
			waitFor(t, "core publishes", func() bool { return published(p.Stats()) == 5 })
			if p.Stats().JetStream {
				t.Fatal("stats: JetStream true on a server without it")
			}

			if tt.reconnect {
				srv.Shutdown()
				srv.WaitForShutdown()
				url = runServer(t, &server.Options{Host: host, Port: port, JetStream: true, StoreDir: t.TempDir()}).ClientURL()
			} else if err := srv.EnableJetStream(&server.JetStreamConfig{StoreDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "jetstream mode", func() bool { return p.Stats().JetStream })
			want := map[string]bool{}
			for n := 5; n < 15; n++ {
				e := seqEvent(b, events.TypeReplicaMissing, n)
				want[e.ID] = true
				p.Publish(e)
			}
			waitFor(t, "all published", func() bool { return published(p.Stats()) == 15 })
			checkDelivered(t, readStream(t, url), want)
		})
	}
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
