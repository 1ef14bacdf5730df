package binlog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestDump_matchesGoMySQL: over a workload with every column type, a
// rotation, a transaction of 1 MiB blobs, one row event over 16 MiB (sent
// in two packets) and compressed columns, the sidecar's own dump hands the
// translator exactly the events go-mysql's BinlogSyncer delivers, byte for
// byte and in order (heartbeats aside); the walker's row count of each rows
// event equals go-mysql's full decoder's (up to the compressed columns,
// which it cannot decode), and the figures equal the binlog's bytes and the
// rows written.
func TestDump_matchesGoMySQL(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	start := masterPos(t, p)
	want := workload(t, p, true)

	p.Exec(t, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
	c := p.Conn(t) // a new session, with the new packet limit
	for _, q := range []string{
		"CREATE TABLE sbtest.big (id INT PRIMARY KEY, b LONGBLOB)",
		"INSERT INTO sbtest.big SELECT seq, REPEAT('m', 1100000) FROM seq_1_to_4",
		"INSERT INTO sbtest.big VALUES (10, REPEAT('h', 17 * 1024 * 1024))",
		"DELETE FROM sbtest.big WHERE id < 3",
	} {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want.Insert += 5
	want.Delete += 2
	// Last: go-mysql's decoder cannot decode compressed columns, so its
	// row counts are compared on the events before them.
	decodable, decodablePos := p.MasterStatus(t)
	p.Exec(t, "CREATE TABLE sbtest.cz (a INT PRIMARY KEY, v VARCHAR(1000) COMPRESSED, b BLOB COMPRESSED)")
	p.Exec(t, "INSERT INTO sbtest.cz VALUES (1, REPEAT('v', 900), REPEAT('b', 5000)), (2, 'short', NULL)")
	p.Exec(t, "UPDATE sbtest.cz SET b = REPEAT('c', 300)")
	want.Insert += 2
	want.Update += 2
	end := masterPos(t, p)

	oracle := goMySQLEvents(t, p, start, end)
	got := dumpEvents(t, p, start, len(oracle))
	huge := 0
	for i := range oracle {
		if !bytes.Equal(got[i], oracle[i]) {
			h, _ := decodeHeader(oracle[i])
			t.Fatalf("event %d (type %d, end %d, %d bytes): the sidecar's dump read %d bytes that differ", i, h.typ, h.logPos, len(oracle[i]), len(got[i]))
		}
		if len(got[i]) > maxPayload {
			huge++
		}
	}
	if huge == 0 {
		t.Error("no event over 16 MiB was streamed; the continuation packets went untested")
	}
	cut, inLast := 0, false
	for ; cut < len(got); cut++ {
		h, _ := decodeHeader(got[cut])
		if h.typ == evRotate && bytes.Contains(got[cut], []byte(decodable)) {
			inLast = true
		}
		if inLast && h.logPos > decodablePos {
			break
		}
	}
	_, rowsEvents := compareWithGoMySQL(t, start.File, got[:cut])
	m, _ := replay(t, start.File, got)
	s := m.Snapshot()
	if s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
	if w := binlogBytes(t, p, start); s.Bytes != w {
		t.Errorf("Bytes = %d, want %d (binlog growth from %s)", s.Bytes, w, start)
	}
	t.Logf("%d events, %d rows events compared", len(got), rowsEvents)
}

// goMySQLEvents streams from..to through go-mysql's BinlogSyncer (raw
// mode: its framing; the full decoder then runs in compareWithGoMySQL), as
// the sidecar registers (MariaDB, annotate rows), and returns every event
// but heartbeats.
func goMySQLEvents(t *testing.T, p *testdb.Server, from, to stream.Position) [][]byte {
	t.Helper()
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4000000200, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(p.Port),
		User: "sidecar", Password: "sidecar", DisableRetrySync: true, RawModeEnabled: true,
		DumpCommandFlag: replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT,
		Logger:          slog.New(slog.DiscardHandler),
	})
	defer s.Close()
	st, err := s.StartSync(mysql.Position{Name: from.File, Pos: from.Pos})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out [][]byte
	file := from.File
	for {
		e, err := st.GetEvent(ctx)
		if err != nil {
			t.Fatalf("go-mysql after %d events: %v", len(out), err)
		}
		if ev, ok := e.Event.(*replication.RotateEvent); ok {
			file = string(ev.NextLogName)
		}
		if e.Header.EventType == replication.HEARTBEAT_EVENT || e.Header.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
			continue
		}
		out = append(out, bytes.Clone(e.RawData))
		if file == to.File && e.Header.LogPos >= to.Pos {
			return out
		}
	}
}

// dumpEvents streams n events (heartbeats aside) from `from` through the
// sidecar's own dump and framing.
func dumpEvents(t *testing.T, p *testdb.Server, from stream.Position, n int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := New(Config{Addr: p.Addr, User: "sidecar", Password: "sidecar", ServerID: 4000000201,
		HeartbeatPeriod: testHeartbeat}, stream.NewMeter(stream.MeterOptions{}), zerolog.Nop())
	d, err := src.openDump(ctx, closingDialer(ctx, time.Second), dumpRequest{
		flavor: mysqlserver.FlavorMariaDB, serverID: src.cfg.ServerID, user: src.cfg.User,
		heartbeat: testHeartbeat.Nanoseconds(), uuid: src.cfg.ReplicaUUID, pos: from,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	br, err := newBatchReader(d.conn, d.tcp, DefaultMaxDelay)
	if err != nil {
		t.Fatal(err)
	}
	r := newPacketReader(br)
	var out [][]byte
	for len(out) < n {
		raw, err := r.next()
		if err != nil {
			t.Fatalf("dump after %d events: %v", len(out), err)
		}
		if raw[4] == evHeartbeat || raw[4] == evHeartbeatV2 {
			continue
		}
		out = append(out, bytes.Clone(raw))
	}
	return out
}

// TestReplicaUUID: the UUID is a stable function of the name, well formed,
// and differs between names.
func TestReplicaUUID(t *testing.T) {
	a, b := ReplicaUUID("db-1"), ReplicaUUID("db-2")
	if a != ReplicaUUID("db-1") || a == b {
		t.Errorf("ReplicaUUID(db-1) = %s, again %s, db-2 %s: want stable and distinct", a, ReplicaUUID("db-1"), b)
	}
	if !isUUID(a) || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("ReplicaUUID(db-1) = %s, want a version 5 RFC 4122 UUID", a)
	}
}
