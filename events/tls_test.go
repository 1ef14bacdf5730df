package events_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
)

// tlsFixture makes a CA, writes it to a file, and returns a server TLS
// config with a certificate for 127.0.0.1 signed by it.
func tlsFixture(t *testing.T) (caFile string, cfg *tls.Config) {
	t.Helper()
	c := testcert.New(t)
	return c.CAFile, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c.Server}}
}

// A tls:// URL and a CA file give a verified TLS connection.
func TestPublisher_TLS(t *testing.T) {
	caFile, cfg := tlsFixture(t)
	srv := runServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), TLS: true, TLSConfig: cfg, TLSTimeout: 2})
	url := srv.ClientURL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("client URL %s, want tls://", url)
	}

	p := newPublisher(t, events.Options{URLs: []string{url}, TLSCAFile: caFile, Stream: testStream}, testLog(t))
	p.Publish(seqEvent(events.NewBuilder(testCluster, testInstance), events.TypeStreamDown, 1))
	waitFor(t, "published over TLS", func() bool { return published(p.Stats()) == 1 })
}

// Options that can never work fail Start at once instead of retrying forever.
func TestPublisher_StartBadOptions(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give events.Options
	}{
		{"missing credentials file", events.Options{CredsFile: missing}},
		{"missing CA file", events.Options{TLSCAFile: missing}},
		// nats.go would read these forever (a pipe) or without bound.
		{"credentials from a named pipe", events.Options{CredsFile: fifo}},
		{"credentials from /dev/zero", events.Options{CredsFile: "/dev/zero"}},
		{"credentials file is a directory", events.Options{CredsFile: dir}},
		{"CA from /dev/zero", events.Options{TLSCAFile: "/dev/zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.URLs, tt.give.DataDir = []string{"nats://127.0.0.1:1"}, t.TempDir()
			p, err := events.New(tt.give, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			if err := p.Start(context.Background()); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}
