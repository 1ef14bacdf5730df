package health

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Defaults of the rule thresholds (contract.md and replication-signals.md §8).
const (
	DefaultZombieGrace = 30 * time.Second
	DefaultFlapWindow  = 10 * time.Minute
	DefaultFlapCount   = 3
)

// Rules holds the thresholds of the health rules. Evaluate is a pure
// function of its arguments: no I/O, no clock.
type Rules struct {
	// SelfServerID is the sidecar's own server_id: its registration and dump
	// thread are never a replica.
	SelfServerID uint32
	// SelfRegisterHost is the host name the sidecar registers under
	// (stream/binlog.RegisterHost); with it set, a registration with the
	// sidecar's server_id and another host is a replica sharing the id.
	// Empty: the server_id alone decides.
	SelfRegisterHost string
	// ZombieGrace is how long a replica may fail the handshake probe while
	// its dump thread lives before dump_thread.zombie fires.
	ZombieGrace time.Duration
	// FlapWindow and FlapCount: this many reconnects (or semi-sync switch-
	// offs) within the window are flapping.
	FlapWindow time.Duration
	FlapCount  int
}

// Input is what one evaluation looks at, besides its memory and the time.
type Input struct {
	Observation         Observation
	Inventory           []inventory.Entry
	InventoryConfigured bool
	InventoryErr        string
	// Resolved maps lower-case host names (Hosts) to their IP addresses.
	Resolved map[string][]string
	// Probes holds handshake results by the address probed (ProbeTargets).
	Probes map[string]ProbeResult
	// Stream is the binlog stream's snapshot; nil when there is no stream.
	Stream *stream.Snapshot
	// SelfThreadID is the connection id of the sidecar's dump thread when
	// the stream knows it; 0 makes identify find it by elimination.
	SelfThreadID uint64
	// Canary is the commit-latency canary's view; nil when it is off.
	Canary *CanaryView
}

// Memory is what the rules carry from one poll to the next. The zero value
// is the memory before the first poll.
type Memory struct {
	active  map[key]Problem // by type and subject
	streaks map[key]streak  // conditions seen in consecutive polls
	// lastSeen is when each expected replica (by address) last had a thread.
	lastSeen map[string]time.Time
	// threadKey is the identity each dump thread had in the last poll, and
	// keySeen when each identity last had a thread: a thread id not seen
	// before for a known identity is a reconnect.
	threadKey  map[uint64]string
	keySeen    map[string]time.Time
	reconnects map[string][]reconnect
	// semi is the last readable semi-sync state; noTimes the times
	// semi-sync switched off within the flap window.
	semi    *SemiSync
	semiAt  time.Time
	noTimes []time.Time
	// answered is when each probed replica address last sent a handshake
	// greeting: a replica that never did may only be unreachable from here.
	answered map[string]time.Time
}

type streak struct {
	n     int       // consecutive polls
	since time.Time // poll time of the first
}

type reconnect struct {
	At     time.Time `json:"at"`
	Thread uint64    `json:"thread_id"`
	Addr   string    `json:"addr"`
}

// Active returns the problems firing now, most severe first.
func (m Memory) Active() []Problem {
	ps := slices.Collect(maps.Values(m.active))
	slices.SortFunc(ps, func(a, b Problem) int {
		if d := severityRank(b.Severity) - severityRank(a.Severity); d != 0 {
			return d
		}
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Type+a.Subject, b.Type+b.Subject)
	})
	return ps
}

func severityRank(s Severity) int {
	return map[Severity]int{SeverityInfo: 0, SeverityWarning: 1, SeverityCritical: 2}[s]
}

func (m Memory) clone() Memory {
	c := m
	c.active = cloneOrNew(m.active)
	c.streaks = cloneOrNew(m.streaks)
	c.lastSeen = cloneOrNew(m.lastSeen)
	c.threadKey = cloneOrNew(m.threadKey)
	c.keySeen = cloneOrNew(m.keySeen)
	c.reconnects = cloneOrNew(m.reconnects)
	c.noTimes = slices.Clone(m.noTimes)
	c.answered = cloneOrNew(m.answered)
	return c
}

func cloneOrNew[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return maps.Clone(m)
}

// finding is one problem condition that holds in this poll.
type finding struct {
	typ                  string
	subject              subject
	reason               string
	since                time.Time
	summary, remediation string
	evidence             map[string]any
	kill                 *Kill // a zombie thread that may be killed (mapping certain); nil: none
}

func (f finding) key() key { return key{typ: f.typ, subject: f.subject} }

// eval is one evaluation in progress: the rules below are its methods.
type eval struct {
	Rules
	m        *Memory
	in       Input
	o        Observation
	t        topology
	now      time.Time
	words    words
	checks   map[string]Check
	needs    map[string][]Read // the reads each check declared it needs
	findings []finding
	touched  map[key]bool
}

// Outcome is what one evaluation decided: the problems that started firing
// or resolved, the report for /status and metrics, and the zombie dump
// threads that may be killed (the monitor kills them when enabled).
type Outcome struct {
	Transitions []Transition
	Report      Report
	Kills       []Kill
}

// Kill is a zombie dump thread the rules found killable, because which
// replica it serves is certain: the thread, that replica's address, why,
// and the dump_thread.zombie problem it acts on.
type Kill struct {
	ThreadID  uint64
	Replica   string
	Reason    string // KillNoGreeting or KillSuperseded
	ProblemID string
}

// The reasons of a Kill, also the evidence.reason of dump_thread.zombie.
const (
	KillNoGreeting = "no_greeting" // the replica sends no handshake greeting
	KillSuperseded = "superseded"  // a newer thread serves the same replica
)

// Evaluate applies every rule to one observation. It returns the memory
// for the next poll and what the rules decided.
func (r Rules) Evaluate(prev Memory, in Input, now time.Time) (Memory, Outcome) {
	r = r.withDefaults()
	m := prev.clone()
	e := &eval{Rules: r, m: &m, in: in, o: in.Observation, now: now, words: wordsFor(in.Observation.Server),
		checks: map[string]Check{}, needs: map[string][]Read{}, touched: map[key]bool{}}
	e.t = identify(e.o, in.Inventory, in.Resolved, r.SelfServerID, r.SelfRegisterHost, in.SelfThreadID)

	e.streamDown()
	e.streamStalled()
	e.replicaMissing()
	e.replicaUnknown()
	e.dumpThreadZombie()
	e.dumpThreadFlapping()
	e.semiSyncDegraded()
	e.sourceUnreachable()
	e.commitSlow()       // after the zombie rule: its evidence names the zombies found
	e.checkUnavailable() // last: it looks at what the others needed

	for k := range m.streaks {
		if e.touched[k] {
			continue
		}
		// A failed read is no evidence either way: a condition counted
		// before it keeps its streak (and its problem its id) instead of
		// resolving on the next good poll and firing again as new.
		if st := e.checks[k.typ].State; st == CheckUnknown || st == CheckUnavailable {
			continue
		}
		delete(m.streaks, k) // a condition that did not hold this poll starts over
	}
	trs := m.reconcile(e.findings, e.checks, now)
	e.remember()
	return m, Outcome{Transitions: trs, Report: e.report(), Kills: e.kills()}
}

func (r Rules) withDefaults() Rules {
	if r.ZombieGrace < 0 {
		r.ZombieGrace = 0
	}
	if r.FlapWindow <= 0 {
		r.FlapWindow = DefaultFlapWindow
	}
	if r.FlapCount <= 0 {
		r.FlapCount = DefaultFlapCount
	}
	return r
}

// ProbeTargets returns the addresses whose handshake the zombie rule
// needs: each replica's own server, except the sidecar.
func (r Rules) ProbeTargets(in Input) []string {
	t := identify(in.Observation, in.Inventory, in.Resolved, r.SelfServerID, r.SelfRegisterHost, in.SelfThreadID)
	var out []string
	for _, rep := range t.replicas {
		if a := rep.probeAddr(); a != "" && len(rep.threads) > 0 && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// streak counts a condition that holds in this poll.
func (e *eval) streak(k key) streak {
	s := e.m.streaks[k]
	if s.n == 0 {
		s.since = e.o.At
	}
	s.n++
	e.m.streaks[k] = s
	e.touched[k] = true
	return s
}

// need reports whether the reads a check depends on succeeded; if not, the
// check is unknown or, for a missing privilege, unavailable.
func (e *eval) need(typ string, reads ...Read) bool {
	e.needs[typ] = append(e.needs[typ], reads...)
	c, ok := readsCheck(e.o, reads...)
	if !ok {
		e.checks[typ] = c
	}
	return ok
}

func readsCheck(o Observation, reads ...Read) (Check, bool) {
	for _, r := range reads {
		res := o.Read(r)
		switch {
		case res.MissingPrivilege != "":
			return Check{State: CheckUnavailable, Reason: fmt.Sprintf("missing privilege %s for %s", res.MissingPrivilege, res.SQL)}, false
		case res.At.IsZero():
			return Check{State: CheckUnknown, Reason: fmt.Sprintf("%s not read", r)}, false
		case res.Err != "":
			return Check{State: CheckUnknown, Reason: fmt.Sprintf("%s failed: %s", r, res.Err)}, false
		}
	}
	return Check{}, true
}

// done records a check's state unless a failed read already decided it.
func (e *eval) done(typ string, before int, reason string) {
	if _, set := e.checks[typ]; set {
		return
	}
	state := CheckOK
	for _, f := range e.findings[before:] {
		if f.typ == typ {
			state = CheckFiring
		}
	}
	e.checks[typ] = Check{State: state, Reason: reason}
}

func (e *eval) add(f finding) {
	if f.evidence == nil {
		f.evidence = map[string]any{}
	}
	if f.reason != "" {
		f.evidence["reason"] = f.reason
	}
	f.evidence["polled_at"] = e.o.At
	f.evidence["first_seen"] = f.since
	f.evidence["server"] = e.o.Server
	e.findings = append(e.findings, f)
}

func (e *eval) sql(reads ...Read) map[string]string {
	out := map[string]string{}
	for _, r := range reads {
		out[string(r)] = e.o.Read(r).SQL
	}
	return out
}

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

// inventoryEvaluated: the inventory rules run only with a non-empty
// inventory (contract: otherwise /status says they are not evaluated).
func (e *eval) inventoryEvaluated(typ string) bool {
	if !e.in.InventoryConfigured || len(e.in.Inventory) == 0 {
		e.checks[typ] = Check{State: CheckNotEvaluated, Reason: "no replica inventory (SIDECAR_EXPECTED_REPLICAS)"}
		return false
	}
	return true
}

// replicaMissing: an expected replica has no dump thread in two
// consecutive polls.
func (e *eval) replicaMissing() {
	const typ = TypeReplicaMissing
	if !e.inventoryEvaluated(typ) || !e.need(typ, ReadDumpThreads, ReadReplicaHosts) {
		return
	}
	before := len(e.findings)
	for _, en := range e.t.missing {
		st := e.streak(key{typ: typ, subject: subject{kind: kindReplica, name: en.Addr()}})
		if st.n < 2 {
			continue
		}
		last, seen := e.m.lastSeen[en.Addr()]
		rem := fmt.Sprintf("On %s run %s and %s if replication stopped, or fix its %s %s; if it was decommissioned, remove it from the inventory (SIDECAR_EXPECTED_REPLICAS).",
			en.Addr(), e.words.showStatus, e.words.start, e.words.change, e.words.host)
		if en.SemiSync && e.o.SemiSync.Enabled {
			rem += fmt.Sprintf(" It is a semi-sync replica: while it is away commits may wait; SET GLOBAL %s_enabled=OFF releases them.", e.semiPrefix())
		}
		ev := map[string]any{"expected": en, "resolved_ips": hostIPs(en.Host, e.in.Resolved), "polls": st.n,
			"dump_threads": e.o.DumpThreads, "replica_hosts": e.o.Replicas,
			"sql": e.sql(ReadDumpThreads, ReadReplicaHosts)}
		if seen {
			ev["last_seen"] = last
		}
		e.add(finding{typ: typ, subject: subject{kind: kindReplica, name: en.Addr()}, since: st.since,
			summary:     fmt.Sprintf("Expected replica %s has had no dump thread on this server for %d polls (last seen %s).", en.Addr(), st.n, seenText(last, seen)),
			remediation: rem, evidence: ev})
	}
	e.done(typ, before, "")
}

// replicaUnknown: a dump thread serves a replica the inventory does not
// list. The sidecar itself was set aside by identify.
func (e *eval) replicaUnknown() {
	const typ = TypeReplicaUnknown
	if !e.inventoryEvaluated(typ) || !e.need(typ, ReadDumpThreads, ReadReplicaHosts) {
		return
	}
	before := len(e.findings)
	for _, r := range e.t.replicas {
		th, ok := r.current()
		if r.entry != nil || !ok {
			continue
		}
		ev := map[string]any{"dump_thread": th, "identity": r.key, "sql": e.sql(ReadDumpThreads, ReadReplicaHosts)}
		sid := "unregistered"
		if r.reg != nil {
			ev["registration"] = *r.reg
			sid = "server_id " + strconv.FormatUint(uint64(r.reg.ServerID), 10)
		}
		e.add(finding{typ: typ, subject: subject{kind: kindReplica, name: r.addr()}, since: e.o.At,
			summary: fmt.Sprintf("Dump thread %d serves %s (%s, user %s from %s), which is not in the replica inventory.",
				th.ID, r.addr(), sid, th.User, th.Host),
			remediation: fmt.Sprintf("If %s is a legitimate replica, add it to the inventory; otherwise stop replication on it (%s) or KILL %d; and revoke REPLICATION SLAVE from '%s'.",
				r.addr(), e.words.stop, th.ID, th.User),
			evidence: ev})
	}
	e.done(typ, before, "")
}

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

// dumpThreadFlapping: one replica identity reconnects FlapCount times in
// FlapWindow (typically two servers sharing a server_id or server_uuid and
// evicting each other), or this server's own replication is evicted by a
// same-id peer (4052, or 1236/13114 naming the same server_id).
func (e *eval) dumpThreadFlapping() {
	const typ = TypeDumpThreadFlapping
	before := len(e.findings)
	for key, evs := range e.m.reconnects {
		evs = slices.DeleteFunc(evs, func(r reconnect) bool { return e.now.Sub(r.At) > e.FlapWindow })
		if len(evs) == 0 {
			delete(e.m.reconnects, key)
			continue
		}
		e.m.reconnects[key] = evs
	}
	if e.need(typ, ReadDumpThreads, ReadReplicaHosts) {
		for _, r := range e.t.replicas {
			th, ok := r.current()
			if _, known := e.m.threadKey[th.ID]; !ok || known {
				continue
			}
			if _, seen := e.m.keySeen[r.key]; seen {
				e.m.reconnects[r.key] = append(e.m.reconnects[r.key], reconnect{At: e.o.At, Thread: th.ID, Addr: regAddr(r, th)})
			}
		}
		for _, key := range slices.Sorted(maps.Keys(e.m.reconnects)) {
			evs := e.m.reconnects[key]
			if len(evs) < e.FlapCount {
				continue
			}
			var addrs []string
			for _, ev := range evs {
				if !slices.Contains(addrs, ev.Addr) {
					addrs = append(addrs, ev.Addr)
				}
			}
			summary := fmt.Sprintf("Replica %s got a new dump thread %d times in %s.", key, len(evs), e.FlapWindow)
			if len(addrs) > 1 {
				summary = fmt.Sprintf("Replica %s got a new dump thread %d times in %s, registered as %s: two servers share this identity.",
					key, len(evs), e.FlapWindow, strings.Join(addrs, " and "))
			}
			// MariaDB evicts an older connection with the same server_id (MySQL:
			// server_uuid), so two servers sharing one keep replacing each other;
			// SHOW SLAVE HOSTS may even list both (seen on 10.11).
			rem := fmt.Sprintf("Most often two servers share %s and evict each other: run SELECT @@server_id, @@server_uuid on each replica and give each a unique server_id (SET GLOBAL server_id=... and in its my.cnf; MySQL: a unique server_uuid in auto.cnf), then restart replication on it. Otherwise check the replica's error log and the link to it.", key)
			e.add(finding{typ: typ, subject: subject{kind: kindReplica, name: key}, since: evs[e.FlapCount-1].At, summary: summary, remediation: rem,
				evidence: map[string]any{"reconnects": evs, "addresses": addrs, "window": e.FlapWindow.String(),
					"sql": e.sql(ReadDumpThreads, ReadReplicaHosts)}})
		}
	}
	// The replica-side half has a check of its own: a channel read that
	// fails (e.g. without SLAVE MONITOR) must neither hide nor freeze the
	// dump-thread half.
	if c, ok := readsCheck(e.o, ReadChannels); !ok {
		e.checks[typ+channelCheck] = c
	} else {
		for _, ch := range e.o.Channels {
			if !sameIDError(ch) {
				continue
			}
			e.add(finding{typ: typ, subject: subject{kind: kindChannel, name: channelName(ch)}, since: e.o.At,
				summary: fmt.Sprintf("This server's replication from %s is being evicted by another replica with the same server_id (error %d).",
					ch.SourceAddr(), ch.LastIOErrno),
				remediation: "Another server uses this server's server_id (SELECT @@server_id here, then on the others): give each a unique server_id and restart replication.",
				evidence:    map[string]any{"channel": ch, "sql": e.sql(ReadChannels)}})
		}
	}
	e.done(typ, before, fmt.Sprintf("%d reconnects in %s", e.FlapCount, e.FlapWindow))
}

func regAddr(r *replica, th DumpThread) string {
	if r.reg != nil && r.reg.Host != "" {
		return r.reg.Addr()
	}
	return th.IP()
}

// sameIDError reports a replica-side error that means another replica with
// this server's server_id (or server_uuid) took its place.
func sameIDError(ch Channel) bool {
	msg := strings.ToLower(ch.LastIOError)
	same := strings.Contains(msg, "same server_id") || strings.Contains(msg, "same server_uuid") || strings.Contains(msg, "same server id")
	return ch.LastIOErrno == 4052 || (ch.LastIOErrno == 1236 || ch.LastIOErrno == 13114) && same
}

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

// unreachableErrnos are client errors of a replica IO thread that mean its
// source does not answer or does not exist (replication-signals.md §5).
var unreachableErrnos = map[int]bool{2002: true, 2003: true, 2005: true, 2006: true, 2013: true}

// sourceUnreachable: this server is a replica whose IO thread cannot reach
// its source, in two consecutive polls.
func (e *eval) sourceUnreachable() {
	const typ = TypeSourceUnreachable
	if !e.need(typ, ReadChannels) {
		return
	}
	before := len(e.findings)
	for _, ch := range e.o.Channels {
		io := strings.ToLower(ch.IORunning)
		if io != "connecting" && io != "no" || !unreachableErrnos[ch.LastIOErrno] {
			continue
		}
		st := e.streak(key{typ: typ, subject: subject{kind: kindChannel, name: ch.Name}})
		if st.n < 2 {
			continue
		}
		e.add(finding{typ: typ, subject: subject{kind: kindSource, name: ch.SourceAddr()}, since: st.since,
			summary: fmt.Sprintf("This server replicates from %s, which does not answer or does not exist (IO thread %s, error %d).",
				ch.SourceAddr(), ch.IORunning, ch.LastIOErrno),
			remediation: e.repoint(ch),
			evidence:    map[string]any{"channel": ch, "polls": st.n, "sql": e.sql(ReadChannels)}})
	}
	e.done(typ, before, "")
}

func (e *eval) repoint(ch Channel) string {
	w := e.words
	change, stop, start, tail := w.change, w.stop, w.start, ""
	switch {
	case w.channelFmt != "":
		tail = fmt.Sprintf(w.channelFmt, ch.Name)
	case ch.Name != "": // MariaDB multi-source: the connection name follows the verb
		q := "'" + ch.Name + "'"
		change, stop, start = "CHANGE MASTER "+q+" TO", stop+" "+q, start+" "+q
	}
	return fmt.Sprintf("Check that %s is the right source and reachable from this server (DNS, firewall, its mysqld); to repoint: %s%s; %s %s='<source>', %s=<port>%s; %s%s; if this server should no longer replicate, RESET SLAVE ALL.",
		ch.SourceAddr(), stop, tail, change, w.host, w.port, tail, start, tail)
}

// kills are the killable threads of this poll's zombie findings, each with
// the ID of the problem it acts on.
func (e *eval) kills() []Kill {
	var out []Kill
	for _, f := range e.findings {
		if p, ok := e.m.active[f.key()]; ok && f.kill != nil {
			k := *f.kill
			k.ProblemID = p.ID
			out = append(out, k)
		}
	}
	return out
}

// reconcile turns this poll's findings into problems: new ones fire,
// known ones keep their ID and since, gone ones resolve, except where the
// check could not be evaluated (a failed read is not a recovery).
func (m *Memory) reconcile(fs []finding, checks map[string]Check, now time.Time) []Transition {
	next := map[key]Problem{}
	var trs []Transition
	for _, f := range fs {
		k := f.key()
		if _, dup := next[k]; dup {
			continue
		}
		p, known := m.active[k]
		if !known {
			subj := f.subject.String()
			p = Problem{Type: f.typ, Subject: subj, Since: f.since.UTC(), ID: problemID(f.typ, subj, f.since)}
		}
		p.Severity = severityOf(f.typ, f.reason)
		p.Summary, p.Remediation, p.Evidence = f.summary, f.remediation, f.evidence
		next[k] = p
		if !known {
			trs = append(trs, Transition{Problem: p, State: StateFiring, At: now})
		}
	}
	for k, p := range m.active {
		if _, still := next[k]; still {
			continue
		}
		if st := checks[k.check()].State; st == CheckUnknown || st == CheckUnavailable {
			next[k] = p
			continue
		}
		trs = append(trs, Transition{Problem: p, State: StateResolved, At: now})
	}
	slices.SortFunc(trs, func(a, b Transition) int {
		return strings.Compare(a.Problem.Type+" "+a.Problem.Subject+" "+string(a.State), b.Problem.Type+" "+b.Problem.Subject+" "+string(b.State))
	})
	m.active = next
	return trs
}

// problemID is stable for one problem from firing to resolution, and
// different for the same condition coming back later.
func problemID(typ, subject string, since time.Time) string {
	sum := sha256.Sum256([]byte(typ + "\x00" + subject + "\x00" + since.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:8])
}

// remember records who was connected, for reconnect counting and for
// "last seen" evidence.
func (e *eval) remember() {
	if !e.o.Read(ReadDumpThreads).OK() || !e.o.Read(ReadReplicaHosts).OK() {
		return
	}
	e.m.threadKey = map[uint64]string{}
	for _, r := range e.t.replicas {
		for _, th := range r.threads {
			e.m.threadKey[th.ID] = r.key
		}
		if len(r.threads) > 0 {
			e.m.keySeen[r.key] = e.o.At
			if r.entry != nil {
				e.m.lastSeen[r.entry.Addr()] = e.o.At
			}
		}
	}
	for k, at := range e.m.keySeen {
		if e.now.Sub(at) > e.FlapWindow {
			delete(e.m.keySeen, k)
		}
	}
	for addr, res := range e.in.Probes {
		if res.OK {
			e.m.answered[addr] = e.o.At
		}
	}
	for addr, at := range e.m.answered {
		if _, probed := e.in.Probes[addr]; !probed && e.now.Sub(at) > answeredMemory {
			delete(e.m.answered, addr) // a replica long gone: keep the map bounded
		}
	}
}

// channelCheck suffixes the check of a rule's replica-side half (the
// server's own replication channels).
const channelCheck = " (replica side)"

// maxSwitchOffs bounds the remembered semi-sync switch-offs (and the
// evidence listing them): enough to see flapping, never a leak.
const maxSwitchOffs = 100

// answeredMemory is how long a replica's last greeting is remembered once
// it is no longer probed.
const answeredMemory = time.Hour

func seenText(t time.Time, ok bool) string {
	if !ok {
		return "never since the sidecar started"
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func channelName(ch Channel) string {
	if ch.Name == "" {
		return "default"
	}
	return ch.Name
}
