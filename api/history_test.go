package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func TestRing(t *testing.T) {
	for _, tc := range []struct {
		size, pushes int
		want         string
	}{
		{3, 0, "[]"},
		{3, 2, "[1 2]"},
		{3, 3, "[1 2 3]"},
		{3, 4, "[2 3 4]"},
		{3, 7, "[5 6 7]"},
		{1, 5, "[5]"},
		{0, 2, "[2]"}, // a ring always holds at least one value
	} {
		r := newRing[int](tc.size)
		for i := 1; i <= tc.pushes; i++ {
			r.push(i)
		}
		if got := fmt.Sprint(r.items()); got != tc.want {
			t.Errorf("ring(%d) after %d pushes = %s, want %s", tc.size, tc.pushes, got, tc.want)
		}
	}
}

// snapAt is a snapshot at t0+sec with n of every figure: n events (plus
// hb heartbeats), n bytes, n rows (all inserts), n transactions.
func snapAt(t0 time.Time, sec float64, n, hb uint64) stream.Snapshot {
	s := stream.Snapshot{At: t0.Add(time.Duration(sec * float64(time.Second)))}
	s.Events[stream.EventWriteRows] = n
	s.Events[stream.EventHeartbeat] = hb
	s.Bytes, s.Rows.Insert, s.Transactions = n, n, n
	return s
}

func TestHistory_Observe(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type obs struct {
		sec   float64
		n, hb uint64
	}
	for _, tc := range []struct {
		name string
		obs  []obs
		want string // per point: seconds after t0 and events/s (bytes, rows, transactions are equal)
	}{
		{"first snapshot is only a base", []obs{{0, 100, 0}}, ""},
		{"less than a step: no point", []obs{{0, 0, 0}, {4, 40, 0}}, ""},
		{"one step", []obs{{0, 0, 0}, {5, 50, 0}}, "5s:10"},
		{"rates average over the time since the last point", []obs{{0, 0, 0}, {1, 99, 0}, {5, 100, 0}, {12, 170, 0}}, "5s:20 12s:10"},
		{"heartbeats are not events", []obs{{0, 0, 0}, {5, 0, 5}}, "5s:0"},
		{"counters backwards: new base, no negative rate", []obs{{0, 0, 0}, {5, 50, 0}, {10, 5, 0}, {15, 55, 0}}, "5s:10 15s:10"},
		{"clock backwards: new base", []obs{{10, 0, 0}, {0, 50, 0}, {5, 100, 0}}, "5s:10"},
		{"an idle stream is 0", []obs{{0, 7, 3}, {5, 7, 3}, {10, 7, 3}}, "5s:0 10s:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistory(time.Minute, 5*time.Second, 10)
			for _, o := range tc.obs {
				h.Observe(snapAt(t0, o.sec, o.n, o.hb))
			}
			got := ""
			for i, p := range h.View().Rates {
				if p.Events != p.Bytes || p.Events != p.Rows || p.Events != p.Transactions {
					t.Errorf("point %d: rates differ: %+v", i, p)
				}
				if got != "" {
					got += " "
				}
				got += fmt.Sprintf("%s:%g", p.At.Sub(t0), p.Events)
			}
			if got != tc.want {
				t.Errorf("points = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHistory_windowAndTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := NewHistory(HistoryWindow, HistoryStep, HistoryEvents)
	for i := 0; i <= 1000; i++ { // 5000 s of one event a second
		h.Observe(snapAt(t0, float64(i*5), uint64(i*5), 0))
	}
	v := h.View()
	if n := len(v.Rates); n != int(HistoryWindow/HistoryStep) {
		t.Errorf("%d rate points, want %d", n, HistoryWindow/HistoryStep)
	}
	if span := v.Rates[len(v.Rates)-1].At.Sub(v.Rates[0].At); span >= HistoryWindow {
		t.Errorf("points span %s, want under %s", span, HistoryWindow)
	}

	for i := range HistoryEvents + 7 {
		st := health.StateFiring
		if i%2 == 1 {
			st = health.StateResolved
		}
		h.Transition(health.Transition{State: st, At: t0.Add(time.Duration(i) * time.Second),
			Problem: health.Problem{Type: "replica.missing", ID: fmt.Sprint(i)}})
	}
	tl := h.View().Timeline
	if len(tl) != HistoryEvents || tl[0].ProblemID != fmt.Sprint(HistoryEvents+6) || tl[len(tl)-1].ProblemID != "7" {
		t.Errorf("timeline has %d entries, %s..%s; want %d, newest (%d) first, oldest kept 7",
			len(tl), tl[0].ProblemID, tl[len(tl)-1].ProblemID, HistoryEvents, HistoryEvents+6)
	}
	if tl[0].State != health.StateFiring || tl[1].State != health.StateResolved {
		t.Errorf("states %s, %s; want firing (56) then resolved (55)", tl[0].State, tl[1].State)
	}
}
