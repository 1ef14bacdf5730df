package api

import (
	"fmt"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Readiness decides /readyz from a stream snapshot: ready when connected to
// the server and the stream delivered an event or heartbeat within three
// heartbeat periods. The reasons say what is wrong and, where known, how to
// fix it.
func Readiness(s stream.Snapshot) (bool, []string) {
	var reasons []string
	if !s.Connected {
		r := "not connected to the server"
		if s.LastError != "" {
			r += ": " + s.LastError
		}
		if s.Hint != "" {
			r += " (fix: " + s.Hint + ")"
		}
		reasons = append(reasons, r)
	} else if s.Stalled() {
		reasons = append(reasons, fmt.Sprintf("stream stalled: no event or heartbeat for %s (limit %s, 3 heartbeat periods)",
			s.At.Sub(s.QuietSince()).Round(time.Millisecond), 3*s.HeartbeatPeriod))
	}
	return len(reasons) == 0, reasons
}

// BlindReasons are the checks that cannot run (check.unavailable), each
// with its fix, for /readyz's reasons. They do not make the sidecar
// unready: its stream still works, and a restart would not grant a
// privilege; but the reasons never read as if everything were fine.
func BlindReasons(rep health.Report) []string {
	var out []string
	for _, p := range rep.Problems {
		if p.Type == health.TypeCheckUnavailable {
			out = append(out, fmt.Sprintf("%s: %s (fix: %s)", p.Subject, p.Summary, p.Remediation))
		}
	}
	return out
}
