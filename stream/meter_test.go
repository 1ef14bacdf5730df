package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for the meter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newTestMeter(opts MeterOptions) (*Meter, *fakeClock) {
	c := &fakeClock{t: t0}
	opts.Now = c.now
	return NewMeter(opts), c
}

// txBatch builds the batch of one row transaction.
func txBatch(file string, pos uint32, bytes uint64, rows Rows, table string) *Batch {
	b := &Batch{Transaction: true, File: file, Pos: pos, Bytes: bytes, Rows: rows,
		EventTime: uint32(t0.Unix())}
	b.Events[EventGTID] = 1
	b.Events[EventTableMap] = 1
	b.Events[EventWriteRows] = 1
	b.Events[EventXID] = 1
	b.AddTable("app", table, bytes/2, rows.Total())
	return b
}

func TestMeter_Commit(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	m.Commit(txBatch("b.000001", 500, 496, Rows{Insert: 3}, "t1"))
	m.Commit(txBatch("b.000001", 900, 400, Rows{Update: 2, Delete: 1}, "t2"))
	rot := &Batch{Rotations: 1, File: "b.000002", Pos: 4, Bytes: 44}
	rot.Events[EventRotate] = 1
	m.Commit(rot)

	s := m.Snapshot()
	want := Counters{Bytes: 940, Rows: Rows{Insert: 3, Update: 2, Delete: 1}, Transactions: 2}
	want.Events[EventGTID] = 2
	want.Events[EventTableMap] = 2
	want.Events[EventWriteRows] = 2
	want.Events[EventXID] = 2
	want.Events[EventRotate] = 1
	if s.Counters != want {
		t.Errorf("Counters = %+v, want %+v", s.Counters, want)
	}
	if s.Rotations != 1 {
		t.Errorf("Rotations = %d, want 1", s.Rotations)
	}
	if got, want := s.Position, (Position{File: "b.000002", Pos: 4}); got != want {
		t.Errorf("Position = %v, want %v", got, want)
	}
	if got, want := s.EventsTotal(), uint64(9); got != want {
		t.Errorf("EventsTotal = %d, want %d", got, want)
	}
}

func TestMeter_TakeInterval(t *testing.T) {
	m, clock := newTestMeter(MeterOptions{})
	m.Commit(txBatch("b.000001", 500, 1000, Rows{Insert: 10}, "big"))
	clock.advance(10 * time.Second)
	first := m.TakeInterval()

	m.Commit(txBatch("b.000001", 700, 200, Rows{Insert: 1}, "small"))
	clock.advance(10 * time.Second)
	second := m.TakeInterval()

	tests := []struct {
		name        string
		give        Interval
		wantStart   time.Time
		wantEnd     time.Time
		wantBytes   uint64
		wantLargest uint64
		wantTables  []TableStat
	}{
		{"first", first, t0, t0.Add(10 * time.Second), 1000, 1000,
			[]TableStat{{Schema: "app", Table: "big", Bytes: 500, Rows: 10}}},
		{"second only has its own figures", second, t0.Add(10 * time.Second), t0.Add(20 * time.Second), 200, 200,
			[]TableStat{{Schema: "app", Table: "small", Bytes: 100, Rows: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.give.Start.Equal(tt.wantStart) || !tt.give.End.Equal(tt.wantEnd) {
				t.Errorf("interval = %v..%v, want %v..%v", tt.give.Start, tt.give.End, tt.wantStart, tt.wantEnd)
			}
			if tt.give.Counters.Bytes != tt.wantBytes {
				t.Errorf("Bytes = %d, want %d", tt.give.Counters.Bytes, tt.wantBytes)
			}
			if tt.give.LargestTransaction.Bytes != tt.wantLargest {
				t.Errorf("LargestTransaction.Bytes = %d, want %d", tt.give.LargestTransaction.Bytes, tt.wantLargest)
			}
			if !reflect.DeepEqual(tt.give.TopTables, tt.wantTables) {
				t.Errorf("TopTables = %+v, want %+v", tt.give.TopTables, tt.wantTables)
			}
		})
	}
	// The cumulative figures are untouched by TakeInterval.
	if got := m.Snapshot().Bytes; got != 1200 {
		t.Errorf("Snapshot().Bytes = %d, want 1200", got)
	}
}

func TestMeter_LargestTransaction(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	small := txBatch("b.000001", 300, 100, Rows{Insert: 1}, "t")
	big := txBatch("b.000001", 9000, 5000, Rows{Insert: 50}, "t")
	big.GTID = GTID{Kind: GTIDMariaDB, Domain: 0, Server: 1, Seq: 7}
	later := txBatch("b.000001", 9500, 400, Rows{Insert: 4}, "t")
	m.Commit(small)
	m.Commit(big)
	m.Commit(later)

	want := Transaction{Bytes: 5000, Rows: 50, GTID: "0-1-7", Position: Position{File: "b.000001", Pos: 9000}}
	if got := m.Snapshot().LargestTransaction; got != want {
		t.Errorf("LargestTransaction = %+v, want %+v", got, want)
	}
	if got := m.Snapshot().Position.GTID; got != "0-1-7" {
		t.Errorf("Position.GTID = %q, want the last transaction's GTID %q", got, "0-1-7")
	}
}

func TestMeter_Histograms(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	for _, give := range []struct {
		bytes uint64
		rows  uint64
	}{{200, 1}, {256, 1}, {257, 2}, {1 << 30, 2000000}} {
		m.Commit(txBatch("b.000001", 4, give.bytes, Rows{Insert: give.rows}, "t"))
	}
	// A non-transaction batch does not enter the distributions.
	m.Commit(&Batch{Bytes: 100, File: "b.000001", Pos: 4})

	s := m.Snapshot()
	tests := []struct {
		name string
		give Histogram
		want Histogram
	}{
		{"bytes", s.TxBytesHist, Histogram{
			Bounds: TxBytesBuckets,
			Counts: []uint64{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			Count:  4, Sum: 200 + 256 + 257 + 1<<30,
		}},
		{"rows", s.TxRowsHist, Histogram{
			Bounds: TxRowsBuckets,
			Counts: []uint64{0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			Count:  4, Sum: 2000004,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.give, tt.want) {
				t.Errorf("histogram = %+v, want %+v", tt.give, tt.want)
			}
		})
	}
	if got, want := s.TxBytesHist.Cumulative()[:3], []uint64{2, 3, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Cumulative()[:3] = %v, want %v", got, want)
	}
}

func TestMeter_Lag(t *testing.T) {
	eventAt := t0.Add(-5 * time.Second)
	tests := []struct {
		name string
		// steps run in order on a fresh meter at t0
		steps       func(m *Meter, c *fakeClock)
		wantLag     string // "unknown" when left out
		wantCaught  bool
		wantBehind  string // "unknown" when left out
		wantEndFile string
	}{
		{
			name:       "before the first connection: unknown",
			steps:      func(m *Meter, c *fakeClock) {},
			wantLag:    "unknown",
			wantBehind: "unknown",
		},
		{
			name: "behind: now minus last event time",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
			},
			wantLag:    "5",
			wantBehind: "unknown",
		},
		{
			name: "heartbeat at the position: caught up",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 500)
			},
			wantLag:     "0",
			wantCaught:  true,
			wantBehind:  "0",
			wantEndFile: "b.000001",
		},
		{
			name: "heartbeat elsewhere is liveness only",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 900)
			},
			wantLag:    "5",
			wantBehind: "unknown",
		},
		{
			name: "newer server end clears caught up",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 500)
				m.SetServerEnd(Position{File: "b.000001", Pos: 800})
			},
			wantLag:     "5",
			wantBehind:  "300",
			wantEndFile: "b.000001",
		},
		{
			name: "stale server end keeps caught up",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 500)
				m.SetServerEnd(Position{File: "b.000001", Pos: 400})
			},
			wantLag:     "0",
			wantCaught:  true,
			wantBehind:  "0",
			wantEndFile: "b.000001",
		},
		{
			name: "new event after caught up",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 500)
				m.Commit(&Batch{File: "b.000001", Pos: 600, EventTime: uint32(t0.Add(-2 * time.Second).Unix())})
			},
			wantLag:     "0", // the position is past the server end known
			wantBehind:  "0",
			wantEndFile: "b.000001",
		},
		{
			name: "server end in a later file: behind unknown",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500})
				m.SetServerEnd(Position{File: "b.000002", Pos: 100})
			},
			wantLag:     "unknown",
			wantBehind:  "unknown",
			wantEndFile: "b.000002",
		},
		{
			name: "caught up survives a disconnect",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Heartbeat("b.000001", 500)
				m.Disconnected(errors.New("eof"), "")
			},
			wantLag:     "0",
			wantCaught:  true,
			wantBehind:  "0",
			wantEndFile: "b.000001",
		},
		{
			name: "position at the server end read at the last poll: 0 though the event is old",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.SetServerEnd(Position{File: "b.000001", Pos: 500})
			},
			wantLag:     "0",
			wantBehind:  "0",
			wantEndFile: "b.000001",
		},
		{
			name: "newest event stamped in the current second: 0 (the timestamps' resolution)",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(t0.Unix())})
				c.advance(900 * time.Millisecond)
			},
			wantLag:    "0",
			wantBehind: "unknown",
		},
		{
			name: "newest event stamped in the previous second: its age",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(t0.Unix())})
				c.advance(1500 * time.Millisecond)
			},
			wantLag:    "1.5",
			wantBehind: "unknown",
		},
		{
			name: "stream stopped while the server moves on: the age grows",
			steps: func(m *Meter, c *fakeClock) {
				m.Commit(&Batch{File: "b.000001", Pos: 500, EventTime: uint32(eventAt.Unix())})
				m.Connected()
				m.Disconnected(errors.New("eof"), "")
				m.SetServerEnd(Position{File: "b.000001", Pos: 900})
				c.advance(10 * time.Second)
			},
			wantLag:     "15",
			wantBehind:  "400",
			wantEndFile: "b.000001",
		},
		{
			name: "connected, no event yet and not at the end: unknown",
			steps: func(m *Meter, c *fakeClock) {
				m.SetPosition(Position{File: "b.000001", Pos: 4})
				m.Connected()
				m.SetServerEnd(Position{File: "b.000001", Pos: 900})
			},
			wantLag:     "unknown",
			wantBehind:  "896",
			wantEndFile: "b.000001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newTestMeter(MeterOptions{})
			tt.steps(m, c)
			s := m.Snapshot()
			if got := orUnknown(s.LagSeconds, s.LagUnknown); got != tt.wantLag {
				t.Errorf("LagSeconds = %s, want %s", got, tt.wantLag)
			}
			if s.CaughtUp != tt.wantCaught {
				t.Errorf("CaughtUp = %v, want %v", s.CaughtUp, tt.wantCaught)
			}
			if got := orUnknown(s.BehindBytes, s.BehindUnknown); got != tt.wantBehind {
				t.Errorf("BehindBytes = %s, want %s", got, tt.wantBehind)
			}
			if s.ServerEnd.File != tt.wantEndFile {
				t.Errorf("ServerEnd.File = %q, want %q", s.ServerEnd.File, tt.wantEndFile)
			}
		})
	}
}

// TestMeter_LagFromCommitTimestamps: with MySQL 8's commit timestamps lag
// is exact: how late the newest transaction arrived while the stream is
// live or at the end, the age of that commit once the stream is known to
// be behind or is not live.
func TestMeter_LagFromCommitTimestamps(t *testing.T) {
	const hb = time.Second
	committed := t0.Add(-1500 * time.Microsecond) // received 1.5 ms after its commit
	tx := func(pos uint32) *Batch {
		return &Batch{Transaction: true, File: "b.000001", Pos: pos, EventTime: uint32(committed.Unix()), CommitTimeUS: committed.UnixMicro()}
	}
	tests := []struct {
		name    string
		steps   func(m *Meter, c *fakeClock)
		wantLag string
	}{
		{
			name: "live: how late the newest transaction arrived",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
			},
			wantLag: "0.0015",
		},
		{
			name: "idle server sending heartbeats: still how late it arrived, not its age",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				for range 10 {
					c.advance(hb)
					m.Heartbeat("b.000001", 500)
				}
			},
			wantLag: "0.0015",
		},
		{
			name: "stuck: nothing received for two heartbeat periods, the commit's age",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				c.advance(3 * hb)
			},
			wantLag: "3.0015",
		},
		{
			name: "server end beyond the stream: the commit's age",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				c.advance(hb / 2)
				m.SetServerEnd(Position{File: "b.000001", Pos: 900})
			},
			wantLag: "0.5015",
		},
		{
			name: "caught up survives a disconnect",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				m.Heartbeat("b.000001", 500)
				m.Disconnected(errors.New("eof"), "")
				c.advance(10 * hb)
			},
			wantLag: "0.0015",
		},
		{
			name: "server clock ahead of ours: 0, not negative",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(&Batch{Transaction: true, File: "b.000001", Pos: 500, CommitTimeUS: t0.Add(time.Second).UnixMicro()})
			},
			wantLag: "0",
		},
		{
			name: "a transaction without its commit time: the binlog timestamps' rule",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				m.Commit(&Batch{Transaction: true, File: "b.000001", Pos: 600, EventTime: uint32(t0.Add(-5 * time.Second).Unix())})
			},
			wantLag: "5",
		},
		{
			name: "an event outside a transaction (a ROTATE) keeps the figure",
			steps: func(m *Meter, c *fakeClock) {
				m.Connected()
				m.Commit(tx(500))
				m.Commit(&Batch{File: "b.000002", Pos: 4, EventTime: uint32(t0.Unix()), Rotations: 1})
			},
			wantLag: "0.0015",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newTestMeter(MeterOptions{HeartbeatPeriod: hb})
			tt.steps(m, c)
			s := m.Snapshot()
			if got := orUnknown(s.LagSeconds, s.LagUnknown); got != tt.wantLag {
				t.Errorf("LagSeconds = %s, want %s", got, tt.wantLag)
			}
		})
	}
}

// orUnknown renders an optional figure, "unknown" when it is left out
// (and then a reason must be given).
func orUnknown[T int64 | float64](v *T, why string) string {
	switch {
	case v == nil && why != "":
		return "unknown"
	case v == nil:
		return "unknown without a reason"
	case why != "":
		return fmt.Sprint(*v, " with a reason")
	}
	return fmt.Sprint(*v)
}

func TestMeter_Liveness(t *testing.T) {
	const hb = time.Second
	tests := []struct {
		name        string
		steps       func(m *Meter, c *fakeClock)
		wantStalled bool
	}{
		{"not connected is never stalled", func(m *Meter, c *fakeClock) { c.advance(time.Hour) }, false},
		{"connected, quiet for 3 periods exactly", func(m *Meter, c *fakeClock) {
			m.Connected()
			c.advance(3 * hb)
		}, false},
		{"connected, quiet for longer", func(m *Meter, c *fakeClock) {
			m.Connected()
			c.advance(3*hb + time.Millisecond)
		}, true},
		{"heartbeats keep it alive", func(m *Meter, c *fakeClock) {
			m.Connected()
			for range 10 {
				c.advance(hb)
				m.Heartbeat("b.000001", 4)
			}
		}, false},
		{"heartbeats stop", func(m *Meter, c *fakeClock) {
			m.Connected()
			c.advance(hb)
			m.Heartbeat("b.000001", 4)
			c.advance(4 * hb)
		}, true},
		{"touch inside a long transaction keeps it alive", func(m *Meter, c *fakeClock) {
			m.Connected()
			for range 10 {
				c.advance(2 * hb)
				m.Touch()
			}
		}, false},
		{"reconnect restarts the clock", func(m *Meter, c *fakeClock) {
			m.Connected()
			c.advance(10 * hb)
			m.Disconnected(errors.New("eof"), "")
			m.Connected()
			c.advance(hb)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newTestMeter(MeterOptions{HeartbeatPeriod: hb})
			tt.steps(m, c)
			if got := m.Snapshot().Stalled(); got != tt.wantStalled {
				t.Errorf("Stalled() = %v, want %v", got, tt.wantStalled)
			}
		})
	}
}

func TestMeter_Heartbeat_countsNoBytes(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	m.Heartbeat("b.000001", 4)
	m.Heartbeat("b.000001", 4)
	s := m.Snapshot()
	if s.Events[EventHeartbeat] != 2 || s.Bytes != 0 || s.EventsTotal() != 2 {
		t.Errorf("heartbeats = %d, bytes = %d, events = %d; want 2, 0, 2",
			s.Events[EventHeartbeat], s.Bytes, s.EventsTotal())
	}
	if got := m.TakeInterval().Counters.Events[EventHeartbeat]; got != 2 {
		t.Errorf("interval heartbeats = %d, want 2", got)
	}
}

func TestMeter_ConnectionState(t *testing.T) {
	m, c := newTestMeter(MeterOptions{})
	m.Reconnecting()
	m.Disconnected(errors.New("binlog_format is STATEMENT"), "SET GLOBAL binlog_format=ROW")
	m.Reconnecting()
	s := m.Snapshot()
	if s.Connected || s.LastError != "binlog_format is STATEMENT" || s.Hint != "SET GLOBAL binlog_format=ROW" ||
		!s.LastErrorAt.Equal(t0) || s.Reconnects != 2 {
		t.Errorf("after failure: %+v", s)
	}

	c.advance(time.Second)
	m.Connected()
	s = m.Snapshot()
	if !s.Connected || s.LastError != "" || s.Hint != "" || !s.ConnectedSince.Equal(t0.Add(time.Second)) {
		t.Errorf("after connect: connected %v, error %q, hint %q, since %v",
			s.Connected, s.LastError, s.Hint, s.ConnectedSince)
	}
}

func TestMeter_RecordGap(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	for i := range maxGaps + 3 {
		m.RecordGap(Gap{
			From:   Position{File: fmt.Sprintf("b.%06d", i+1), Pos: 100},
			To:     Position{File: fmt.Sprintf("b.%06d", i+2), Pos: 4},
			Reason: "purged",
		})
	}
	s := m.Snapshot()
	if len(s.Gaps) != maxGaps {
		t.Fatalf("len(Gaps) = %d, want %d", len(s.Gaps), maxGaps)
	}
	if got, want := s.Gaps[0].From.File, "b.000004"; got != want {
		t.Errorf("oldest kept gap from %q, want %q", got, want)
	}
	if !s.Gaps[0].At.Equal(t0) {
		t.Errorf("Gap.At = %v, want the meter clock %v", s.Gaps[0].At, t0)
	}
	if got, want := s.Position, (Position{File: "b.000020", Pos: 4}); got != want {
		t.Errorf("Position after gap = %v, want %v", got, want)
	}
	if s.GapsTotal != maxGaps+3 {
		t.Errorf("GapsTotal = %d, want %d: every gap counts, not only the kept ones", s.GapsTotal, maxGaps+3)
	}
	m.RecordGap(Gap{Reason: "purged"})
	if got := m.Snapshot(); got.GapsTotal != maxGaps+4 || len(got.Gaps) != maxGaps {
		t.Errorf("after one more gap: GapsTotal %d, len(Gaps) %d; want %d, %d", got.GapsTotal, len(got.Gaps), maxGaps+4, maxGaps)
	}
	b, err := json.Marshal(m.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"gaps_total":%d`, maxGaps+4); !strings.Contains(string(b), want) {
		t.Errorf("JSON %s lacks %s", b, want)
	}
}

func TestMeter_TopTables(t *testing.T) {
	tests := []struct {
		name      string
		topN      int
		give      func(add func(schema, table string, bytes uint64))
		wantFirst []TableStat
	}{
		{
			name: "exact while few tables",
			topN: 2,
			give: func(add func(string, string, uint64)) {
				add("a", "x", 10)
				add("a", "y", 30)
				add("a", "z", 20)
				add("a", "x", 15)
			},
			wantFirst: []TableStat{{Schema: "a", Table: "y", Bytes: 30, Rows: 1}, {Schema: "a", Table: "x", Bytes: 25, Rows: 2}},
		},
		{
			name: "heavy hitter survives thousands of small tables",
			topN: 1,
			give: func(add func(string, string, uint64)) {
				for i := range 5000 {
					add("s", fmt.Sprintf("t%d", i), 10)
					if i%10 == 0 {
						add("s", "hot", 1000)
					}
				}
			},
			// Never evicted, so exact: 500 additions of 1000.
			wantFirst: []TableStat{{Schema: "s", Table: "hot", Bytes: 500000, Rows: 500}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMeter(MeterOptions{TopTables: tt.topN})
			var b Batch
			tt.give(func(schema, table string, bytes uint64) {
				b.Reset()
				b.AddTable(schema, table, bytes, 1)
				m.Commit(&b)
			})
			s := m.Snapshot()
			if !reflect.DeepEqual(s.TopTables, tt.wantFirst) {
				t.Errorf("TopTables = %+v, want %+v", s.TopTables, tt.wantFirst)
			}
			if got, limit := len(m.tables.items), tt.topN*tableSummaryFactor; got > limit {
				t.Errorf("summary tracks %d tables, want at most %d", got, limit)
			}
		})
	}
}

func TestTopTables_neverOverReports(t *testing.T) {
	tt := newTopTables(4)
	truth := map[string]uint64{}
	for i := range 1000 {
		name := fmt.Sprintf("t%d", i%7)
		n := uint64(i%13 + 1)
		tt.add("s", name, n, 1)
		truth[name] += n
	}
	for _, s := range tt.top(4) {
		if s.Bytes > truth[s.Table] {
			t.Errorf("%s: reported %d bytes, true %d", s.Table, s.Bytes, truth[s.Table])
		}
	}
}

func TestBatch_AddTable(t *testing.T) {
	var b Batch
	b.AddTable("s", "t", 10, 1)
	b.AddTable("s", "u", 5, 2)
	b.AddTable("s", "t", 7, 3)
	want := []TableStat{{Schema: "s", Table: "t", Bytes: 17, Rows: 4}, {Schema: "s", Table: "u", Bytes: 5, Rows: 2}}
	if !reflect.DeepEqual(b.Tables, want) {
		t.Errorf("Tables = %+v, want %+v", b.Tables, want)
	}
	b.Reset()
	if len(b.Tables) != 0 || !b.Empty() || cap(b.Tables) == 0 {
		t.Errorf("after Reset: %d tables (cap %d), empty %v; want 0, kept capacity, true", len(b.Tables), cap(b.Tables), b.Empty())
	}
}

// TestMeter_Commit_allocs pins the hot path: committing a transaction of
// known tables allocates nothing.
func TestMeter_Commit_allocs(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	b := txBatch("b.000001", 500, 1500, Rows{Insert: 1, Update: 2}, "t1")
	b.AddTable("app", "t2", 100, 1)
	m.Commit(b) // first sight of the tables may allocate
	allocs := testing.AllocsPerRun(1000, func() {
		b.Pos += 10
		m.Commit(b)
	})
	if allocs != 0 {
		t.Errorf("Commit allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkMeter_Commit(b *testing.B) {
	m := NewMeter(MeterOptions{})
	batch := txBatch("b.000001", 500, 1500, Rows{Insert: 1, Update: 2, Delete: 1}, "sbtest1")
	batch.AddTable("sbtest", "sbtest2", 300, 1)
	b.ReportAllocs()
	for b.Loop() {
		m.Commit(batch)
	}
}

// An exact lag is published to the microsecond its sources measure: the
// canary's float arithmetic must not leak into /status as
// 0.30000000000000004.
func TestMeter_exactLagInMicroseconds(t *testing.T) {
	m, _ := newTestMeter(MeterOptions{})
	m.Connected()
	a, b := 0.1, 0.2 // at run time, not exact constant arithmetic
	m.SetLagSource(func(time.Time) (float64, bool) { return a + b, true })
	if lag := m.Snapshot().LagSeconds; lag == nil || *lag != 0.3 {
		t.Fatalf("lag %v, want exactly 0.3", lag)
	}
}
