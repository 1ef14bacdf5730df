package health

import (
	"maps"
	"slices"
	"strings"
	"time"
)

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

// answeredMemory is how long a replica's last greeting is remembered once
// it is no longer probed.
const answeredMemory = time.Hour
