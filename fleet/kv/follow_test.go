package kv_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// A Follower sees puts, a replaced value, a delete and a new key, on the
// packaged nats-server (2.9) and as an anonymous client of the embedded
// server, reading only what changed after its first whole read.
func TestFollower_Entries(t *testing.T) {
	for name, servers := range map[string]func(t *testing.T, ctx context.Context) (writer, reader jetstream.JetStream){
		"nats-server": func(t *testing.T, ctx context.Context) (jetstream.JetStream, jetstream.JetStream) {
			js := testnats.JetStream(t, testnats.Start(t).URL())
			return js, js
		},
		"embedded, anonymous reader": func(t *testing.T, ctx context.Context) (jetstream.JetStream, jetstream.JetStream) {
			url, side := embedded(t, ctx)
			return side, testnats.JetStream(t, url)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			wjs, rjs := servers(t, ctx)
			b, err := kv.Open(ctx, wjs, "FLEET", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			put := func(instance, health string) {
				t.Helper()
				body, _ := json.Marshal(fleet.Document{Cluster: "prod", Instance: instance, Health: health})
				if _, err := b.Put(ctx, "prod."+instance, body); err != nil {
					t.Fatal(err)
				}
			}
			f := &kv.Follower{JS: rjs, Bucket: "FLEET"}
			read := func() string {
				t.Helper()
				entries, err := f.Entries(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var got string
				for _, e := range entries {
					got += e.Key + "=" + e.Doc.Health
					if e.Gone {
						got += "(gone)"
					}
					got += " "
				}
				return got
			}
			put("a", "ok")
			put("b", "ok")
			if got, want := read(), "prod.a=ok prod.b=ok "; got != want {
				t.Errorf("first read: got %q, want %q", got, want)
			}
			put("a", "degraded")
			put("a", "critical") // replaces the value before it is read
			if err := b.Delete(ctx, "prod.b"); err != nil {
				t.Fatal(err)
			}
			put("c", "ok")
			if got, want := read(), "prod.a=critical prod.b=ok(gone) prod.c=ok "; got != want {
				t.Errorf("after changes: got %q, want %q", got, want)
			}
			if got, want := read(), "prod.a=critical prod.b=ok(gone) prod.c=ok "; got != want {
				t.Errorf("nothing changed: got %q, want %q", got, want)
			}
		})
	}
}
