package health

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// semiSyncDegraded: semi-sync is enabled and one of its four failure modes
// shows in the counters. Each reason is its own problem so each resolves
// on its own.
func (e *eval) semiSyncDegraded() {
	const typ = TypeSemiSyncDegraded
	if !e.need(typ, ReadVariables, ReadStatus) {
		return
	}
	s, prev, prevAt := e.o.SemiSync, e.m.semi, e.m.semiAt
	e.m.semi, e.m.semiAt = &s, e.o.At
	e.m.noTimes = slices.DeleteFunc(e.m.noTimes, func(t time.Time) bool { return e.now.Sub(t) > e.FlapWindow })
	switch {
	case !s.Available:
		e.checks[typ] = Check{State: CheckOK, Reason: "semi-sync not available on this server"}
		return
	case !s.Enabled:
		e.m.noTimes = nil
		e.checks[typ] = Check{State: CheckOK, Reason: "semi-sync disabled"}
		return
	}
	before := len(e.findings)
	var dNoTimes uint64
	if prev != nil && prev.Enabled && s.NoTimes > prev.NoTimes { // a drop is a counter reset, not an event
		dNoTimes = s.NoTimes - prev.NoTimes
	}
	for range min(dNoTimes, maxSwitchOffs) {
		e.m.noTimes = append(e.m.noTimes, e.o.At)
	}
	if n := len(e.m.noTimes); n > maxSwitchOffs {
		e.m.noTimes = slices.Clone(e.m.noTimes[n-maxSwitchOffs:]) // bounded, newest kept
	}
	p := e.semiPrefix()
	ev := func(extra map[string]any) map[string]any {
		m := map[string]any{"semisync": s, "variables": e.o.Variables, "status": e.o.Status,
			"semisync_replicas_expected": e.expectedSemiSync(), "sql": e.sql(ReadVariables, ReadStatus)}
		maps.Copy(m, extra)
		return m
	}
	release := fmt.Sprintf("SET GLOBAL %s_enabled=OFF releases waiting commits at once", p)

	if s.StatusOn && s.Clients < s.Required {
		if st := e.streak(key{typ: typ, subject: subject{kind: kindSemiSync, name: ReasonClientsBelowRequired}}); st.n >= 2 {
			e.add(finding{typ: typ, subject: subject{kind: kindSemiSync, name: ReasonClientsBelowRequired}, reason: ReasonClientsBelowRequired, since: st.since,
				summary: fmt.Sprintf("Semi-sync is on but only %d semi-sync replica(s) are connected of the %d each commit waits for (timeout %d ms).",
					s.Clients, s.Required, s.TimeoutMS),
				remediation: fmt.Sprintf("Bring a semi-sync replica back (rpl_semi_sync_slave_enabled=ON on it, then %s), or fix the inventory; if none should exist, %s.", e.words.start, release),
				evidence:    ev(nil)})
		}
	}
	if prev != nil && prev.Enabled && s.WaitSessions > 0 && prev.WaitSessions > 0 && s.YesTx+s.NoTx == prev.YesTx+prev.NoTx {
		e.add(finding{typ: typ, subject: subject{kind: kindSemiSync, name: ReasonCommitsWaiting}, reason: ReasonCommitsWaiting, since: prevAt,
			summary: fmt.Sprintf("%d commit(s) are blocked waiting for a semi-sync acknowledgement and none completed since the last poll (timeout %d ms).",
				s.WaitSessions, s.TimeoutMS),
			remediation: fmt.Sprintf("%s; then bring the semi-sync replica back or fix the inventory before enabling it again.", release),
			evidence:    ev(map[string]any{"previous": *prev, "previous_at": prevAt})})
	}
	if !s.StatusOn || dNoTimes > 0 {
		since := e.o.At
		if prev != nil && !prev.StatusOn && prev.Enabled {
			since = prevAt
		}
		e.add(finding{typ: typ, subject: subject{kind: kindSemiSync, name: ReasonFellBackToAsync}, reason: ReasonFellBackToAsync, since: since,
			summary: fmt.Sprintf("Semi-sync is enabled but fell back to asynchronous replication (status %s, switched off %d time(s) since the last poll).",
				onOff(s.StatusOn), dNoTimes),
			remediation: fmt.Sprintf("Commits are not acknowledged by any replica: check the semi-sync replicas (%d connected, %d required); it switches back on once one catches up.", s.Clients, s.Required),
			evidence:    ev(map[string]any{"delta_no_times": dNoTimes})})
	}
	if len(e.m.noTimes) >= e.FlapCount {
		e.add(finding{typ: typ, subject: subject{kind: kindSemiSync, name: ReasonFlapping}, reason: ReasonFlapping, since: e.m.noTimes[e.FlapCount-1],
			summary: fmt.Sprintf("Semi-sync switched off %d times in %s.", len(e.m.noTimes), e.FlapWindow),
			remediation: fmt.Sprintf("A semi-sync replica keeps dropping out; each switch-off cost commits up to %d ms: check the replicas' links (dump_thread.flapping) or %s.",
				s.TimeoutMS, release),
			evidence: ev(map[string]any{"switched_off_at": e.m.noTimes})})
	}
	e.done(typ, before, "semi-sync enabled")
}

func (e *eval) semiPrefix() string {
	if p := e.o.SemiSync.Prefix; p != "" {
		return p
	}
	return "rpl_semi_sync_master"
}

func (e *eval) expectedSemiSync() []string {
	var out []string
	for _, en := range e.in.Inventory {
		if en.SemiSync {
			out = append(out, en.Addr())
		}
	}
	return out
}

// maxSwitchOffs bounds the remembered semi-sync switch-offs (and the
// evidence listing them): enough to see flapping, never a leak.
const maxSwitchOffs = 100

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
