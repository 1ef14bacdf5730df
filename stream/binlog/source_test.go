package binlog

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestSource_countsExactly: over a workload that crosses a rotation, the
// bytes counted equal the binlog's growth exactly (SHOW BINARY LOGS sizes),
// rows equal what the test wrote, transactions equal the GTIDs the server
// assigned, with MariaDB's default annotate-rows events in the stream.
func TestSource_countsExactly(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	if got := p.Query(t, "SELECT @@binlog_annotate_row_events AS a")[0]["a"]; got != "1" {
		t.Fatalf("binlog_annotate_row_events = %s, want the default 1", got)
	}
	start := masterPos(t, p)
	seq0 := gtidSeq(t, p)
	r := startSource(t, p, Config{Start: "end"})
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })

	wantRows := workload(t, p, true)
	s := waitCaughtUp(t, p, r.meter)

	if want := binlogBytes(t, p, start); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d (binlog growth from %s)", s.Bytes, want, start)
	}
	if s.Rows != wantRows {
		t.Errorf("Rows = %+v, want %+v", s.Rows, wantRows)
	}
	if want := gtidSeq(t, p) - seq0; s.Transactions != want {
		t.Errorf("Transactions = %d, want %d (GTIDs assigned)", s.Transactions, want)
	}
	if s.Rotations != 1 {
		t.Errorf("Rotations = %d, want 1", s.Rotations)
	}
	if s.Events[stream.EventAnnotateRows] == 0 {
		t.Error("no annotate_rows events counted; the dump flag is missing")
	}
	// By bytes the largest is the FULL-image update of 26 rows with
	// their blobs (two images each), not the 5000 narrow inserts.
	if s.LargestTransaction.Rows != 26 || s.LargestTransaction.GTID == "" || s.LargestTransaction.Bytes < 1<<20 {
		t.Errorf("LargestTransaction = %+v, want the 26-row blob update with its GTID", s.LargestTransaction)
	}
	var tables []string
	for _, ts := range s.TopTables {
		tables = append(tables, ts.Schema+"."+ts.Table)
	}
	if len(tables) != 2 || tables[0] != "sbtest.types" || tables[1] != "sbtest.kv" {
		t.Errorf("TopTables = %v, want [sbtest.types sbtest.kv] (by bytes)", tables)
	}
	// Heartbeats: liveness only, and the stream reads caught up.
	hb := s.Events[stream.EventHeartbeat]
	testwait.Until(t, "heartbeat", 10*testHeartbeat, func() bool { return r.meter.Snapshot().Events[stream.EventHeartbeat] > hb })
	s2 := r.meter.Snapshot()
	if s2.Bytes != s.Bytes || !s2.CaughtUp || s2.LagSeconds == nil || *s2.LagSeconds != 0 || s2.BehindBytes == nil || *s2.BehindBytes != 0 {
		t.Errorf("after heartbeat: bytes %d (was %d), caught up %v, lag %v (%s), behind %v (%s); want unchanged, true, 0, 0",
			s2.Bytes, s.Bytes, s2.CaughtUp, s2.LagSeconds, s2.LagUnknown, s2.BehindBytes, s2.BehindUnknown)
	}
}

// TestSource_stall: a frozen server shows as stalled within 3 heartbeat
// periods, as down once the read timeout passes, and as recovered once it
// runs again.
func TestSource_stall(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	const readTimeout = 10 * testHeartbeat
	r := startSource(t, p, Config{ReadTimeout: readTimeout})
	testwait.Until(t, "first heartbeat", 10*time.Second, func() bool {
		return r.meter.Snapshot().Events[stream.EventHeartbeat] > 0
	})
	if r.meter.Snapshot().Stalled() {
		t.Fatal("stalled before the server was paused")
	}

	p.Pause()
	paused := time.Now()
	// 3 periods plus slack for a loaded machine; the stream stays
	// connected until the read timeout.
	testwait.Until(t, "stalled", readTimeout, func() bool { return r.meter.Snapshot().Stalled() })
	t.Logf("stalled %v after SIGSTOP", time.Since(paused).Round(time.Millisecond))

	p.Resume()
	resumed := time.Now()
	testwait.Until(t, "recovered", 10*time.Second, func() bool {
		s := r.meter.Snapshot()
		return s.Connected && !s.Stalled() && s.LastReceived.After(resumed)
	})
	if s := r.meter.Snapshot(); s.Reconnects != 0 {
		t.Errorf("Reconnects = %d after a short stall, want 0 (the stream should have survived)", s.Reconnects)
	}

	// Frozen past the read timeout: the stream is declared down.
	p.Pause()
	testwait.Until(t, "down after the read timeout", readTimeout+5*time.Second, func() bool {
		s := r.meter.Snapshot()
		return !s.Connected && strings.Contains(s.LastError, "read timeout")
	})
	if err := r.src.LastError(); !errors.Is(err, ErrReadTimeout) {
		t.Errorf("LastError = %v, want ErrReadTimeout", err)
	}
	p.Resume()
	resumed = time.Now()
	testwait.Until(t, "reconnected", 20*time.Second, func() bool {
		s := r.meter.Snapshot()
		return s.Connected && s.LastReceived.After(resumed)
	})
}

// TestSource_restart: the stream reconnects after a server restart and
// counts every row exactly once.
func TestSource_restart(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.r (id INT PRIMARY KEY, v VARCHAR(20))")
	start := masterPos(t, p)
	seq0 := gtidSeq(t, p)
	r := startSource(t, p, Config{})
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })

	p.Exec(t, "INSERT INTO sbtest.r VALUES "+insertValues(1, 100, func(i int) string { return itoa(i) + ", 'before'" }))
	waitCaughtUp(t, p, r.meter)

	p.Restart(t)
	p.Exec(t, "INSERT INTO sbtest.r VALUES "+insertValues(101, 50, func(i int) string { return itoa(i) + ", 'after'" }))
	p.Exec(t, "UPDATE sbtest.r SET v = 'again' WHERE id <= 20")
	s := waitCaughtUp(t, p, r.meter)

	if want := (stream.Rows{Insert: 150, Update: 20}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
	if want := gtidSeq(t, p) - seq0; s.Transactions != want {
		t.Errorf("Transactions = %d, want %d", s.Transactions, want)
	}
	if want := binlogBytes(t, p, start); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}
	if s.Reconnects == 0 {
		t.Error("Reconnects = 0, want at least 1")
	}
	if !s.Connected || s.LastError != "" {
		t.Errorf("after recovery: connected %v, last error %q", s.Connected, s.LastError)
	}
}

// TestSource_purgedGap: a stream resumed from a position whose file was
// purged meanwhile restarts at the oldest file and records the gap.
func TestSource_purgedGap(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.g (id INT PRIMARY KEY)")
	first := startSource(t, p, Config{Start: "earliest"})
	p.Exec(t, "INSERT INTO sbtest.g VALUES (1), (2)")
	saved := waitCaughtUp(t, p, first.meter).Position
	first.stop(t)

	p.Exec(t, "INSERT INTO sbtest.g VALUES (3)") // lost with the purge
	p.Exec(t, "FLUSH BINARY LOGS")
	p.Exec(t, "INSERT INTO sbtest.g VALUES (4)")
	p.Exec(t, "FLUSH BINARY LOGS")
	p.Exec(t, "INSERT INTO sbtest.g VALUES (5), (6)")
	files := p.BinlogFiles(t)
	oldest := files[len(files)-2].Name
	p.Exec(t, "PURGE BINARY LOGS TO '"+oldest+"'")

	second := startSource(t, p, Config{Start: saved.File + ":" + itoa(int(saved.Pos))})
	s := waitCaughtUp(t, p, second.meter)
	if len(s.Gaps) != 1 {
		t.Fatalf("Gaps = %+v, want one", s.Gaps)
	}
	g := s.Gaps[0]
	if g.From.File != saved.File || g.From.Pos != saved.Pos || g.To.File != oldest || g.To.Pos != 4 || !strings.Contains(g.Reason, "purged") {
		t.Errorf("Gap = %+v, want from %s to %s:4 because purged", g, saved, oldest)
	}
	if want := (stream.Rows{Insert: 3}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v (the rows after the gap)", s.Rows, want)
	}
	if want := binlogBytes(t, p, stream.Position{File: oldest, Pos: 4}); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}
}

// TestSource_gtidStart: a stream started from a GTID set counts what
// follows it, and none of the artificial events of a GTID dump.
func TestSource_gtidStart(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.s (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO sbtest.s VALUES (1)")
	pos := p.Query(t, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
	start := masterPos(t, p)
	p.Exec(t, "INSERT INTO sbtest.s VALUES (2), (3)")
	p.Exec(t, "FLUSH BINARY LOGS")
	p.Exec(t, "INSERT INTO sbtest.s VALUES (4)")

	r := startSource(t, p, Config{Start: "gtid:" + pos})
	s := waitCaughtUp(t, p, r.meter)
	if want := (stream.Rows{Insert: 3}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
	if s.Transactions != 2 {
		t.Errorf("Transactions = %d, want 2", s.Transactions)
	}
	if want := binlogBytes(t, p, start); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}

	// From a set the server has nothing after: caught up, nothing counted
	// (the rotation's binlog checkpoint is written by now, before the set's
	// last transaction).
	p.Exec(t, "INSERT INTO sbtest.s VALUES (5)")
	now := p.Query(t, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
	end := masterPos(t, p)
	idle := startSource(t, p, Config{Start: "gtid:" + now, ServerID: 4000000002})
	s = waitCaughtUp(t, p, idle.meter)
	if want := binlogBytes(t, p, end); s.Bytes != want || s.Transactions != 0 {
		t.Errorf("from the current set: bytes %d, transactions %d; want %d, 0", s.Bytes, s.Transactions, want)
	}
}

// TestSource_stopAt: with StopAt, Run returns nil at that position.
func TestSource_stopAt(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.st (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO sbtest.st VALUES (1), (2)")
	end := masterPos(t, p)
	p.Exec(t, "INSERT INTO sbtest.st VALUES (3)")

	r := startSource(t, p, Config{Start: "earliest", StopAt: &end})
	select {
	case err := <-r.done:
		close(r.done)
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return at StopAt")
	}
	s := r.meter.Snapshot()
	if s.Position.File != end.File || s.Position.Pos != end.Pos {
		t.Errorf("Position = %v, want %v", s.Position, end)
	}
	if want := (stream.Rows{Insert: 2}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
}

// TestSource_serverProblems: each misconfiguration shows in the snapshot
// as an error naming the problem and a hint naming the fix, the stream
// stays down, retries go on, and Run does not return.
func TestSource_serverProblems(t *testing.T) {
	tests := []struct {
		name      string
		opts      testdb.Options
		logBin    bool
		cfg       Config
		wantErr   error
		wantInErr string
		wantHint  string
	}{
		{
			name: "wrong password", logBin: true,
			cfg:     Config{User: "sidecar", Password: "wrong"},
			wantErr: ErrAccessDenied, wantInErr: "Access denied", wantHint: "SIDECAR_MYSQL_PASSWORD",
		},
		{
			name: "no REPLICATION SLAVE", logBin: true,
			cfg:     Config{User: "norepl", Password: "norepl"},
			wantErr: ErrMissingPrivilege, wantInErr: "Access denied", wantHint: "GRANT REPLICATION SLAVE",
		},
		{
			name:    "binlog off",
			wantErr: ErrBinlogDisabled, wantInErr: "log_bin is OFF", wantHint: "log_bin",
		},
		{
			name: "statement format", logBin: true, opts: testdb.Options{BinlogFormat: "STATEMENT"},
			wantErr: ErrNotRowFormat, wantInErr: "binlog_format is STATEMENT; the sidecar needs ROW",
			wantHint: "SET GLOBAL binlog_format=ROW",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.LogBin = tt.logBin
			srv := testdb.Start(t, o)
			r := startSource(t, srv, tt.cfg)
			var s stream.Snapshot
			testwait.Until(t, "an error and two retries", 20*time.Second, func() bool {
				s = r.meter.Snapshot()
				return s.LastError != "" && s.Reconnects >= 2
			})
			if s.Connected {
				t.Error("Connected = true, want false")
			}
			if !strings.Contains(s.LastError, tt.wantInErr) {
				t.Errorf("LastError = %q, want it to contain %q", s.LastError, tt.wantInErr)
			}
			if !strings.Contains(s.Hint, tt.wantHint) {
				t.Errorf("Hint = %q, want it to contain %q", s.Hint, tt.wantHint)
			}
			// The typed error behind the snapshot text.
			if err := r.src.LastError(); !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want errors.Is %v", err, tt.wantErr)
			}
			select {
			case err := <-r.done:
				t.Fatalf("Run returned %v; it must keep retrying", err)
			default:
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSource_registration: the sidecar registers under RegisterHost and
// its server_id, and never as a semi-sync replica, even on a primary with
// semi-sync on.
func TestSource_registration(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{Extra: []string{
		"--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-master-timeout=200"}})
	const id = 4000000007
	r := startSource(t, p, Config{ServerID: id})
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })

	var own int
	testwait.Until(t, "registration", 5*time.Second, func() bool {
		own = 0
		for _, row := range p.Query(t, "SHOW SLAVE HOSTS") {
			sid, _ := strconv.ParseUint(row["Server_id"], 10, 32)
			if IsOwnRegistration(uint32(sid), row["Host"], id) {
				own++
			}
		}
		return own == 1
	})
	for _, row := range p.Query(t, "SHOW SLAVE HOSTS") {
		if row["Server_id"] == strconv.FormatUint(id, 10) && row["Port"] != strconv.Itoa(p.Port) {
			t.Errorf("registered with port %s, want the port dialled, %d (as go-mysql registers)", row["Port"], p.Port)
		}
	}
	p.Exec(t, "CREATE TABLE sbtest.ss (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO sbtest.ss VALUES (1)")
	waitCaughtUp(t, p, r.meter)
	st := p.Query(t, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
	if len(st) != 1 || st[0]["Value"] != "0" {
		t.Errorf("Rpl_semi_sync_master_clients = %v, want 0: the sidecar must never be a semi-sync replica", st)
	}
}

// TestSource_unixSocket: Addr may be a unix socket path.
func TestSource_unixSocket(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.us (id INT PRIMARY KEY)")
	end := masterPos(t, p)
	r := startSource(t, p, Config{Addr: p.Socket, Start: "earliest", StopAt: &end})
	select {
	case err := <-r.done:
		close(r.done)
		if err != nil {
			t.Fatalf("Run = %v, want nil at StopAt", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no stream over %s: %+v", p.Socket, r.meter.Snapshot())
	}
}
