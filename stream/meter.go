package stream

import (
	"math"
	"sync"
	"time"
)

// DefaultTopTables is how many tables Snapshot.TopTables and
// Interval.TopTables list when MeterOptions.TopTables is zero.
const DefaultTopTables = 10

// MaxTopTables caps MeterOptions.TopTables.
const MaxTopTables = 100

// maxGaps bounds the gaps a Snapshot carries: the oldest are dropped.
const maxGaps = 16

// tableSummaryFactor sizes the bounded table summaries: they track this many
// times TopTables, so the reported top tables are exact unless more tables
// than that are active (see topTables).
const tableSummaryFactor = 8

// MeterOptions configures a Meter.
type MeterOptions struct {
	// HeartbeatPeriod is the binlog heartbeat period asked of the server;
	// Snapshot.Stalled uses it.
	HeartbeatPeriod time.Duration
	// TopTables is how many tables snapshots and intervals list (default
	// DefaultTopTables, at most MaxTopTables).
	TopTables int
	// Now is the clock; time.Now when nil. Tests inject a fake.
	Now func() time.Time
}

// Batch carries the figures of one transaction, or of one event outside a
// transaction, from the binlog adapter to the Meter. The adapter fills it
// event by event without locking and hands it over with Meter.Commit at the
// transaction's end, so the meter's lock is taken once per transaction and a
// transaction cut short by a reconnect is simply dropped (Reset) and never
// counted twice. One Batch reused for the life of the stream keeps the hot
// path free of allocations.
type Batch struct {
	// Events counts the batch's events by type.
	Events [NumEventTypes]uint64
	// Bytes is the sum of the batch's event sizes as written in the binlog.
	Bytes uint64
	Rows  Rows
	// Transaction marks a batch that completes a transaction: it counts
	// one transaction and enters the size distributions and the largest
	// transaction.
	Transaction bool
	// Rotations is how many times the stream moved to the next binlog file.
	Rotations uint64
	// Tables holds the batch's per-table figures, one entry per table.
	Tables []TableStat
	// File and Pos are the position after the batch's last event. An empty
	// File leaves the meter's position unchanged.
	File string
	Pos  uint32
	// GTID is the transaction's GTID, if the server has them.
	GTID GTID
	// EventTime is the header timestamp (Unix seconds) of the batch's last
	// real event; 0 when it had none.
	EventTime uint32
	// CommitTimeUS is the transaction's commit time on the server the
	// stream reads, in microseconds since the epoch (MySQL 8's
	// immediate_commit_timestamp); 0 when the server does not say
	// (MariaDB, MySQL before 8.0.1). It makes lag exact (see Meter).
	CommitTimeUS int64
}

// AddTable adds bytes and rows to the batch's entry for schema.table. The
// strings are kept, not copied: pass strings that stay valid (the adapter's
// cached table names).
func (b *Batch) AddTable(schema, table string, bytes, rows uint64) {
	for i := range b.Tables {
		t := &b.Tables[i]
		if t.Table == table && t.Schema == schema {
			t.Bytes += bytes
			t.Rows += rows
			return
		}
	}
	b.Tables = append(b.Tables, TableStat{Schema: schema, Table: table, Bytes: bytes, Rows: rows})
}

// Reset empties the batch, keeping its table slice for reuse.
func (b *Batch) Reset() {
	tables := b.Tables[:0]
	*b = Batch{Tables: tables}
}

// Empty reports whether the batch holds no event.
func (b *Batch) Empty() bool {
	for _, n := range b.Events {
		if n != 0 {
			return false
		}
	}
	return true
}

// txRecord is a transaction kept in compact form; strings are built on read.
type txRecord struct {
	bytes, rows uint64
	gtid        GTID
	file        string
	pos         uint32
}

func (r txRecord) transaction() Transaction {
	return Transaction{
		Bytes:    r.bytes,
		Rows:     r.rows,
		GTID:     r.gtid.String(),
		Position: Position{File: r.file, Pos: r.pos},
	}
}

// Meter turns what the binlog adapter reports into the figures of the
// stream: cumulative counters, per-interval figures, lag, liveness,
// connection state and errors. Writers (the adapter) call Commit, Heartbeat
// and the state setters; readers take copies with Snapshot and TakeInterval.
// All methods are safe for concurrent use.
//
// Lag follows the contract's rule (see Lag): 0 while the stream is at the
// server's end or its newest event is stamped in the current second,
// otherwise the age of the newest event received; unknown before any event
// when the stream is not known to be at the end. Caught-up survives a
// disconnect: if the server wrote nothing meanwhile the stream is still
// caught up; a newer server end (SetServerEnd) clears it. Lag is exact
// from the lag source (the canary) while it has evidence, else from the
// commit timestamps batches carry (Batch.CommitTimeUS, see commitLag).
type Meter struct {
	now       func() time.Time
	heartbeat time.Duration
	topN      int

	// lagSource, when set, measures lag exactly (the canary); when it has
	// no evidence, the binlog timestamps' rule applies.
	lagSource func(now time.Time) (float64, bool)

	mu sync.Mutex // guards everything below
	// The newest transaction that carried its commit time
	// (Batch.CommitTimeUS): that time, and how late it arrived.
	commitTime     time.Time
	commitDelay    time.Duration
	connected      bool
	connectedSince time.Time
	lastReceived   time.Time
	lastEventTime  time.Time
	lastError      string
	lastErrorAt    time.Time
	hint           string
	total          Counters
	rotations      uint64
	reconnects     uint64
	file           string
	pos            uint32
	gtid           GTID
	caughtUp       bool
	serverEnd      Position
	largest        txRecord
	tables         *topTables
	txBytes        bucketCounts
	txRows         bucketCounts
	gaps           []Gap
	gapsTotal      uint64

	ivStart    time.Time
	ivCounters Counters
	ivLargest  txRecord
	ivTables   *topTables
}

// NewMeter returns a Meter with the given options.
func NewMeter(opts MeterOptions) *Meter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := opts.TopTables
	if n <= 0 {
		n = DefaultTopTables
	}
	n = min(n, MaxTopTables)
	m := &Meter{
		now:       opts.Now,
		heartbeat: opts.HeartbeatPeriod,
		topN:      n,
		tables:    newTopTables(n * tableSummaryFactor),
		ivTables:  newTopTables(n * tableSummaryFactor),
	}
	m.ivStart = m.now()
	return m
}

// Commit adds a batch to the figures. It takes the meter's lock once.
func (m *Meter) Commit(b *Batch) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()

	m.lastReceived = now
	m.total.add(b)
	m.ivCounters.add(b)
	m.rotations += b.Rotations
	if b.File != "" {
		m.file, m.pos = b.File, b.Pos
	}
	if b.GTID.Kind != GTIDNone {
		m.gtid = b.GTID
	}
	if b.EventTime != 0 {
		m.lastEventTime = time.Unix(int64(b.EventTime), 0)
		m.caughtUp = false
	}
	switch {
	case b.CommitTimeUS != 0:
		m.commitTime = time.UnixMicro(b.CommitTimeUS)
		m.commitDelay = max(now.Sub(m.commitTime), 0) // a server clock ahead of ours is no lag
	case b.Transaction:
		// A transaction without its commit time (a server without them, or
		// a tagged GTID event that did not decode): the older figure no longer describes
		// the stream; the binlog timestamps' rule applies.
		m.commitTime, m.commitDelay = time.Time{}, 0
	}
	for _, t := range b.Tables {
		m.tables.add(t.Schema, t.Table, t.Bytes, t.Rows)
		m.ivTables.add(t.Schema, t.Table, t.Bytes, t.Rows)
	}
	if b.Transaction {
		rows := b.Rows.Total()
		m.txBytes.observe(TxBytesBuckets, b.Bytes)
		m.txRows.observe(TxRowsBuckets, rows)
		if b.Bytes > m.largest.bytes || b.Bytes > m.ivLargest.bytes {
			r := txRecord{bytes: b.Bytes, rows: rows, gtid: b.GTID, file: m.file, pos: m.pos}
			if r.bytes > m.largest.bytes {
				m.largest = r
			}
			if r.bytes > m.ivLargest.bytes {
				m.ivLargest = r
			}
		}
	}
}

func (c *Counters) add(b *Batch) {
	for i, n := range b.Events {
		c.Events[i] += n
	}
	c.Bytes += b.Bytes
	c.Rows.Insert += b.Rows.Insert
	c.Rows.Update += b.Rows.Update
	c.Rows.Delete += b.Rows.Delete
	if b.Transaction {
		c.Transactions++
	}
}

// Heartbeat records a heartbeat from the server at the dump thread's
// coordinates file:pos. It counts as liveness and as an EventHeartbeat,
// never as bytes. A heartbeat at exactly the stream's position means the
// server had nothing more to send: the stream is caught up (lag 0), and the
// server end is at least that position.
func (m *Meter) Heartbeat(file string, pos uint32) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastReceived = now
	m.total.Events[EventHeartbeat]++
	m.ivCounters.Events[EventHeartbeat]++
	if file != "" && file == m.file && pos == m.pos {
		m.caughtUp = true
		hb := Position{File: file, Pos: pos}
		if m.serverEnd.Compare(hb) < 0 {
			m.serverEnd = hb
		}
	}
}

// Touch records that data arrived without committing figures: the adapter
// calls it now and then inside a long transaction so a stream busy with one
// huge transaction does not look stalled.
func (m *Meter) Touch() {
	now := m.now()
	m.mu.Lock()
	m.lastReceived = now
	m.mu.Unlock()
}

// Connected records that the stream is up and delivering events; it clears
// the last error and hint.
func (m *Meter) Connected() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.connected = true
	m.connectedSince = now
	m.lastError, m.hint, m.lastErrorAt = "", "", time.Time{}
}

// Disconnected records that the stream is down, why, and how to fix it
// (hint may be empty). It may be called while already disconnected, to
// replace the error of a failed attempt.
func (m *Meter) Disconnected(err error, hint string) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.connected = false
	if err != nil {
		m.lastError = err.Error()
		m.lastErrorAt = now
		m.hint = hint
	}
}

// Reconnecting counts one reconnect attempt.
func (m *Meter) Reconnecting() {
	m.mu.Lock()
	m.reconnects++
	m.mu.Unlock()
}

// RecordGap records a stretch of binlog the stream skipped. The meter keeps
// the most recent gaps only (Snapshot.Gaps) and counts all of them
// (Snapshot.GapsTotal).
func (m *Meter) RecordGap(g Gap) {
	if g.At.IsZero() {
		g.At = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.gaps) == maxGaps {
		copy(m.gaps, m.gaps[1:])
		m.gaps = m.gaps[:maxGaps-1]
	}
	m.gaps = append(m.gaps, g)
	m.gapsTotal++
	m.file, m.pos = g.To.File, g.To.Pos
	m.caughtUp = false
}

// SetPosition sets the stream position without counting anything: where a
// stream starts before its first event arrives.
func (m *Meter) SetPosition(p Position) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.file, m.pos = p.File, p.Pos
}

// SetServerEnd records the server's binlog end, as read from the server's
// binlog status. A server end beyond the stream's position means the stream
// is no longer caught up.
func (m *Meter) SetServerEnd(p Position) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serverEnd = p
	if p.Compare(Position{File: m.file, Pos: m.pos}) > 0 {
		m.caughtUp = false
	}
}

// SetLagSource makes lag come from src while it knows (ok true), e.g. the
// commit-latency canary, which measures it to the millisecond. src is
// called without the meter's lock (the stream's Commit never waits
// behind the source's own lock). Set it before
// the meter is shared.
func (m *Meter) SetLagSource(src func(now time.Time) (seconds float64, ok bool)) {
	m.lagSource = src
}

// Position returns the stream's position: after the last complete
// transaction or event outside a transaction.
func (m *Meter) Position() Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Position{File: m.file, Pos: m.pos, GTID: m.gtid.String()}
}

// Snapshot returns a copy of everything the meter knows, as of now.
func (m *Meter) Snapshot() Snapshot {
	now := m.now()
	exact, exactOK := m.exactLag(now) // before the lock: the source has its own
	m.mu.Lock()
	defer m.mu.Unlock()
	pos := Position{File: m.file, Pos: m.pos, GTID: m.gtid.String()}
	lag, lagWhy := m.lag(now, pos, exact, exactOK)
	behind, behindWhy := behindBytes(pos, m.serverEnd)
	s := Snapshot{
		At:                 now,
		HeartbeatPeriod:    m.heartbeat,
		Connected:          m.connected,
		ConnectedSince:     m.connectedSince,
		LastReceived:       m.lastReceived,
		LastEventTime:      m.lastEventTime,
		LastError:          m.lastError,
		LastErrorAt:        m.lastErrorAt,
		Hint:               m.hint,
		Counters:           m.total,
		Rotations:          m.rotations,
		Reconnects:         m.reconnects,
		Position:           pos,
		ServerEnd:          m.serverEnd,
		BehindBytes:        behind,
		BehindUnknown:      behindWhy,
		LagSeconds:         lag,
		LagUnknown:         lagWhy,
		CaughtUp:           m.caughtUp,
		LargestTransaction: m.largest.transaction(),
		TopTables:          m.tables.top(m.topN),
		TxBytesHist:        m.txBytes.histogram(TxBytesBuckets),
		TxRowsHist:         m.txRows.histogram(TxRowsBuckets),
		GapsTotal:          m.gapsTotal,
	}
	if len(m.gaps) > 0 {
		s.Gaps = append([]Gap(nil), m.gaps...)
	}
	return s
}

// TakeInterval returns the figures since the previous call (or since the
// meter was made) and starts a new interval.
func (m *Meter) TakeInterval() Interval {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	iv := Interval{
		Start:              m.ivStart,
		End:                now,
		Counters:           m.ivCounters,
		LargestTransaction: m.ivLargest.transaction(),
		TopTables:          m.ivTables.top(m.topN),
	}
	m.ivStart = now
	m.ivCounters = Counters{}
	m.ivLargest = txRecord{}
	m.ivTables.reset()
	return iv
}

// exactLag asks the lag source (the canary), if any. It is called without
// the meter's lock: the source takes its own, and the stream's Commit must
// never wait behind it.
func (m *Meter) exactLag(now time.Time) (float64, bool) {
	if m.lagSource == nil {
		return 0, false
	}
	return m.lagSource(now)
}

// lag is Lag on the meter's state, with the reason when it is not known;
// exact (when exactOK) is the lag source's figure, which comes first.
func (m *Meter) lag(now time.Time, pos Position, exact float64, exactOK bool) (*float64, string) {
	if exactOK {
		return toMicros(exact), ""
	}
	atEnd := m.caughtUp || pos.File != "" && m.serverEnd.File != "" && pos.Compare(m.serverEnd) >= 0
	if v, ok := m.commitLag(now, pos, atEnd); ok {
		return toMicros(v), ""
	}
	if v, ok := Lag(now, m.lastEventTime, atEnd); ok {
		return &v, ""
	}
	if m.connectedSince.IsZero() {
		return nil, "the stream has not connected yet"
	}
	return nil, "no event received yet and the server's binlog end not reached"
}

// toMicros rounds an exact lag to the microsecond its sources measure, so
// /status and stream.stats say 0.005246, not 0.005246000000000001.
func toMicros(v float64) *float64 {
	v = math.Round(v*1e6) / 1e6
	return &v
}

// commitLag is lag from commit timestamps (MySQL 8's
// immediate_commit_timestamp on every transaction), exact to the
// microsecond: how late the newest transaction arrived (its receipt minus
// its commit), while the stream is known to have everything the server
// wrote (atEnd) or is live (connected, and something, event or heartbeat,
// arrived within two heartbeat periods: a server with nothing to send sends
// heartbeats, so a live stream with no new transaction is on an idle
// server, not stuck). When the server's end is beyond the stream's position
// or the stream is not live, it is the age of that commit (now minus it),
// which grows while the stream is stuck. ok is false when no transaction
// carried a commit time.
func (m *Meter) commitLag(now time.Time, pos Position, atEnd bool) (float64, bool) {
	if m.commitTime.IsZero() {
		return 0, false
	}
	behind := !m.caughtUp && m.serverEnd.File != "" && pos.Compare(m.serverEnd) < 0
	live := m.connected && (m.heartbeat <= 0 || now.Sub(m.lastReceived) <= 2*m.heartbeat)
	if !behind && (atEnd || live) {
		return m.commitDelay.Seconds(), true
	}
	return max(now.Sub(m.commitTime), 0).Seconds(), true
}

// Lag is the contract's lag rule. It is 0 while the stream is at the
// server's end (atEnd: a heartbeat arrived at the stream's position, or the
// position has reached the binlog end read at the last poll) or its newest
// event is stamped in the current second; otherwise it is the age of the
// newest event received. Binlog header timestamps have one-second
// resolution: an event received at once under steady load is 0.0 to 0.99 s
// "old", which is the resolution, not lag. Without any event, and not known
// to be at the end, lag is unknown (ok false).
func Lag(now, newestEvent time.Time, atEnd bool) (seconds float64, ok bool) {
	switch {
	case atEnd:
		return 0, true
	case newestEvent.IsZero():
		return 0, false
	case newestEvent.Unix() >= now.Unix():
		return 0, true
	}
	return now.Sub(newestEvent).Seconds(), true
}

// behindBytes is the distance from pos to end when both are in one file and
// 0 when pos is at or past end; nil with the reason when it is not known (no
// end read yet, or end in a later file whose sizes before it are not known
// here).
func behindBytes(pos, end Position) (*int64, string) {
	var n int64
	switch {
	case end.File == "":
		return nil, "the server's binlog end has not been read yet"
	case pos.Compare(end) >= 0:
	case pos.File == end.File:
		n = int64(end.Pos) - int64(pos.Pos)
	default:
		return nil, "the server's binlog end is in a later file (" + end.File + ") than the stream's position"
	}
	return &n, ""
}
