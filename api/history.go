package api

import (
	"context"
	"sync"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// The status page's memory: the stream's rates over HistoryWindow, one
// point per HistoryStep, and the last HistoryEvents problem transitions.
// It lives in the sidecar's memory only (no Prometheus needed) and is lost
// on restart, which is fine for a page that shows "the last 15 minutes".
const (
	HistoryWindow = 15 * time.Minute
	HistoryStep   = 5 * time.Second
	HistoryEvents = 50
)

// RatePoint is the stream's average rates over the step that ended At.
type RatePoint struct {
	At           time.Time `json:"at"`
	Events       float64   `json:"events"` // heartbeats excluded, as in stream.stats
	Bytes        float64   `json:"bytes"`
	Rows         float64   `json:"rows"`
	Transactions float64   `json:"transactions"`
}

// TimelineEntry is one problem that fired or resolved.
type TimelineEntry struct {
	At        time.Time       `json:"at"`
	State     health.State    `json:"state"`
	Type      string          `json:"type"`
	Subject   string          `json:"subject"`
	Severity  health.Severity `json:"severity"`
	Summary   string          `json:"summary"`
	ProblemID string          `json:"problem_id"`
}

// HistoryView is a copy of the history: rates oldest first, the timeline
// newest first.
type HistoryView struct {
	Rates    []RatePoint
	Timeline []TimelineEntry
}

// History keeps the page's rates and timeline. Its methods are safe for
// concurrent use; it is fed once a second and on each transition, never
// from the binlog hot path.
type History struct {
	mu     sync.Mutex
	step   time.Duration
	base   stream.Snapshot // the counters the next rate point is measured from
	based  bool
	rates  ring[RatePoint]
	events ring[TimelineEntry]
}

// NewHistory keeps window worth of rate points, one per step, and the last
// events transitions.
func NewHistory(window, step time.Duration, events int) *History {
	return &History{step: step, rates: newRing[RatePoint](int(window / step)), events: newRing[TimelineEntry](events)}
}

// Observe takes a stream snapshot; once a step has passed since the last
// point it adds the average rates over that time. A snapshot from a stream
// whose counters went backwards (a new meter) starts over from it.
func (h *History) Observe(s stream.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.based || s.At.Before(h.base.At) || !countersGrew(h.base.Counters, s.Counters) {
		h.base, h.based = s, true
		return
	}
	dt := s.At.Sub(h.base.At)
	if dt < h.step {
		return
	}
	secs := dt.Seconds()
	rate := func(now, then uint64) float64 { return float64(now-then) / secs }
	b := h.base.Counters
	h.rates.push(RatePoint{
		At:           s.At,
		Events:       rate(nonHeartbeat(s.Counters), nonHeartbeat(b)),
		Bytes:        rate(s.Bytes, b.Bytes),
		Rows:         rate(s.Rows.Total(), b.Rows.Total()),
		Transactions: rate(s.Transactions, b.Transactions),
	})
	h.base = s
}

// Transition records a problem that fired or resolved.
func (h *History) Transition(tr health.Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events.push(TimelineEntry{At: tr.At, State: tr.State, Type: tr.Problem.Type, Subject: tr.Problem.Subject,
		Severity: tr.Problem.Severity, Summary: tr.Problem.Summary, ProblemID: tr.Problem.ID})
}

// View copies the history.
func (h *History) View() HistoryView {
	h.mu.Lock()
	defer h.mu.Unlock()
	tl := h.events.items()
	for i, j := 0, len(tl)-1; i < j; i, j = i+1, j-1 {
		tl[i], tl[j] = tl[j], tl[i]
	}
	return HistoryView{Rates: h.rates.items(), Timeline: tl}
}

// Run observes the stream once a second until ctx ends.
func (h *History) Run(ctx context.Context, snap func() stream.Snapshot) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	h.Observe(snap())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			h.Observe(snap())
		}
	}
}

func nonHeartbeat(c stream.Counters) uint64 {
	return c.EventsTotal() - c.Events[stream.EventHeartbeat]
}

// countersGrew is false when any counter went backwards.
func countersGrew(then, now stream.Counters) bool {
	for t := range then.Events {
		if now.Events[t] < then.Events[t] {
			return false
		}
	}
	return now.Bytes >= then.Bytes && now.Transactions >= then.Transactions && now.Rows.Insert >= then.Rows.Insert &&
		now.Rows.Update >= then.Rows.Update && now.Rows.Delete >= then.Rows.Delete
}

// ring keeps the last len(buf) values pushed.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) ring[T] { return ring[T]{buf: make([]T, max(n, 1))} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// items returns a copy, oldest first.
func (r *ring[T]) items() []T {
	if !r.full {
		return append([]T(nil), r.buf[:r.next]...)
	}
	return append(append(make([]T, 0, len(r.buf)), r.buf[r.next:]...), r.buf[:r.next]...)
}
