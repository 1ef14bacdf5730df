package stream

import "time"

// EventType is the binlog event type as the meter counts it. Its String form
// is the `type` label of binlog_sidecar_stream_events_total.
type EventType uint8

// The event types the contract names; everything else is EventOther.
const (
	EventWriteRows EventType = iota
	EventUpdateRows
	EventDeleteRows
	EventTableMap
	EventQuery
	EventXID
	EventGTID
	EventRotate
	EventFormatDescription
	EventAnnotateRows
	EventHeartbeat
	EventOther
	NumEventTypes
)

var eventTypeNames = [NumEventTypes]string{
	"write_rows", "update_rows", "delete_rows", "table_map", "query", "xid",
	"gtid", "rotate", "format_description", "annotate_rows", "heartbeat", "other",
}

// String returns the snake-case label value.
func (t EventType) String() string {
	if t >= NumEventTypes {
		return "other"
	}
	return eventTypeNames[t]
}

// EventTypes lists every event type in label order, for metrics that must
// expose each label value from the start.
func EventTypes() []EventType {
	out := make([]EventType, NumEventTypes)
	for i := range out {
		out[i] = EventType(i)
	}
	return out
}

// Position is a place in the binlog: file and offset after the last event,
// plus the GTID of the last complete transaction where the server has GTIDs.
type Position struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	GTID string `json:"gtid,omitempty"`
}

// Rows counts changed rows by operation. An UPDATE of one row counts 1 (the
// before and after images are one changed row).
type Rows struct {
	Insert uint64 `json:"insert"`
	Update uint64 `json:"update"`
	Delete uint64 `json:"delete"`
}

// Total is the sum over all operations.
func (r Rows) Total() uint64 { return r.Insert + r.Update + r.Delete }

// Transaction describes one transaction seen in the stream.
type Transaction struct {
	Bytes    uint64   `json:"bytes"`
	Rows     uint64   `json:"rows"`
	GTID     string   `json:"gtid,omitempty"`
	Position Position `json:"position"`
}

// TableStat is one table's share of the row traffic.
type TableStat struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Bytes  uint64 `json:"bytes"`
	Rows   uint64 `json:"rows"`
}

// Gap records a stretch of binlog the stream could not read, e.g. because
// the files it needed to resume from were purged while it was away.
type Gap struct {
	At     time.Time `json:"at"`
	From   Position  `json:"from"`
	To     Position  `json:"to"`
	Reason string    `json:"reason"`
}

// Counters are the cumulative figures of the stream since the sidecar started.
type Counters struct {
	Events       [NumEventTypes]uint64 `json:"-"`
	Bytes        uint64                `json:"bytes"`
	Rows         Rows                  `json:"rows"`
	Transactions uint64                `json:"transactions"`
}

// EventsTotal is the number of events of every type.
func (c Counters) EventsTotal() uint64 {
	var n uint64
	for _, v := range c.Events {
		n += v
	}
	return n
}

// Snapshot is a point-in-time copy of everything the stream knows. Readers
// (readiness, metrics, status, the stats publisher) work on snapshots so
// that they agree with one another and never hold the meter's lock.
type Snapshot struct {
	At              time.Time     `json:"at"`
	HeartbeatPeriod time.Duration `json:"-"`
	Connected       bool          `json:"connected"`
	ConnectedSince  time.Time     `json:"connected_since,omitzero"`
	// LastReceived is when the last event or heartbeat arrived (wall clock).
	LastReceived time.Time `json:"last_received,omitzero"`
	// LastEventTime is the header timestamp of the last real event.
	LastEventTime time.Time `json:"last_event_time,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	// Hint tells the operator how to fix LastError, where it is known.
	Hint string `json:"hint,omitempty"`

	Counters
	Rotations  uint64 `json:"rotations"`
	Reconnects uint64 `json:"reconnects"`

	Position Position `json:"position"`
	// ServerEnd is the server's binlog end as last read; BehindBytes is the
	// distance from Position to it, nil when not known (BehindUnknown says
	// why): an unknown figure is left out, never written as -1 or 0.
	ServerEnd     Position `json:"server_end"`
	BehindBytes   *int64   `json:"behind_bytes"`
	BehindUnknown string   `json:"behind_bytes_unknown,omitempty"`
	// LagSeconds follows Lag; nil when not known (LagUnknown says why).
	LagSeconds *float64 `json:"lag_seconds"`
	LagUnknown string   `json:"lag_unknown,omitempty"`

	// CaughtUp is true while the stream has received everything the server
	// has written: a heartbeat arrived at exactly Position and no newer
	// event or server end has been seen since. LagSeconds is 0 then.
	CaughtUp bool `json:"caught_up"`

	LargestTransaction Transaction `json:"largest_transaction"`
	TopTables          []TableStat `json:"top_tables"`
	// Gaps are the most recent gaps (at most 16, oldest first); GapsTotal
	// counts every gap since the sidecar started and is never capped: use
	// it, not len(Gaps), as a counter or cursor.
	Gaps      []Gap  `json:"gaps,omitempty"`
	GapsTotal uint64 `json:"gaps_total"`

	// TxBytesHist and TxRowsHist are the distributions of transaction size
	// in bytes (bounds TxBytesBuckets) and in changed rows (TxRowsBuckets)
	// since the sidecar started.
	TxBytesHist Histogram `json:"tx_bytes_hist"`
	TxRowsHist  Histogram `json:"tx_rows_hist"`
}

// Stalled reports whether the stream is connected but has received nothing,
// not even a heartbeat, for three heartbeat periods.
func (s Snapshot) Stalled() bool {
	if !s.Connected || s.HeartbeatPeriod <= 0 {
		return false
	}
	return s.At.Sub(s.QuietSince()) > 3*s.HeartbeatPeriod
}

// QuietSince is when the stream last showed life: the last event or
// heartbeat of this connection, or the connect itself if none came yet.
func (s Snapshot) QuietSince() time.Time {
	if s.LastReceived.IsZero() || s.LastReceived.Before(s.ConnectedSince) {
		return s.ConnectedSince
	}
	return s.LastReceived
}

// Interval is what the stream did between two calls of Meter.TakeInterval:
// the figures of one stream.stats event.
type Interval struct {
	Start, End         time.Time
	Counters           Counters
	LargestTransaction Transaction
	TopTables          []TableStat
}
