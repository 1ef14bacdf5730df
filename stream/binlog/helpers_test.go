package binlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// testHeartbeat keeps the integration tests fast.
const testHeartbeat = 200 * time.Millisecond

// countEachEvent, as Config.MaxDelay of startSource, runs the Source with
// MaxDelay 0 (startSource takes 0 for the daemon's default).
const countEachEvent = -1

// running is a Source under test.
type running struct {
	meter  *stream.Meter
	src    *Source
	cancel context.CancelFunc
	done   chan error
}

// startSource runs a Source against srv as user sidecar, with the test
// defaults under cfg's non-zero fields (MaxDelay: the daemon's default). It is stopped when the test ends.
func startSource(t *testing.T, srv *testdb.Server, cfg Config) *running {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = srv.Addr
	}
	if cfg.User == "" {
		cfg.User, cfg.Password = "sidecar", "sidecar"
	}
	if cfg.ServerID == 0 {
		cfg.ServerID = 4000000001
	}
	if cfg.HeartbeatPeriod == 0 {
		cfg.HeartbeatPeriod = testHeartbeat
	}
	switch cfg.MaxDelay {
	case 0:
		cfg.MaxDelay = DefaultMaxDelay
	case countEachEvent:
		cfg.MaxDelay = 0
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 50*time.Millisecond, 400*time.Millisecond
	}
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: cfg.HeartbeatPeriod})
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	src := New(cfg, m, log)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{meter: m, src: src, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; Run must return nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil after cancel", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of cancel")
	}
}

// waitCaughtUp waits until the meter's position is the server's binlog end.
func waitCaughtUp(t *testing.T, srv *testdb.Server, m *stream.Meter) stream.Snapshot {
	t.Helper()
	// The server's end is read again on every turn, and must hold still
	// for a moment once reached: MariaDB writes a new file's
	// BINLOG_CHECKPOINT event after the statement that caused the
	// rotation has returned, so an end read once can be passed by the
	// stream a few milliseconds later (a 42-byte overshoot).
	deadline := time.Now().Add(30 * time.Second)
	var want stream.Position
	for {
		file, pos := srv.MasterStatus(t)
		want = stream.Position{File: file, Pos: pos}
		s := m.Snapshot()
		if s.Position.File == want.File && s.Position.Pos == want.Pos {
			time.Sleep(50 * time.Millisecond)
			if f2, p2 := srv.MasterStatus(t); f2 == file && p2 == pos {
				return s
			}
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for position %s; at %s, connected %v, last error %q, %d events",
				want, s.Position, s.Connected, s.LastError, s.EventsTotal())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// binlogBytes is how many bytes the binlog holds from `from` to the
// server's current end, across files: what the stream must count.
func binlogBytes(t *testing.T, srv *testdb.Server, from stream.Position) uint64 {
	t.Helper()
	var n uint64
	seen := false
	for _, f := range srv.BinlogFiles(t) {
		switch {
		case f.Name == from.File:
			seen = true
			n += f.Size - uint64(from.Pos)
		case seen:
			n += f.Size - 4
		}
	}
	if !seen {
		t.Fatalf("binlog %s not on the server", from.File)
	}
	return n
}

// gtidSeq reads the sequence number of domain 0 in @@gtid_binlog_pos.
func gtidSeq(t *testing.T, srv *testdb.Server) uint64 {
	t.Helper()
	rows := srv.Query(t, "SELECT @@gtid_binlog_pos AS p")
	for _, g := range strings.Split(rows[0]["p"], ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) == 3 && parts[0] == "0" {
			n, _ := strconv.ParseUint(parts[2], 10, 64)
			return n
		}
	}
	return 0
}

// masterPos returns the server's binlog end as a stream.Position.
func masterPos(t *testing.T, srv *testdb.Server) stream.Position {
	t.Helper()
	f, p := srv.MasterStatus(t)
	return stream.Position{File: f, Pos: p}
}

// insertValues builds "(1),(2),...(n)"-style VALUES lists.
func insertValues(from, n int, row func(i int) string) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s)", row(i))
	}
	return b.String()
}

// rerun starts the stopped Source r again, as the same Source: it resumes
// from the position its previous run saved.
func (r *running) rerun() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.src.Run(ctx) }()
}
