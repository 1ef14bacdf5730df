package health

import (
	"slices"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Report is everything /status and the metrics need after one poll. Its
// JSON keys are the contract's /status keys (plus a few extra).
type Report struct {
	At     time.Time `json:"at"`
	Health Status    `json:"health"`
	Server Server    `json:"server"`
	// Stream is the snapshot the rules saw; nil without a stream.
	Stream      *stream.Snapshot `json:"stream,omitempty"`
	DumpThreads []DumpThreadInfo `json:"dump_threads"`
	Replicas    []ReplicaInfo    `json:"replicas"`
	SemiSync    SemiSyncInfo     `json:"semisync"`
	Inventory   InventoryInfo    `json:"inventory"`
	Problems    []Problem        `json:"problems"`
	Checks      map[string]Check `json:"checks"`

	Binlog      BinlogStatus `json:"binlog"`
	Connections Connections  `json:"connections"`
	Channels    []Channel    `json:"channels,omitempty"`
	Poll        PollInfo     `json:"poll"`

	// Counts are the figures of the metric families, with every label
	// value present.
	Counts Counts `json:"-"`
}

// Check is one check's state: a rule's (keyed by problem type) or a
// read's (keyed by Read).
type Check struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// DumpThreadInfo is a dump thread as /status shows it.
type DumpThreadInfo struct {
	DumpThread
	Class string `json:"state_class"`
	// Sidecar marks the sidecar's own stream; it is in no count.
	Sidecar bool   `json:"sidecar,omitempty"`
	Replica string `json:"replica,omitempty"` // the replica it serves
	// MappingExact is false when the replica was paired with the thread by
	// connection IP among several candidates.
	MappingExact bool `json:"mapping_exact"`
}

// ReplicaInfo is one replica: connected, expected but missing, unknown to
// the inventory, or served by a zombie thread.
type ReplicaInfo struct {
	Address          string        `json:"address"`
	ServerID         uint32        `json:"server_id"`
	Status           string        `json:"status"`
	Expected         bool          `json:"expected"`
	SemiSyncExpected bool          `json:"semisync_expected,omitempty"`
	ThreadIDs        []uint64      `json:"thread_ids,omitempty"`
	User             string        `json:"user,omitempty"`
	Registration     *Registration `json:"registration,omitempty"`
	MappingExact     bool          `json:"mapping_exact"`
	Probe            *ProbeResult  `json:"probe,omitempty"`
	LastSeen         time.Time     `json:"last_seen,omitzero"`
}

// SemiSyncInfo is the semi-sync state with the inventory's expectation.
type SemiSyncInfo struct {
	SemiSync
	ExpectedReplicas []string `json:"expected_replicas,omitempty"`
	// Unknown says why the figures above were not read in the last poll
	// (they are then zero values, not the server's); empty when they were.
	Unknown string `json:"unknown,omitempty"`
}

// InventoryInfo is the inventory in use.
type InventoryInfo struct {
	Configured bool             `json:"configured"`
	Entries    []InventoryEntry `json:"entries"`
	Error      string           `json:"error,omitempty"`
}

// InventoryEntry is one expected replica with what its name resolved to.
type InventoryEntry struct {
	Address  string   `json:"address"`
	SemiSync bool     `json:"semisync"`
	IPs      []string `json:"ips,omitempty"`
	Status   string   `json:"status"`
}

// PollInfo is the evidence of the poll behind the report.
type PollInfo struct {
	At      time.Time              `json:"at"`
	Took    time.Duration          `json:"took_ns"`
	Queries int                    `json:"queries"`
	Rows    int                    `json:"rows"`
	Reads   map[Read]ReadResult    `json:"reads"`
	Probes  map[string]ProbeResult `json:"probes,omitempty"`
}

// Counts are the values of the gauge families.
type Counts struct {
	DumpThreads          map[string]int // by DumpThreadStates; the sidecar not counted
	Replicas             map[string]int // by ReplicaStatuses
	SemiSyncClients      uint64
	SemiSyncWaitSessions uint64
	// SemiSyncKnown is true when the last poll read the semi-sync counters
	// of a server that has semi-sync; otherwise the two figures above are
	// not known and have no metric sample (never a made-up 0).
	SemiSyncKnown bool
	Problems      map[string]int // active, by ProblemTypes
	// MySQLUp is true when the last poll could query the server.
	MySQLUp bool
	// Polls are the monitor's cumulative poll figures (zero from the rules).
	Polls PollStats
}

// report assembles the Report of the evaluation.
func (e *eval) report() Report {
	problems := e.m.Active()
	if problems == nil {
		problems = []Problem{} // /status: "problems": [], never null
	}
	rep := e.header(problems)
	e.addReadChecks(rep.Checks)
	rep.Counts = e.counts(problems)
	status := map[string]string{} // inventory address -> replica status
	e.addConnected(&rep, status)
	e.addMissing(&rep, status)
	slices.SortFunc(rep.DumpThreads, func(a, b DumpThreadInfo) int { return cmpDesc(b.ID, a.ID) })
	slices.SortFunc(rep.Replicas, func(a, b ReplicaInfo) int { return strings.Compare(a.Address, b.Address) })
	for _, r := range rep.Replicas {
		rep.Counts.Replicas[r.Status]++
	}
	rep.Counts.Replicas[ReplicaExpected] = len(e.in.Inventory)
	rep.Inventory = e.inventoryInfo(status)
	return rep
}

// header is the report's server, stream, problems, rule checks and poll.
func (e *eval) header(problems []Problem) Report {
	return Report{At: e.now, Health: StatusOf(problems), Server: e.o.Server, Stream: e.in.Stream,
		Problems: problems, Checks: e.checks, Binlog: e.o.Binlog, Connections: e.o.Connections, Channels: e.o.Channels,
		SemiSync: SemiSyncInfo{SemiSync: e.o.SemiSync, ExpectedReplicas: e.expectedSemiSync(), Unknown: semiSyncUnknown(e.o)},
		Poll: PollInfo{At: e.o.At, Took: e.o.Took, Queries: e.o.Queries(), Rows: e.o.RowsRead(), Reads: e.o.Reads,
			Probes: e.in.Probes}}
}

// addReadChecks adds each read's check to the rules' checks.
func (e *eval) addReadChecks(checks map[string]Check) {
	for _, r := range Reads() {
		if c, ok := readsCheck(e.o, r); !ok {
			checks[string(r)] = c
		} else {
			checks[string(r)] = Check{State: CheckOK}
		}
	}
}

// counts are the gauge figures with every label value present; the dump
// threads and replicas are counted as they are listed.
func (e *eval) counts(problems []Problem) Counts {
	c := Counts{DumpThreads: zeroCounts(DumpThreadStates()), Replicas: zeroCounts(ReplicaStatuses()),
		Problems: zeroCounts(ProblemTypes()), SemiSyncClients: e.o.SemiSync.Clients, SemiSyncWaitSessions: e.o.SemiSync.WaitSessions,
		SemiSyncKnown: e.o.SemiSync.Available && semiSyncUnknown(e.o) == ""}
	for _, p := range problems {
		c.Problems[p.Type]++
	}
	return c
}

// addConnected lists the sidecar's own threads, then every replica
// identify found with its threads, and records the status of each
// inventory entry matched.
func (e *eval) addConnected(rep *Report, status map[string]string) {
	for _, th := range e.t.self {
		rep.DumpThreads = append(rep.DumpThreads, DumpThreadInfo{DumpThread: th, Class: DumpStateClass(th.State),
			Sidecar: true, MappingExact: true})
	}
	zombies := e.zombieThreads()
	for _, r := range e.t.replicas {
		info := e.replicaInfo(r, zombies)
		for _, th := range r.threads {
			rep.DumpThreads = append(rep.DumpThreads, DumpThreadInfo{DumpThread: th, Class: DumpStateClass(th.State),
				Replica: r.addr(), MappingExact: r.exact})
			rep.Counts.DumpThreads[DumpStateClass(th.State)]++
		}
		if r.entry != nil {
			status[r.entry.Addr()] = info.Status
		}
		rep.Replicas = append(rep.Replicas, info)
	}
}

// replicaInfo is one replica identify found: zombie when one of its
// threads is, unknown when an inventory does not list it, else connected.
func (e *eval) replicaInfo(r *replica, zombies map[uint64]bool) ReplicaInfo {
	info := ReplicaInfo{Address: r.addr(), Status: ReplicaConnected, Expected: r.entry != nil,
		Registration: r.reg, MappingExact: r.exact}
	if r.reg != nil {
		info.ServerID = r.reg.ServerID
	}
	if r.entry != nil {
		info.SemiSyncExpected = r.entry.SemiSync
		info.LastSeen = e.o.At
	}
	if pr, ok := e.in.Probes[r.probeAddr()]; ok {
		info.Probe = &pr
	}
	for _, th := range r.threads {
		info.ThreadIDs = append(info.ThreadIDs, th.ID)
	}
	if len(r.threads) > 0 {
		info.User = r.threads[0].User
	}
	inventoried := e.in.InventoryConfigured && len(e.in.Inventory) > 0
	switch {
	case slices.ContainsFunc(r.threads, func(th DumpThread) bool { return zombies[th.ID] }):
		info.Status = ReplicaZombie
	case inventoried && r.entry == nil:
		info.Status = ReplicaUnknown
	}
	return info
}

// addMissing lists the expected replicas with no thread. Without both
// reads an expected replica's absence proves nothing: it is then listed
// under inventory only, with no status.
func (e *eval) addMissing(rep *Report, status map[string]string) {
	if !e.o.Read(ReadDumpThreads).OK() || !e.o.Read(ReadReplicaHosts).OK() {
		return
	}
	for _, en := range e.t.missing {
		info := ReplicaInfo{Address: en.Addr(), Status: ReplicaMissing, Expected: true, SemiSyncExpected: en.SemiSync}
		info.LastSeen = e.m.lastSeen[en.Addr()]
		status[en.Addr()] = ReplicaMissing
		rep.Replicas = append(rep.Replicas, info)
	}
}

// inventoryInfo is the inventory in use, each entry with its addresses and
// the status its replica has in this report.
func (e *eval) inventoryInfo(status map[string]string) InventoryInfo {
	inv := InventoryInfo{Configured: e.in.InventoryConfigured, Error: e.in.InventoryErr, Entries: []InventoryEntry{}}
	for _, en := range e.in.Inventory {
		inv.Entries = append(inv.Entries, InventoryEntry{Address: en.Addr(), SemiSync: en.SemiSync,
			IPs: hostIPs(en.Host, e.in.Resolved), Status: status[en.Addr()]})
	}
	return inv
}

// zombieThreads are the dump threads of the active dump_thread.zombie
// problems, including those kept while a failed read cannot resolve them.
func (e *eval) zombieThreads() map[uint64]bool {
	out := map[uint64]bool{}
	for k := range e.m.active {
		if k.typ == TypeDumpThreadZombie && k.subject.kind == kindThread {
			out[k.subject.thread] = true
		}
	}
	return out
}

func zeroCounts(keys []string) map[string]int {
	m := make(map[string]int, len(keys))
	for _, k := range keys {
		m[k] = 0
	}
	return m
}

// semiSyncUnknown is why the semi-sync figures of o are not the server's,
// or "" when both of their reads succeeded.
func semiSyncUnknown(o Observation) string {
	for _, r := range []Read{ReadVariables, ReadStatus} {
		if c, ok := readsCheck(o, r); !ok {
			return c.Reason
		}
	}
	return ""
}
