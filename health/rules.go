package health

import (
	"fmt"
	"slices"
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
