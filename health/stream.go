package health

import (
	"fmt"
	"time"
)

// streamDown: the pseudo-replica is not connected in two consecutive polls.
func (e *eval) streamDown() {
	const typ = TypeStreamDown
	if e.in.Stream == nil {
		e.checks[typ] = Check{State: CheckNotEvaluated, Reason: "no binlog stream"}
		return
	}
	before, s := len(e.findings), *e.in.Stream
	if !s.Connected {
		if st := e.streak(key{typ: typ, subject: subject{kind: kindStream}}); st.n >= 2 {
			hint := s.Hint
			if hint == "" {
				hint = "Check SIDECAR_MYSQL_ADDR, that the sidecar's user has REPLICATION SLAVE, and that the server's binlog is on (SHOW MASTER STATUS)."
			}
			e.add(finding{typ: typ, subject: subject{kind: kindStream}, since: st.since,
				summary:     fmt.Sprintf("The sidecar's binlog stream has not been connected for %d polls: %s.", st.n, orNone(s.LastError)),
				remediation: hint,
				evidence: map[string]any{"last_error": s.LastError, "last_error_at": s.LastErrorAt, "hint": s.Hint,
					"reconnects": s.Reconnects, "position": s.Position, "polls": st.n}})
		}
	}
	e.done(typ, before, "")
}

// streamStalled: connected, but nothing (not even a heartbeat) for three
// heartbeat periods. A stall that ends in a disconnection (the stream's read
// timeout gave up on a frozen server) has not ended: it keeps firing until
// the stream is connected again, so health goes from degraded to critical
// when stream.down fires, never through ok, and nothing resolves while the
// server still does not answer.
func (e *eval) streamStalled() {
	const typ = TypeStreamStalled
	if e.in.Stream == nil {
		e.checks[typ] = Check{State: CheckNotEvaluated, Reason: "no binlog stream"}
		return
	}
	before, s := len(e.findings), *e.in.Stream
	_, stalledBefore := e.m.active[key{typ: typ, subject: subject{kind: kindStream}}]
	if s.Stalled() || stalledBefore && !s.Connected {
		last := s.QuietSince()
		summary := fmt.Sprintf("The binlog stream is connected but nothing, not even a heartbeat, arrived for %s.",
			s.At.Sub(last).Round(time.Second))
		if !s.Connected {
			summary = fmt.Sprintf("The binlog stream received nothing, not even a heartbeat, for %s, then lost its connection: %s.",
				s.At.Sub(last).Round(time.Second), orNone(s.LastError))
		}
		e.add(finding{typ: typ, subject: subject{kind: kindStream}, since: last.Add(3 * s.HeartbeatPeriod),
			summary: summary,
			remediation: "Look at the sidecar's dump thread on the server (SHOW PROCESSLIST, user " + orNone(e.o.User) +
				") and the network between them; the stream reconnects by itself after its read timeout.",
			evidence: map[string]any{"last_received": s.LastReceived, "connected_since": s.ConnectedSince,
				"heartbeat_period": s.HeartbeatPeriod.String(), "position": s.Position, "server_end": s.ServerEnd,
				"behind_bytes": s.BehindBytes}})
	}
	e.done(typ, before, "")
}

func orNone(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}
