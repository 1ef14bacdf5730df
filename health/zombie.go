package health

import (
	"fmt"
	"time"
)

// dumpThreadZombie: a dump thread whose replica does not send a handshake
// greeting for ZombieGrace, or one superseded by a newer thread of the same
// replica (two polls in a row).
func (e *eval) dumpThreadZombie() {
	const typ = TypeDumpThreadZombie
	if !e.need(typ, ReadDumpThreads, ReadReplicaHosts) {
		return
	}
	before := len(e.findings)
	for _, r := range e.t.replicas {
		for i, th := range r.threads {
			switch {
			case i == 0:
				e.unanswered(r, th)
			case r.reg != nil:
				e.superseded(r, th)
			}
		}
	}
	e.done(typ, before, fmt.Sprintf("grace %s", e.ZombieGrace))
}

func (e *eval) unanswered(r *replica, th DumpThread) {
	const typ = TypeDumpThreadZombie
	addr := r.probeAddr()
	res, probed := e.in.Probes[addr]
	if addr == "" || !probed || res.OK {
		return
	}
	k := key{typ: typ, subject: subject{kind: kindUnanswered, thread: th.ID}}
	var st streak
	if res.Unresolved {
		// No evidence this poll (DNS is down, not the replica): keep what
		// was counted, add nothing, and start nothing.
		var counted bool
		if st, counted = e.m.streaks[k]; !counted {
			return
		}
		e.touched[k] = true
	} else {
		st = e.streak(k)
	}
	if e.now.Sub(st.since) < e.ZombieGrace {
		return
	}
	f := finding{typ: typ, subject: threadSubject(th.ID), since: st.since,
		summary: fmt.Sprintf("Dump thread %d serves %s, which has not answered a MySQL handshake for %s (%s).",
			th.ID, addr, e.now.Sub(st.since).Round(time.Second), res.Err),
		remediation: fmt.Sprintf("KILL %d; — the replica at %s is gone or frozen, and its dump thread holds a connection, pins binlog files and may count as a semi-sync client. Then check the replica itself.",
			th.ID, addr),
		evidence: map[string]any{"reason": KillNoGreeting, "thread_id": th.ID, "dump_thread": th, "replica": r.addr(),
			"probe": res, "grace": e.ZombieGrace.String(), "mapping_exact": r.exact, "heartbeat_ns": th.HeartbeatNS,
			"sql": e.sql(ReadDumpThreads, ReadReplicaHosts)}}
	if r.reg != nil {
		f.evidence["registration"] = *r.reg
	}
	last, ever := e.m.answered[addr]
	f.evidence["last_answered"] = seenText(last, ever)
	switch {
	case !ever && !res.Connected:
		// Never answered and never even accepted TCP: a firewall between
		// this host and the replica's port looks exactly like a dead host.
		// Say so, and never kill on it.
		f.remediation += fmt.Sprintf(" %s has not answered a handshake since the sidecar started and does not accept TCP from here: if a firewall blocks this host, the thread may be healthy; check SHOW SLAVE STATUS on the replica before killing it.", addr)
	case res.Unresolved:
		// Still firing from before the DNS outage; no kill on stale evidence.
	case r.reg != nil && r.exact:
		f.kill = &Kill{ThreadID: th.ID, Replica: r.addr(), Reason: KillNoGreeting}
	default:
		f.remediation += " (Which thread serves it is a guess: several replicas connect from " + th.IP() + ".)"
	}
	e.add(f)
}

func (e *eval) superseded(r *replica, th DumpThread) {
	const typ = TypeDumpThreadZombie
	st := e.streak(key{typ: typ, subject: subject{kind: kindSuperseded, thread: th.ID}})
	if st.n < 2 {
		return
	}
	cur, _ := r.current()
	e.add(finding{typ: typ, subject: threadSubject(th.ID), since: st.since,
		kill: &Kill{ThreadID: th.ID, Replica: r.addr(), Reason: KillSuperseded},
		summary: fmt.Sprintf("Dump thread %d was superseded by thread %d of the same replica %s and still exists.",
			th.ID, cur.ID, r.addr()),
		remediation: fmt.Sprintf("KILL %d; — the replica reconnected as thread %d; the old thread only holds a connection and pins binlog files.", th.ID, cur.ID),
		evidence: map[string]any{"reason": KillSuperseded, "thread_id": th.ID, "dump_thread": th, "current_thread": cur,
			"registration": *r.reg, "sql": e.sql(ReadDumpThreads, ReadReplicaHosts)}})
}
