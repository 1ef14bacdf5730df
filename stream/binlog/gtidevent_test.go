package binlog

import (
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// mysqlGTIDBodies are GTID event bodies written by real servers, the test
// vectors of go-mysql v1.16.0 (replication/event_test.go,
// TestGTIDEventMysql8NewFields), from MySQL 5.7 and 8.0.19.
var mysqlGTIDBodies = []struct {
	name    string
	body    []byte
	wantICT int64
}{
	{
		// A MySQL 8.0 replica's binlog of a transaction from a 5.7
		// source: the top bit of the immediate timestamp is set and the
		// original timestamp (0: the source had none) follows.
		name:    "8.0 with original_commit_timestamp",
		body:    []byte("\x00Z\xa7*\u007fD\xa8\x11\xea\x94\u007f\x02B\xac\x19\x00\x02\x02\x01\x00\x00\x00\x00\x00\x00\x02v\x00\x00\x00\x00\x00\x00\x00w\x00\x00\x00\x00\x00\x00\x00\xc1G\x81\x16x\xa0\x85\x00\x00\x00\x00\x00\x00\x00\xfc\xc5\x03\x938\x01\x80\x00\x00\x00\x00"),
		wantICT: 1583812517644225,
	},
	{
		name:    "5.7: no commit timestamps",
		body:    []byte("\x00Z\xa7*\u007fD\xa8\x11\xea\x94\u007f\x02B\xac\x19\x00\x02\x03\x01\x00\x00\x00\x00\x00\x00\x025\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00\x00\x00\x00\x00"),
		wantICT: 0,
	},
	{
		name:    "8.0 source: immediate only",
		body:    []byte("\x00\\\xcc\x103D\xa8\x11\xea\xbdY\x02B\xac\x19\x00\x03w\x00\x00\x00\x00\x00\x00\x00\x02x\x00\x00\x00\x00\x00\x00\x00y\x00\x00\x00\x00\x00\x00\x00j0\xb1>x\xa0\x05\xfc\xc3\x03\x938\x01\x00"),
		wantICT: 1583813191872618,
	},
}

// TestImmediateCommitUS_matchesGoMySQL holds the hand-written parser to
// go-mysql's GTIDEvent.Decode on real MySQL bytes, and to the values
// go-mysql's own test expects.
func TestImmediateCommitUS_matchesGoMySQL(t *testing.T) {
	for _, tt := range mysqlGTIDBodies {
		t.Run(tt.name, func(t *testing.T) {
			var ref replication.GTIDEvent
			if err := ref.Decode(tt.body); err != nil {
				t.Fatalf("go-mysql Decode: %v", err)
			}
			got := immediateCommitUS(tt.body)
			if got != int64(ref.ImmediateCommitTimestamp) || got != tt.wantICT {
				t.Errorf("immediateCommitUS = %d, go-mysql %d, want %d", got, ref.ImmediateCommitTimestamp, tt.wantICT)
			}
		})
	}
}

// TestImmediateCommitUS_truncated: any prefix of a real body is read
// without a panic, and yields the timestamp only when all 7 bytes are there.
func TestImmediateCommitUS_truncated(t *testing.T) {
	body := mysqlGTIDBodies[0].body
	for n := range len(body) + 1 {
		got := immediateCommitUS(body[:n])
		want := int64(0)
		if n >= gtidICTMinBody {
			want = mysqlGTIDBodies[0].wantICT
		}
		if got != want {
			t.Errorf("prefix of %d bytes: %d, want %d", n, got, want)
		}
	}
}

// TestTranslator_mysqlCommitTimestampMakesLagExact feeds a MySQL-flavour
// transaction (GTID with immediate_commit_timestamp, BEGIN, XID) and
// checks that the meter's lag is receipt minus the commit timestamp, to
// the microsecond, without the canary; and that it becomes the commit's age
// when the server's end is known to be beyond the stream.
func TestTranslator_mysqlCommitTimestampMakesLagExact(t *testing.T) {
	const delay = 1234567 * time.Microsecond
	body := append([]byte(nil), mysqlGTIDBodies[2].body...)
	committed := time.UnixMicro(mysqlGTIDBodies[2].wantICT)
	now := committed.Add(delay)
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second, Now: func() time.Time { return now }})
	tr := newTranslator(m, zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: "binlog.000001", Pos: 4})
	m.Connected()
	ts := uint32(committed.Unix())
	begin := append(make([]byte, queryPostHeaderLen+1), "BEGIN"...) // no status, empty schema and its NUL
	pos := uint32(4)
	for _, ev := range []struct {
		typ  byte
		body []byte
	}{{evGTID, body}, {evQuery, begin}, {evXID, make([]byte, 8)}} {
		pos += uint32(headerLen + len(ev.body) + checksumLen)
		if err := tr.handle(event(ts, ev.typ, pos, 0, ev.body, true)); err != nil {
			t.Fatal(err)
		}
	}
	s := m.Snapshot()
	if s.Transactions != 1 || s.LagSeconds == nil {
		t.Fatalf("transactions %d, lag %v (%s); want 1 transaction and a lag", s.Transactions, s.LagSeconds, s.LagUnknown)
	}
	if *s.LagSeconds != delay.Seconds() {
		t.Errorf("lag = %v s, want %v s: receipt minus immediate_commit_timestamp", *s.LagSeconds, delay.Seconds())
	}

	// Later, with the server's end beyond the stream: the commit's age.
	now = now.Add(500 * time.Millisecond)
	m.SetServerEnd(stream.Position{File: "binlog.000001", Pos: pos + 100})
	if s := m.Snapshot(); s.LagSeconds == nil || *s.LagSeconds != (delay+500*time.Millisecond).Seconds() {
		t.Errorf("behind: lag = %v, want %v s: now minus the newest commit", s.LagSeconds, (delay + 500*time.Millisecond).Seconds())
	}
}
