package health

import (
	"fmt"
	"maps"
	"time"
)

// TypeCommitSlow is the canary's problem: commit latency stayed above
// SIDECAR_CANARY_SLOW for 2 intervals.
const TypeCommitSlow = "commit.slow"

// CanaryView is what the commit.slow rule reads from the canary
// (SIDECAR_CANARY) at each poll.
type CanaryView struct {
	// State is the canary's state: writing, skipped (read-only server),
	// unavailable (missing privilege or table), failing, starting.
	State  string
	Reason string
	// Threshold is SIDECAR_CANARY_SLOW.
	Threshold time.Duration
	// SlowIntervals counts consecutive intervals above Threshold (a write
	// still in flight counts with how long it has waited); SlowSince is
	// when the first of them started.
	SlowIntervals int
	SlowSince     time.Time
	// Slow is SlowIntervals reaching the rule's count (canary.SlowIntervals).
	Slow bool
	// LastCommit is the latest completed write's commit latency; InFlight
	// how long the write in flight has waited (0: none).
	LastCommit, InFlight time.Duration
	// Seq is the latest write's sequence number.
	Seq uint64
	// Missing and Fix, while unavailable: what the account lacks and the
	// statements that fix it.
	Missing, Fix string
}

// commitSlow: the canary's commits stay slow. The evidence joins the
// latencies with what this poll saw on the server, so the event says why:
// commits waiting for a semi-sync acknowledgement, the semi-sync replicas
// connected, zombie dump threads still holding a replica's slot.
func (e *eval) commitSlow() {
	const typ = TypeCommitSlow
	c := e.in.Canary
	switch {
	case c == nil:
		e.checks[typ] = Check{State: CheckNotEvaluated, Reason: "canary off (SIDECAR_CANARY)"}
		return
	case c.State == "unavailable":
		// Blind: a check.unavailable of its own, so health is not ok.
		e.checks[typ] = Check{State: CheckUnavailable, Reason: c.Reason}
		subj := subject{kind: kindCheck, name: "canary"}
		st := e.streak(key{typ: TypeCheckUnavailable, subject: subj})
		e.add(finding{typ: TypeCheckUnavailable, subject: subj, since: st.since,
			summary:     fmt.Sprintf("The canary cannot write its heartbeat row: the account lacks %s; %s cannot be judged.", c.Missing, typ),
			remediation: c.Fix,
			evidence:    map[string]any{"check": "canary", "missing": c.Missing, "checks": []string{typ}, "error": c.Reason}})
		return
	case c.State == "skipped":
		e.checks[typ] = Check{State: CheckNotEvaluated, Reason: c.Reason}
		return
	}
	before := len(e.findings)
	if c.Slow {
		worst := max(c.LastCommit, c.InFlight)
		why := e.slowCause()
		e.add(finding{typ: typ, subject: subject{kind: kindCanary, name: "commit"}, since: c.SlowSince,
			summary: fmt.Sprintf("Commits are slow: the canary's commit latency stayed above %s for %d intervals (now %s)%s.",
				c.Threshold, c.SlowIntervals, worst.Round(time.Millisecond), why),
			remediation: e.slowFix(),
			evidence:    e.slowEvidence(c)})
	}
	e.done(typ, before, fmt.Sprintf("threshold %s", c.Threshold))
}

// slowCause is the likely cause this poll shows, as a clause.
func (e *eval) slowCause() string {
	s := e.o.SemiSync
	switch {
	case s.Enabled && s.WaitSessions > 0:
		return fmt.Sprintf("; %d session(s) wait for a semi-sync acknowledgement (%d semi-sync replica(s) connected, timeout %d ms)",
			s.WaitSessions, s.Clients, s.TimeoutMS)
	case e.found(TypeDumpThreadZombie) > 0:
		return fmt.Sprintf("; %d zombie dump thread(s)", e.found(TypeDumpThreadZombie))
	}
	return ""
}

func (e *eval) slowFix() string {
	s := e.o.SemiSync
	if s.Enabled && s.WaitSessions > 0 {
		return fmt.Sprintf("Commits wait for a semi-sync acknowledgement: bring the semi-sync replica back, or SET GLOBAL %s_enabled=OFF to release them at once.", e.semiPrefix())
	}
	return "Find what holds commits: semi-sync waits (SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'), lock waits and long transactions (information_schema.innodb_trx), disk or fsync stalls."
}

// found counts this poll's findings of one type.
func (e *eval) found(typ string) int {
	n := 0
	for _, f := range e.findings {
		if f.typ == typ {
			n++
		}
	}
	return n
}

// zombies lists the zombie dump threads found in this poll for the
// evidence: people read it, no decision does.
func (e *eval) zombies() []map[string]any {
	var out []map[string]any
	for _, f := range e.findings {
		if f.typ == TypeDumpThreadZombie {
			z := map[string]any{"subject": f.subject.String()}
			for _, k := range []string{"thread_id", "replica", "reason"} {
				if v, ok := f.evidence[k]; ok {
					z[k] = v
				}
			}
			out = append(out, z)
		}
	}
	return out
}

func (e *eval) slowEvidence(c *CanaryView) map[string]any {
	var replicas []string
	for _, r := range e.t.replicas {
		if _, ok := r.current(); ok {
			replicas = append(replicas, r.addr())
		}
	}
	s := e.o.SemiSync
	ev := map[string]any{
		"threshold_ms":               durMS(c.Threshold),
		"slow_intervals":             c.SlowIntervals,
		"last_commit_ms":             durMS(c.LastCommit),
		"in_flight_ms":               durMS(c.InFlight),
		"canary_seq":                 c.Seq,
		"semisync_wait_sessions":     s.WaitSessions,
		"semisync_clients":           s.Clients,
		"semisync_status_on":         s.StatusOn,
		"semisync_timeout_ms":        s.TimeoutMS,
		"semisync":                   s,
		"semisync_replicas_expected": e.expectedSemiSync(),
		"replicas_connected":         replicas,
		"zombie_threads":             e.zombies(),
		"sql":                        e.sql(ReadVariables, ReadStatus, ReadDumpThreads),
		"health_poll_took_ms":        durMS(e.o.Took),
	}
	if e.o.Variables != nil {
		ev["variables"] = maps.Clone(e.o.Variables)
	}
	return ev
}

func durMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
