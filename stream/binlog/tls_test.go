package binlog

import (
	"crypto/tls"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestSource_TLS: over TLS (the account may not connect without it) the
// stream's own reader counts exactly, reading in batches from the TLS
// connection, and on the idle stream a heartbeat and a single small event
// still arrive (the read deadline on the TLS connection).
func TestSource_TLS(t *testing.T) {
	certs := testcert.New(t)
	p := testdb.StartPrimary(t, testdb.Options{Extra: []string{
		"--ssl-ca=" + certs.CAFile, "--ssl-cert=" + certs.CertFile, "--ssl-key=" + certs.KeyFile}})
	p.Exec(t, "ALTER USER 'sidecar'@'%' REQUIRE SSL")
	p.Exec(t, "CREATE TABLE sbtest.tls (id INT PRIMARY KEY, v VARCHAR(100))")
	start := masterPos(t, p)
	r := startSource(t, p, Config{Start: start.String(),
		TLS: &tls.Config{RootCAs: certs.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	seesIdleEvents(t, p, r, "INSERT INTO sbtest.tls VALUES (1, 'one')")

	p.Exec(t, "INSERT INTO sbtest.tls SELECT seq + 1, REPEAT('v', 100) FROM seq_1_to_20000")
	p.Exec(t, "UPDATE sbtest.tls SET v = 'u' WHERE id <= 1000")
	s := waitCaughtUp(t, p, r.meter)
	if want := (stream.Rows{Insert: 20001, Update: 1000}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
	if want := binlogBytes(t, p, start); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}
}
