package health

import (
	"maps"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// PollDurationBuckets are the upper bounds, in seconds, of the poll
// duration histogram: a healthy poll takes milliseconds; one that waits
// out a read timeout takes seconds.
var PollDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// PollStats are the cumulative figures of every poll since start:
// binlog_sidecar_poll_duration_seconds and binlog_sidecar_poll_errors_total.
type PollStats struct {
	// The poll durations over PollDurationBuckets.
	stream.Seconds
	// ReadErrors counts, by Read, the polls in which that read did not
	// succeed (a failure, a missing privilege, or not tried after an
	// earlier read lost the connection); every read is present.
	ReadErrors map[string]uint64
}

func newPollStats() PollStats {
	s := PollStats{Seconds: stream.NewSeconds(PollDurationBuckets), ReadErrors: map[string]uint64{}}
	for _, r := range Reads() {
		s.ReadErrors[string(r)] = 0
	}
	return s
}

// observe adds one poll, in place.
func (s *PollStats) observe(took time.Duration, o Observation) {
	s.Observe(took)
	for _, r := range Reads() {
		if !o.Read(r).OK() {
			s.ReadErrors[string(r)]++
		}
	}
}

// clone is a copy a report may share with readers.
func (s PollStats) clone() PollStats {
	c := s
	c.Seconds, c.ReadErrors = s.Seconds.Clone(), maps.Clone(s.ReadErrors)
	return c
}
