package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Short event types: the last tokens of the NATS subject and the `type`
// label of binlog_sidecar_events_published_total. A problem's type is the
// health rule's own constant, so each has one spelling.
const (
	TypeSidecarStarted     = "sidecar.started"
	TypeSidecarStopping    = "sidecar.stopping"
	TypeStreamStats        = "stream.stats"
	TypeStreamDown         = health.TypeStreamDown
	TypeStreamStalled      = health.TypeStreamStalled
	TypeStreamGap          = "stream.gap"
	TypeReplicaMissing     = health.TypeReplicaMissing
	TypeReplicaUnknown     = health.TypeReplicaUnknown
	TypeDumpThreadZombie   = health.TypeDumpThreadZombie
	TypeDumpThreadKilled   = health.TypeDumpThreadKilled
	TypeDumpThreadFlapping = health.TypeDumpThreadFlapping
	TypeSemiSyncDegraded   = health.TypeSemiSyncDegraded
	TypeSourceUnreachable  = health.TypeSourceUnreachable
	TypeHealthChanged      = "health.changed"
	TypeCheckUnavailable   = health.TypeCheckUnavailable
)

// Types lists every short type in the contract's order, so metrics can
// expose each label value at 0 from the start.
func Types() []string {
	return []string{
		TypeSidecarStarted, TypeSidecarStopping, TypeStreamStats, TypeStreamDown,
		TypeStreamStalled, TypeStreamGap, TypeReplicaMissing, TypeReplicaUnknown,
		TypeDumpThreadZombie, TypeDumpThreadKilled, TypeDumpThreadFlapping,
		TypeSemiSyncDegraded, TypeSourceUnreachable, TypeHealthChanged, TypeCheckUnavailable,
	}
}

// Envelope constants of CloudEvents 1.0 structured mode.
const (
	SpecVersion = "1.0"
	// TypePrefix turns a short type into the CloudEvents type.
	TypePrefix      = "binlog_sidecar."
	DataContentType = "application/json"
	// DataSchemaV1 is the dataschema of every event this version emits. The
	// file it names is events/schema/v1.json at the release tag that last
	// changed it (never a branch, which moves under consumers); a change to
	// the schema moves the tag here, a change that breaks consumers gets a
	// new version and a new URI.
	DataSchemaV1 = "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/v0.2.0/events/schema/v1.json"
)

// Event is one CloudEvents 1.0 event in structured JSON mode.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema"`
	Data            Payload   `json:"data"`
}

// ShortType is the type without TypePrefix, e.g. "replica.missing".
func (e Event) ShortType() string { return strings.TrimPrefix(e.Type, TypePrefix) }

// Droppable reports whether the event may be dropped to make room when the
// publisher's memory and spool are both full. Only stream.stats are: the
// next one carries fresh figures, while a lost problem event is a lost page.
func (e Event) Droppable() bool { return e.ShortType() == TypeStreamStats }

// Payload is the data of an event. Every payload embeds Common.
type Payload interface{ Base() Common }

// Common is the part of data every event has.
type Common struct {
	Cluster  string          `json:"cluster"`
	Instance string          `json:"instance"`
	Severity health.Severity `json:"severity"`
	Summary  string          `json:"summary"`
	Server   health.Server   `json:"server"`
}

// Base returns c; it makes every payload that embeds Common a Payload.
func (c Common) Base() Common { return c }

// ProblemData is the data of a problem event (stream.down, replica.missing, ...).
type ProblemData struct {
	Common
	State       health.State   `json:"state"`
	ProblemID   string         `json:"problem_id"`
	Since       string         `json:"since"` // RFC 3339, UTC
	Remediation string         `json:"remediation"`
	Evidence    map[string]any `json:"evidence"`
}

// StatsData is the data of stream.stats: the figures of one interval.
type StatsData struct {
	Common
	IntervalSeconds float64 `json:"interval_seconds"`
	// Events counts binlog events of every type except heartbeats.
	Events       uint64      `json:"events"`
	Bytes        uint64      `json:"bytes"`
	Transactions uint64      `json:"transactions"`
	Rows         stream.Rows `json:"rows"`
	PerSecond    Rates       `json:"per_second"`
	// LagSeconds and BehindBytes are left out when not known, and the
	// matching *Unknown field says why (never -1 or a fake 0).
	LagSeconds         *float64           `json:"lag_seconds,omitempty"`
	LagUnknown         string             `json:"lag_unknown,omitempty"`
	BehindBytes        *int64             `json:"behind_bytes,omitempty"`
	BehindUnknown      string             `json:"behind_bytes_unknown,omitempty"`
	LargestTransaction LargestTransaction `json:"largest_transaction"`
	TopTables          []stream.TableStat `json:"top_tables"`
	Position           stream.Position    `json:"position"`
	// Canary is the commit-latency canary's interval, when it runs.
	Canary *stream.CanaryInterval `json:"canary,omitempty"`
}

// WithCanary adds the canary's interval figures to a stream.stats event.
func WithCanary(e Event, iv stream.CanaryInterval) Event {
	if d, ok := e.Data.(StatsData); ok {
		d.Canary = &iv
		e.Data = d
	}
	return e
}

// Rates are an interval's figures divided by its length in seconds.
type Rates struct {
	Events       float64 `json:"events"`
	Bytes        float64 `json:"bytes"`
	Rows         float64 `json:"rows"`
	Transactions float64 `json:"transactions"`
}

// LargestTransaction names the interval's largest transaction by its GTID
// where the server has GTIDs, else by its binlog position.
type LargestTransaction struct {
	Bytes    uint64           `json:"bytes"`
	Rows     uint64           `json:"rows"`
	GTID     string           `json:"gtid,omitempty"`
	Position *stream.Position `json:"position,omitempty"`
}

// HealthChangedData is the data of health.changed.
type HealthChangedData struct {
	Common
	From health.Status `json:"from"`
	To   health.Status `json:"to"`
	// Problems are the problems firing now, critical first, at most
	// MaxProblemRefs of them; ProblemsTotal counts them all and Truncated
	// says that Problems is not the whole list.
	Problems      []ProblemRef `json:"problems"`
	ProblemsTotal int          `json:"problems_total"`
	Truncated     bool         `json:"truncated"`
}

// ProblemRef points at a problem event by its problem_id.
type ProblemRef struct {
	Type      string          `json:"type"`
	ProblemID string          `json:"problem_id"`
	Subject   string          `json:"subject"`
	Severity  health.Severity `json:"severity"`
}

// GapData is the data of stream.gap: what the stream skipped.
type GapData struct {
	Common
	From   stream.Position `json:"from"`
	To     stream.Position `json:"to"`
	Reason string          `json:"reason"`
	At     string          `json:"at"` // RFC 3339, UTC
}

// InfoData is the data of lifecycle and other informational events
// (sidecar.started, dump_thread.killed): plain facts in Details.
type InfoData struct {
	Common
	Details map[string]any `json:"details"`
}

// StatsTopTables is how many tables stream.stats lists at most (the
// contract's 10): what a meter with the default options keeps. It is not
// stream.MaxTopTables, the cap on what a meter may be asked to keep.
const StatsTopTables = stream.DefaultTopTables

// Every event is bounded by construction, far below NATS's default
// max_payload of 1 MiB however many problems fire (a 10,000-replica
// inventory with none of them connected) or however large a value a rule
// puts in its evidence: health.changed lists at most MaxProblemRefs
// problems; a summary or remediation is cut at maxTextBytes; one evidence
// or details value at maxValueBytes of JSON, all of them at maxMapBytes
// (the keys cut or left out are listed under "truncated"). The largest
// event is thus well under MaxEventBytes.
const (
	MaxProblemRefs = 100
	MaxEventBytes  = 256 << 10
	maxTextBytes   = 2 << 10
	maxValueBytes  = 4 << 10
	maxMapBytes    = 32 << 10
)

// Builder makes events for one sidecar. It is safe for concurrent use;
// set Now and NewID (for tests) before first use.
type Builder struct {
	Cluster, Instance string
	Now               func() time.Time // default time.Now
	NewID             func() string    // default NewID
	server            atomic.Pointer[health.Server]
}

// NewBuilder returns a Builder for the given cluster and instance names.
func NewBuilder(cluster, instance string) *Builder {
	return &Builder{Cluster: cluster, Instance: instance, Now: time.Now, NewID: NewID}
}

// SetServer records the server the sidecar watches; later events carry it.
// It may change at run time (a failover, an upgrade).
func (b *Builder) SetServer(s health.Server) { b.server.Store(&s) }

// Source is the CloudEvents source: binlog-sidecar/<cluster>/<instance>,
// each name path-escaped so the source stays a valid URI reference.
func (b *Builder) Source() string {
	return "binlog-sidecar/" + url.PathEscape(b.Cluster) + "/" + url.PathEscape(b.Instance)
}

func (b *Builder) envelope(typ, subject string) Event {
	return Event{
		SpecVersion: SpecVersion, ID: b.NewID(), Source: b.Source(), Type: TypePrefix + typ,
		Time: b.Now().UTC(), Subject: subject, DataContentType: DataContentType, DataSchema: DataSchemaV1,
	}
}

func (b *Builder) common(sev health.Severity, summary string) Common {
	c := Common{Cluster: b.Cluster, Instance: b.Instance, Severity: sev, Summary: summary}
	if s := b.server.Load(); s != nil {
		c.Server = *s
	}
	return c
}

// FromTransition is the event of a problem that fired or resolved. Its type
// is the problem's type and its subject the problem's subject; a resolved
// event keeps the problem's severity and says "Resolved:" in its summary.
func (b *Builder) FromTransition(t health.Transition) Event {
	p := t.Problem
	summary := p.Summary
	if t.State == health.StateResolved {
		summary = "Resolved: " + summary
	}
	e := b.envelope(p.Type, p.Subject)
	e.Data = ProblemData{
		Common: b.common(p.Severity, clip(summary, maxTextBytes)), State: t.State, ProblemID: p.ID,
		Since: rfc3339(p.Since), Remediation: clip(p.Remediation, maxTextBytes), Evidence: boundMap(p.Evidence),
	}
	return e
}

// Stats is the stream.stats event of one interval; snap supplies the
// figures that are states rather than sums (lag, position, behind_bytes).
func (b *Builder) Stats(iv stream.Interval, snap stream.Snapshot) Event {
	c := iv.Counters
	secs := iv.End.Sub(iv.Start).Seconds()
	events := c.EventsTotal() - c.Events[stream.EventHeartbeat]
	rate := func(n uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	lt := LargestTransaction{Bytes: iv.LargestTransaction.Bytes, Rows: iv.LargestTransaction.Rows, GTID: iv.LargestTransaction.GTID}
	if lt.GTID == "" {
		pos := iv.LargestTransaction.Position
		lt.Position = &pos
	}
	top := iv.TopTables[:min(len(iv.TopTables), StatsTopTables)]
	if top == nil {
		top = []stream.TableStat{}
	}
	lag := "lag unknown (" + snap.LagUnknown + ")"
	if snap.LagSeconds != nil {
		lag = fmt.Sprintf("lag %.1f s", *snap.LagSeconds)
	}
	summary := fmt.Sprintf("Streamed %d events (%d bytes, %d transactions, %d rows) in %s; %s.",
		events, c.Bytes, c.Transactions, c.Rows.Total(), iv.End.Sub(iv.Start).Round(time.Millisecond), lag)
	e := b.envelope(TypeStreamStats, "stream/"+b.Instance)
	e.Data = StatsData{
		Common: b.common(health.SeverityInfo, summary), IntervalSeconds: secs,
		Events: events, Bytes: c.Bytes, Transactions: c.Transactions, Rows: c.Rows,
		PerSecond:  Rates{Events: rate(events), Bytes: rate(c.Bytes), Rows: rate(c.Rows.Total()), Transactions: rate(c.Transactions)},
		LagSeconds: snap.LagSeconds, LagUnknown: snap.LagUnknown, BehindBytes: snap.BehindBytes, BehindUnknown: snap.BehindUnknown,
		LargestTransaction: lt,
		TopTables:          top, Position: snap.Position,
	}
	return e
}

// HealthChanged is the health.changed event: overall health moved from one
// status to another; problems are the ones firing now. Its severity follows
// the new status (ok: info, degraded: warning, critical: critical).
func (b *Builder) HealthChanged(from, to health.Status, problems []health.Problem) Event {
	// Critical first, so that a cut list keeps what matters most.
	sorted := slices.Clone(problems)
	slices.SortStableFunc(sorted, func(x, y health.Problem) int {
		return cmpBool(x.Severity == health.SeverityCritical, y.Severity == health.SeverityCritical)
	})
	refs := make([]ProblemRef, 0, min(len(sorted), MaxProblemRefs))
	for _, p := range sorted[:min(len(sorted), MaxProblemRefs)] {
		refs = append(refs, ProblemRef{Type: p.Type, ProblemID: p.ID, Subject: clip(p.Subject, maxTextBytes), Severity: p.Severity})
	}
	// Types in the order they first fire, each with its count when > 1.
	var types []string
	count := map[string]int{}
	for _, p := range problems {
		if count[p.Type]++; count[p.Type] == 1 {
			types = append(types, p.Type)
		}
	}
	for i, t := range types {
		if n := count[t]; n > 1 {
			types[i] = fmt.Sprintf("%s (%d)", t, n)
		}
	}
	summary := fmt.Sprintf("Health changed from %s to %s.", from, to)
	if len(types) > 0 {
		summary = clip(fmt.Sprintf("Health changed from %s to %s: %s.", from, to, strings.Join(types, ", ")), maxTextBytes)
	}
	sev := map[health.Status]health.Severity{health.StatusDegraded: health.SeverityWarning, health.StatusCritical: health.SeverityCritical}[to]
	if sev == "" {
		sev = health.SeverityInfo
	}
	e := b.envelope(TypeHealthChanged, "server/"+b.Instance)
	e.Data = HealthChangedData{Common: b.common(sev, summary), From: from, To: to, Problems: refs,
		ProblemsTotal: len(problems), Truncated: len(refs) < len(problems)}
	return e
}

// GapEvent is the stream.gap event: the stream restarted where it could not
// resume and skipped from g.From to g.To.
func (b *Builder) GapEvent(g stream.Gap) Event {
	summary := fmt.Sprintf("Binlog stream skipped from %s:%d to %s:%d: %s.", g.From.File, g.From.Pos, g.To.File, g.To.Pos, g.Reason)
	e := b.envelope(TypeStreamGap, "stream/"+b.Instance)
	e.Data = GapData{Common: b.common(health.SeverityWarning, summary), From: g.From, To: g.To, Reason: g.Reason, At: rfc3339(g.At)}
	return e
}

// Lifecycle is sidecar.started or sidecar.stopping (typ), about the sidecar
// itself; details carries facts such as the version or the stop reason.
func (b *Builder) Lifecycle(typ, summary string, details map[string]any) Event {
	return b.Info(typ, "sidecar/"+b.Instance, health.SeverityInfo, summary, details)
}

// Info is an informational event of any type: something happened that is
// not a problem (e.g. dump_thread.killed), with its facts in details.
func (b *Builder) Info(typ, subject string, sev health.Severity, summary string, details map[string]any) Event {
	e := b.envelope(typ, subject)
	e.Data = InfoData{Common: b.common(sev, clip(summary, maxTextBytes)), Details: boundMap(details)}
	return e
}

// DumpThreadKilled is the dump_thread.killed event for what the monitor
// did to a zombie thread: which thread, the replica it served, the
// dump_thread.zombie problem it acted on, why, and the result (a failed KILL
// makes the event a warning rather than info).
func (b *Builder) DumpThreadKilled(k health.KillReport) Event {
	sev, result := health.SeverityInfo, "killed"
	summary := fmt.Sprintf("Killed dump thread %d serving %s: %s.", k.ThreadID, k.Replica, k.Reason)
	if k.Err != nil {
		sev, result = health.SeverityWarning, "failed: "+k.Err.Error()
		summary = fmt.Sprintf("Could not kill dump thread %d serving %s: %v.", k.ThreadID, k.Replica, k.Err)
	}
	return b.Info(TypeDumpThreadKilled, health.ThreadSubject(k.ThreadID), sev, summary,
		map[string]any{"thread_id": k.ThreadID, "replica": k.Replica, "problem_id": k.ProblemID, "reason": k.Reason, "result": result})
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return -1
	}
	return 1
}

// clip cuts s to at most n bytes (on a rune boundary), ending in "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// boundMap returns m (never nil, so consumers can always index it) with
// each value at most maxValueBytes of JSON and all of them at most
// maxMapBytes: a value over its bound becomes the head of its JSON text,
// values past the whole bound are left out (in key order), and the keys so
// treated are listed under "truncated". A value JSON cannot encode is left
// for Encode to report.
func boundMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	var cut []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		j, err := json.Marshal(v)
		if err != nil {
			out[k] = v
			continue
		}
		size := len(k) + len(j)
		if len(j) > maxValueBytes {
			v, size = clip(string(j), maxValueBytes), len(k)+maxValueBytes
			cut = append(cut, k)
		}
		if total+size > maxMapBytes {
			if len(cut) == 0 || cut[len(cut)-1] != k {
				cut = append(cut, k)
			}
			continue
		}
		out[k], total = v, total+size
	}
	if len(cut) > 0 {
		out["truncated"] = cut
	}
	return out
}

// Encode returns the event as structured JSON. A value JSON cannot carry
// (NaN, a channel) in evidence or details is replaced by the encoding error,
// and the error is returned too, so the event is still delivered and the
// caller can log why it lost its details.
func Encode(e Event) ([]byte, error) {
	b, err := marshal(e)
	if err == nil {
		return b, nil
	}
	bad := map[string]any{"encode_error": err.Error()}
	switch d := e.Data.(type) {
	case ProblemData:
		d.Evidence = bad
		e.Data = d
	case InfoData:
		d.Details = bad
		e.Data = d
	default:
		c := e.Data.Base()
		e.Data = InfoData{Common: c, Details: bad}
	}
	b, err2 := marshal(e)
	if err2 != nil {
		return nil, fmt.Errorf("encode event: %w", err2)
	}
	return b, fmt.Errorf("encode event: %w", err)
}

// marshal is json.Marshal without HTML escaping: people read summaries and
// fixes (`log_bin=<basename>`), and no consumer embeds events in HTML raw.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
