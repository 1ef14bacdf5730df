package health

import (
	"fmt"
	"strconv"
	"time"
)

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

func seenText(t time.Time, ok bool) string {
	if !ok {
		return "never since the sidecar started"
	}
	return t.UTC().Format(time.RFC3339)
}
