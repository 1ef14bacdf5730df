package binlog

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestSource_idleBatching: on an idle primary, a heartbeat and then one
// small event, each far below the receive low-water mark, are still seen:
// the read deadline (MaxDelay) makes the reader take what has arrived. The
// waits are generous bounds, not timings. With MaxDelay 0 the same holds.
func TestSource_idleBatching(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.idle (id INT PRIMARY KEY)")
	for i, delay := range []time.Duration{DefaultMaxDelay, countEachEvent} {
		t.Run(map[time.Duration]string{DefaultMaxDelay: "batched", countEachEvent: "each"}[delay], func(t *testing.T) {
			r := startSource(t, p, Config{MaxDelay: delay})
			seesIdleEvents(t, p, r, "INSERT INTO sbtest.idle VALUES ("+strconv.Itoa(i)+")")
			r.stop(t)
		})
	}
}

// seesIdleEvents waits, with generous bounds, until r is connected and a
// heartbeat arrived on the idle stream, then until the single-row insert
// was counted up to the server's binlog end.
func seesIdleEvents(t *testing.T, p *testdb.Server, r *running, insert string) {
	t.Helper()
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })
	hb := r.meter.Snapshot().Events[stream.EventHeartbeat]
	testwait.Until(t, "a heartbeat on the idle stream", 20*testHeartbeat, func() bool {
		return r.meter.Snapshot().Events[stream.EventHeartbeat] > hb
	})
	rows := r.meter.Snapshot().Rows.Insert
	p.Exec(t, insert)
	end := masterPos(t, p)
	testwait.Until(t, "the single insert", 20*testHeartbeat, func() bool {
		s := r.meter.Snapshot()
		return s.Rows.Insert == rows+1 && s.Position.Compare(end) == 0
	})
}

// TestSource_oneDumpThread: the sidecar registers with a stable identity
// (server_id and replica UUID), so when it connects again while the server
// still serves its previous dump, the server ends the old thread: one
// sidecar dump thread is left, the new one. Then after a reconnect (its
// dump thread killed) there is again exactly one.
func TestSource_oneDumpThread(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	// The old session's backoff outlasts the test, so it does not take
	// the registration back.
	old := startSource(t, p, Config{BackoffMin: time.Minute, BackoffMax: time.Minute})
	testwait.Until(t, "first session", 10*time.Second, func() bool { return old.src.ThreadID() != 0 })
	oldID := old.src.ThreadID()

	cur := startSource(t, p, Config{})
	testwait.Until(t, "second session", 10*time.Second, func() bool { return cur.src.ThreadID() != 0 })
	waitDumpThreads(t, p, cur.src)
	if old.src.ThreadID() == oldID {
		t.Errorf("the first session still runs its dump (thread %d)", oldID)
	}
	old.stop(t)

	id := cur.src.ThreadID()
	p.Exec(t, "KILL "+strconv.FormatUint(id, 10))
	testwait.Until(t, "reconnected", 20*time.Second, func() bool {
		n := cur.src.ThreadID()
		return n != 0 && n != id
	})
	waitDumpThreads(t, p, cur.src)
}

// waitDumpThreads waits until the server runs exactly one Binlog Dump
// thread for the sidecar's account, and it is src's.
func waitDumpThreads(t *testing.T, p *testdb.Server, src *Source) {
	t.Helper()
	var ids []string
	testwait.Until(t, "exactly one sidecar dump thread", 20*time.Second, func() bool {
		ids = ids[:0]
		for _, row := range p.Query(t, "SHOW PROCESSLIST") { // not information_schema: see health/probe's sqlDumpMariaDB
			if row["User"] == "sidecar" && strings.HasPrefix(row["Command"], "Binlog Dump") {
				ids = append(ids, row["Id"])
			}
		}
		return len(ids) == 1 && ids[0] == strconv.FormatUint(src.ThreadID(), 10)
	})
}
