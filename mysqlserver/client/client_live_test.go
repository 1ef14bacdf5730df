package client

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// The throwaway server offers no TLS: "preferred" connects in plain text,
// "required" (not preferred) fails instead of silently dropping TLS.
func TestConnect_tlsPreferredFallsBackOnlyWhenPreferred(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mariadbd")
	}
	srv := testdb.StartPrimary(t, testdb.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := Target{Addr: srv.Addr, User: "bench", Password: "bench",
		TLS: &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12}, TLSPreferred: true}

	c, err := Connect(ctx, target, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatalf("preferred: %v", err)
	}
	if err := c.Exec("SELECT 1"); err != nil {
		t.Errorf("preferred connection does not answer: %v", err)
	}
	c.Close()

	target.TLSPreferred = false
	if c, err := Connect(ctx, target, time.Now().Add(30*time.Second)); err == nil {
		c.Close()
		t.Fatal("required TLS against a server without TLS: connected, want an error")
	}
}
