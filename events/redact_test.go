package events_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct{ give, want string }{
		{"nats://user:pass@host:4222", "nats://user:xxxxx@host:4222"},
		{"user:pass@host:4222", "user:xxxxx@host:4222"},
		{"nats://token@host:4222", "nats://xxxxx@host:4222"},
		{"tls://u:p@ss:w@rd@h:1,nats://h2:4222, a:b@h3", "tls://u:xxxxx@h:1,nats://h2:4222, a:xxxxx@h3"},
		{"nats://host:4222", "nats://host:4222"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := events.RedactURLs(tt.give); got != tt.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// No log line of the publisher holds a password or token from its URLs:
// not on failed connects, not on connects.
func TestPublisher_LogsNoCredentials(t *testing.T) {
	const pass = "s3cretPw"
	srv := runServer(t, &server.Options{Host: "127.0.0.1", Port: -1, Username: "user", Password: pass})
	live := strings.TrimPrefix(srv.ClientURL(), "nats://")
	_, dead := deadURL(t)
	tests := []struct {
		name, url, want string
	}{
		{"failed connect", "nats://user:" + pass + "@" + dead, "nats connect failed"},
		{"failed connect, no scheme", "user:" + pass + "@" + dead, "nats connect failed"},
		{"failed connect, token", "nats://" + pass + "@" + dead, "nats connect failed"},
		{"connect", "nats://user:" + pass + "@" + live, "nats connected"},
		{"connect, no scheme", "user:" + pass + "@" + live, "nats connected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var buf bytes.Buffer
			log := zerolog.New(lockedWriter{&mu, &buf})
			p, err := events.New(events.Options{URLs: []string{tt.url}, DataDir: t.TempDir(), Cluster: testCluster, Instance: testInstance}, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(context.Background()); err != nil {
				if strings.Contains(err.Error(), pass) {
					t.Errorf("start error holds the password: %v", err)
				}
				t.Fatal(err)
			}
			waitFor(t, "log line "+tt.want, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return strings.Contains(buf.String(), tt.want)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			p.Close(ctx)
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(buf.String(), pass) {
				t.Errorf("log holds the password:\n%s", buf.String())
			}
		})
	}
}
