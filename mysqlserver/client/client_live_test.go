package client

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

// liveTarget starts a throwaway server (no TLS) and returns how to reach it.
func liveTarget(t *testing.T) Target {
	t.Helper()
	if testing.Short() {
		t.Skip("starts mariadbd")
	}
	srv := testdb.StartPrimary(t, testdb.Options{})
	return Target{Addr: srv.Addr, User: "bench", Password: "bench"}
}

// connect opens a connection to target within a minute; the test closes it.
func connect(t *testing.T, target Target) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Connect(ctx, target, time.Now().Add(30*time.Second))
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// The throwaway server offers no TLS: "preferred" connects in plain text,
// "required" (not preferred) fails instead of silently dropping TLS.
func TestConnect_tlsPreferredFallsBackOnlyWhenPreferred(t *testing.T) {
	target := liveTarget(t)
	target.TLS = &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12}
	target.TLSPreferred = true

	c, err := connect(t, target)
	if err != nil {
		t.Fatalf("preferred: %v", err)
	}
	if err := c.Exec("SELECT 1"); err != nil {
		t.Errorf("preferred connection does not answer: %v", err)
	}
	if c.TLS() {
		t.Error("TLS() = true after the plain-text fallback")
	}

	target.TLSPreferred = false
	if _, err := connect(t, target); err == nil {
		t.Fatal("required TLS against a server without TLS: connected, want an error")
	}
}

// Quit on a connection whose deadline has passed (a probe closing after
// its poll timed out) still says goodbye and frees the server's thread:
// the socket is never left open.
func TestQuit_afterDeadlineClosesTheConnection(t *testing.T) {
	target := liveTarget(t)
	a, err := connect(t, target)
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := connect(t, target)
	if err != nil {
		t.Fatal(err)
	}
	id := uint64(a.ConnectionID())
	if err := a.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.Quit(); err != nil {
		t.Errorf("Quit after the deadline: %v", err)
	}
	testwait.Until(t, "the server's thread for the connection gone", 30*time.Second, func() bool {
		rows, err := watcher.Query("SHOW PROCESSLIST")
		if err != nil {
			t.Fatal(err)
		}
		col := rows.Column("Id")
		for i := range rows.Rows {
			if rows.Uint(i, col) == id {
				return false
			}
		}
		return true
	})
}
