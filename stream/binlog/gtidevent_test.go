package binlog

import (
	"bytes"
	"strings"
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

// taggedBody is a GTID_TAGGED_LOG_EVENT body written by MySQL 9.2 for the
// tagged GTID 896e7882-18fe-11ef-ab88-22222d34d411:foobaz:1: the test
// vector of go-mysql v1.16.0 (serialization/serialization_test.go,
// TestUmarshal_event1; go-mysql has no tagged vector in replication/).
var taggedBody = []byte{
	0x2, 0x76, 0x0, 0x0, 0x2, 0x2, 0x25, 0x2, 0xdc, 0xf0, 0x9, 0x2, 0x30, 0xf9, 0x3, 0x22, 0xbd, 0x3,
	0xad, 0x2, 0x21, 0x2, 0x44, 0x44, 0x5a, 0x68, 0x51, 0x3, 0x22, 0x4, 0x4, 0x6, 0xc, 0x66, 0x6f, 0x6f, 0x62,
	0x61, 0x7a, 0x8, 0x0, 0xa, 0x4, 0xc, 0x7f, 0x15, 0x83, 0x22, 0x2d, 0x5c, 0x2e, 0x6, 0x10, 0x49, 0x3, 0x12,
	0xc3, 0x2, 0xb,
}

const (
	taggedWantGTID = "896e7882-18fe-11ef-ab88-22222d34d411:foobaz:1"
	taggedWantICT  = 1739823289369365 // go-mysql's expected immediate_commit_timestamp
)

// TestDecodeTagged_matchesGoMySQL reads the vector as go-mysql's own test
// expects it, and as its GtidTaggedLogEvent.Decode does.
func TestDecodeTagged_matchesGoMySQL(t *testing.T) {
	var ref replication.GtidTaggedLogEvent
	if err := ref.Decode(taggedBody); err != nil {
		t.Fatalf("go-mysql Decode: %v", err)
	}
	g, us, err := decodeTagged(taggedBody)
	if err != nil {
		t.Fatal(err)
	}
	if g.String() != taggedWantGTID || us != taggedWantICT {
		t.Errorf("decodeTagged = %s, %d; want %s, %d", g, us, taggedWantGTID, taggedWantICT)
	}
	if us != int64(ref.ImmediateCommitTimestamp) || g.Seq != uint64(ref.GNO) || g.Tag != ref.Tag.String() ||
		string(g.SID[:]) != string(ref.SID) {
		t.Errorf("decodeTagged = %+v, %d; go-mysql %+v", g, us, ref)
	}
}

// TestDecodeTagged_malformed: bodies go-mysql v1.16.0 cannot read (its
// decoder panics on some) are an error, never a panic.
func TestDecodeTagged_malformed(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0x2}},
		{"two bytes", []byte{0x2, 0x76}},
		// Field 11, commit_group_ticket, present: go-mysql has no type
		// for it and dereferences nil.
		{"commit_group_ticket", append(append([]byte(nil), taggedBody...), 11<<1, 0x2)},
		{"gno truncated", taggedBody[:20]},
		// Cut after the GNO, before the tag: go-mysql reads the tag and
		// the timestamps as absent, which would name the untagged
		// uuid:1, another transaction.
		{"cut before the tag", taggedBody[:31]},
		{"unknown fixed-int encoding", func() []byte {
			b := append([]byte(nil), taggedBody...)
			b[6], b[7] = 0x25, 0x09 // an odd byte must be followed by 2 or 3
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, us, err := decodeTagged(tt.body)
			if err == nil {
				t.Errorf("decodeTagged = %s, %d, nil; want an error", g, us)
			}
			if g != (stream.GTID{}) || us != 0 {
				t.Errorf("on error: %+v, %d; want nothing", g, us)
			}
		})
	}
}

// TestDecodeTagged_everyPrefixAndByte is a small exhaustive fuzz: every
// prefix of the vector, and every value of every byte, decodes without a
// panic, and whatever it yields is either nothing or the true value (a
// prefix that ends before a field reads as the field absent).
func TestDecodeTagged_everyPrefixAndByte(t *testing.T) {
	for n := range len(taggedBody) + 1 {
		g, us, err := decodeTagged(taggedBody[:n])
		if err != nil {
			continue
		}
		if s := g.String(); s != "" && s != taggedWantGTID {
			t.Errorf("prefix of %d bytes: GTID %q, want none or %s", n, s, taggedWantGTID)
		}
		if us != 0 && us != taggedWantICT {
			t.Errorf("prefix of %d bytes: commit time %d, want 0 or %d", n, us, taggedWantICT)
		}
		if n == len(taggedBody) && (g.String() != taggedWantGTID || us != taggedWantICT) {
			t.Errorf("whole body: %s, %d", g, us)
		}
	}
	b := append([]byte(nil), taggedBody...)
	for i := range b {
		orig := b[i]
		for v := range 256 {
			b[i] = byte(v)
			decodeTagged(b) // must not panic; any result is acceptable for garbage
		}
		b[i] = orig
	}
}

// mysqlTxn feeds one MySQL-flavour transaction (GTID event of type typ,
// BEGIN, XID) stamped ts, after pos; it returns the position after it.
func mysqlTxn(t *testing.T, tr *translator, ts, pos uint32, typ byte, gtidBody []byte) uint32 {
	t.Helper()
	begin := append(make([]byte, queryPostHeaderLen+1), "BEGIN"...) // no status, empty schema and its NUL
	for _, ev := range []struct {
		typ  byte
		body []byte
	}{{typ, gtidBody}, {evQuery, begin}, {evXID, make([]byte, 8)}} {
		pos += uint32(headerLen + len(ev.body) + checksumLen)
		if err := tr.handle(event(ts, ev.typ, pos, 0, ev.body, true)); err != nil {
			t.Fatal(err)
		}
	}
	return pos
}

// TestTranslator_taggedCommitTimestampMakesLagExact is the untagged test
// above for a tagged GTID: lag is receipt minus its commit timestamp, and
// the stream's GTID is the tagged one.
func TestTranslator_taggedCommitTimestampMakesLagExact(t *testing.T) {
	const delay = 1234567 * time.Microsecond
	committed := time.UnixMicro(taggedWantICT)
	now := committed.Add(delay)
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second, Now: func() time.Time { return now }})
	tr := newTranslator(m, zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: "binlog.000001", Pos: 4})
	m.Connected()
	mysqlTxn(t, tr, uint32(committed.Unix()), 4, evGTIDTagged, taggedBody)
	s := m.Snapshot()
	if s.Transactions != 1 || s.LagSeconds == nil {
		t.Fatalf("transactions %d, lag %v (%s); want 1 transaction and a lag", s.Transactions, s.LagSeconds, s.LagUnknown)
	}
	if *s.LagSeconds != delay.Seconds() {
		t.Errorf("lag = %v s, want %v s: receipt minus immediate_commit_timestamp", *s.LagSeconds, delay.Seconds())
	}
	if got := m.Position().GTID; got != taggedWantGTID {
		t.Errorf("position GTID = %q, want %q", got, taggedWantGTID)
	}
}

// TestTranslator_taggedUndecodable: tagged GTID events that do not decode
// still open their transactions, which are counted without a commit time
// (lag follows the binlog timestamps), and the warning is logged once.
func TestTranslator_taggedUndecodable(t *testing.T) {
	var logged bytes.Buffer
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second})
	tr := newTranslator(m, zerolog.New(&logged), nil)
	tr.startSession(stream.Position{File: "binlog.000001", Pos: 4})
	m.Connected()
	bad := append(append([]byte(nil), taggedBody...), 11<<1, 0x2) // go-mysql panics on it
	pos := mysqlTxn(t, tr, uint32(time.Now().Unix()), 4, evGTIDTagged, bad)
	mysqlTxn(t, tr, uint32(time.Now().Unix()), pos, evGTIDTagged, taggedBody[:1])
	if s := m.Snapshot(); s.Transactions != 2 {
		t.Errorf("transactions = %d, want 2", s.Transactions)
	}
	if tr.batch.CommitTimeUS != 0 || m.Position().GTID != "" {
		t.Errorf("commit time %d, GTID %q; want none", tr.batch.CommitTimeUS, m.Position().GTID)
	}
	if n := strings.Count(logged.String(), "tagged GTID event not decoded"); n != 1 {
		t.Errorf("warning logged %d times, want 1:\n%s", n, logged.String())
	}
}

// TestTranslator_mysqlGTIDAllocs pins the untagged MySQL path (the
// benchmark's binlog is MariaDB's): a GTID + BEGIN + XID transaction is
// translated and metered without allocating.
func TestTranslator_mysqlGTIDAllocs(t *testing.T) {
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second})
	tr := newTranslator(m, zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: "binlog.000001", Pos: 4})
	m.Connected()
	begin := append(make([]byte, queryPostHeaderLen+1), "BEGIN"...)
	var raws [][]byte
	pos := uint32(4)
	for _, ev := range []struct {
		typ  byte
		body []byte
	}{{evGTID, mysqlGTIDBodies[0].body}, {evQuery, begin}, {evXID, make([]byte, 8)}} {
		pos += uint32(headerLen + len(ev.body) + checksumLen)
		raws = append(raws, event(uint32(time.Now().Unix()), ev.typ, pos, 0, ev.body, true))
	}
	pass := func() {
		for _, raw := range raws {
			if err := tr.handle(raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	pass()
	if allocs := testing.AllocsPerRun(100, pass); allocs != 0 {
		t.Errorf("%.1f allocations per transaction, want none", allocs)
	}
	if m.Snapshot().Transactions < 100 {
		t.Errorf("transactions = %d, want every pass counted", m.Snapshot().Transactions)
	}
}
