package canary

import (
	"math"
	"slices"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Summarize returns the p50, p99 (nearest rank) and max of samples in
// milliseconds; nil without samples. samples is not modified.
func Summarize(samples []time.Duration) *stream.LatencySummary {
	if len(samples) == 0 {
		return nil
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return &stream.LatencySummary{P50: ms(rank(0.50)), P99: ms(rank(0.99)), Max: ms(s[len(s)-1])}
}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// window keeps the last n samples, oldest overwritten first.
type window struct {
	buf  []time.Duration
	next int
	full bool
}

func newWindow(n int) window { return window{buf: make([]time.Duration, n)} }

func (w *window) add(d time.Duration) {
	w.buf[w.next] = d
	if w.next++; w.next == len(w.buf) {
		w.next, w.full = 0, true
	}
}

func (w *window) samples() []time.Duration {
	if w.full {
		return w.buf
	}
	return w.buf[:w.next]
}

// Buckets are the upper bounds, in seconds, of the commit and delivery
// histograms: a healthy commit takes a millisecond or a few; one that
// waits out a semi-sync timeout takes seconds.
var Buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Streak counts consecutive intervals whose commit latency was above the
// slow threshold; commit.slow fires at SlowIntervals.
type Streak struct {
	N     int       // consecutive slow intervals
	Since time.Time // the start of the first (when its write was sent)
}

// SlowIntervals is how many intervals in a row commit latency must stay
// above the threshold for commit.slow.
const SlowIntervals = 2

// Slow reports whether the streak is long enough for commit.slow.
func (s Streak) Slow() bool { return s.N >= SlowIntervals }

// Judge is the slow rule's input step, once per interval: worst is the
// longest commit latency of the interval (a write still in flight counts
// with how long it has waited so far), known false when the interval had
// no write at all (skipped, or an error before the write). A slow interval
// extends the streak, a fast one ends it, and an interval without a write
// leaves it as it is: no evidence either way.
func Judge(prev Streak, worst time.Duration, known bool, threshold time.Duration, since time.Time) Streak {
	switch {
	case !known:
		return prev
	case worst <= threshold:
		return Streak{}
	case prev.N == 0:
		return Streak{N: 1, Since: since}
	}
	prev.N++
	return prev
}
