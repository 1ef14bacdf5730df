package api

import (
	"fmt"
	"time"

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
