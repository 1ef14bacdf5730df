package health

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

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

// channelCheck suffixes the check of a rule's replica-side half (the
// server's own replication channels).
const channelCheck = " (replica side)"

func channelName(ch Channel) string {
	if ch.Name == "" {
		return "default"
	}
	return ch.Name
}
