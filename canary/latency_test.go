package canary

import (
	"reflect"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func TestSummarize(t *testing.T) {
	msd := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		give []time.Duration
		want *stream.LatencySummary
	}{
		{"none", nil, nil},
		{"one", msd(7), &stream.LatencySummary{P50: 7, P99: 7, Max: 7}},
		{"two", msd(9, 1), &stream.LatencySummary{P50: 1, P99: 9, Max: 9}},
		{"hundred", hundred, &stream.LatencySummary{P50: 50, P99: 99, Max: 100}},
		{"microseconds kept", []time.Duration{1500 * time.Microsecond}, &stream.LatencySummary{P50: 1.5, P99: 1.5, Max: 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.give); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
	s := msd(3, 1, 2)
	Summarize(s)
	if s[0] != 3*time.Millisecond {
		t.Error("Summarize sorted its argument")
	}
}

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	const slow = time.Second
	for _, tc := range []struct {
		name  string
		prev  Streak
		worst time.Duration
		known bool
		want  Streak
	}{
		{"fast stays clear", Streak{}, 5 * time.Millisecond, true, Streak{}},
		{"at the threshold is not slow", Streak{}, slow, true, Streak{}},
		{"first slow interval", Streak{}, 2 * slow, true, Streak{N: 1, Since: t1}},
		{"second keeps its start", Streak{N: 1, Since: t0}, 2 * slow, true, Streak{N: 2, Since: t0}},
		{"fast ends it", Streak{N: 3, Since: t0}, time.Millisecond, true, Streak{}},
		{"no write: no evidence", Streak{N: 1, Since: t0}, 0, false, Streak{N: 1, Since: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Judge(tc.prev, tc.worst, tc.known, slow, t1); got != tc.want {
				t.Errorf("Judge = %+v, want %+v", got, tc.want)
			}
		})
	}
	if (Streak{N: 1}).Slow() || !(Streak{N: SlowIntervals}).Slow() {
		t.Error("Slow: want false at 1 interval, true at SlowIntervals")
	}
}

func TestWindow(t *testing.T) {
	w := newWindow(3)
	for i := 1; i <= 5; i++ {
		w.add(time.Duration(i))
	}
	got := Summarize(w.samples())
	if len(w.samples()) != 3 || got.Max != ms(5) {
		t.Errorf("window keeps %d samples, max %v; want the last 3", len(w.samples()), got.Max)
	}
}

func TestUpsertSQL_escapes(t *testing.T) {
	got := upsertSQL(`db'1\`, 7, 42)
	want := `INSERT INTO binlog_sidecar.heartbeat (seq, written_us, server_id, instance) VALUES (7, 42, @@server_id, 'db''1\\') ` +
		`ON DUPLICATE KEY UPDATE seq = 7, written_us = 42, server_id = @@server_id`
	if got != want {
		t.Errorf("upsertSQL:\n got %s\nwant %s", got, want)
	}
}
