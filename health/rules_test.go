package health

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const (
	selfID   = 4000000001
	pollStep = 5 * time.Second
)

// poll is one poll of a scenario: the observation's parts and what else
// the rules see.
type poll struct {
	threads  []DumpThread
	regs     []Registration
	semi     *SemiSync
	channels []Channel
	probes   map[string]bool // address -> answered
	stream   *stream.Snapshot
	failed   []Read
	denied   map[Read]string // read -> missing privilege
	server   Server
	// noTCP makes failed probes fail at connect (firewall-like), and
	// unresolved makes them fail at DNS.
	noTCP, unresolved bool
}

var mariadb = Server{Flavor: FlavorMariaDB, Version: "10.11.19-MariaDB-0+deb12u1", ServerID: 1}

// input builds the Input of poll i of a scenario.
func (p poll) input(i int, inv []inventory.Entry) Input {
	at := t0.Add(time.Duration(i) * pollStep)
	o := Observation{At: at, User: "sidecar", Server: p.server, DumpThreads: p.threads, Replicas: p.regs,
		Channels: p.channels, Reads: map[Read]ReadResult{}}
	if o.Server == (Server{}) {
		o.Server = mariadb
	}
	o.SemiSync = SemiSync{Available: true, Prefix: "rpl_semi_sync_master"} // built in, off (MariaDB's default)
	if p.semi != nil {
		o.SemiSync = *p.semi
	}
	for _, r := range Reads() {
		o.Reads[r] = ReadResult{SQL: "SQL OF " + string(r), At: at}
	}
	for _, r := range p.failed {
		o.Reads[r] = ReadResult{SQL: "SQL OF " + string(r), At: at, Err: "connection refused"}
	}
	for r, priv := range p.denied {
		o.Reads[r] = ReadResult{SQL: "SQL OF " + string(r), At: at, Err: "ERROR 1227", MissingPrivilege: priv}
	}
	in := Input{Observation: o, Inventory: inv, InventoryConfigured: inv != nil, Stream: p.stream,
		Resolved: map[string][]string{"db-2.test": {"10.0.0.2"}, "db-3.test": {"10.0.0.3"}, "localhost": {"127.0.0.1", "::1"}},
		Probes:   map[string]ProbeResult{}}
	for addr, ok := range p.probes {
		in.Probes[addr] = ProbeResult{Addr: addr, At: at, OK: ok, Err: map[bool]string{false: "no greeting: i/o timeout"}[ok], Connected: !ok && !p.noTCP}
		if p.unresolved {
			in.Probes[addr] = ProbeResult{Addr: addr, At: at, Unresolved: true, Err: "host name does not resolve"}
		}
	}
	return in
}

var testRules = Rules{SelfServerID: selfID, ZombieGrace: 10 * time.Second, FlapWindow: time.Minute, FlapCount: 3}

// run evaluates the polls in order and returns, per poll, the transitions
// as "state type subject severity" strings, and the last poll's report.
func run(r Rules, inv []inventory.Entry, polls []poll) ([][]string, Report) {
	trs, last := runOutcome(r, inv, polls)
	return trs, last.Report
}

// runOutcome is run returning the last poll's whole outcome.
func runOutcome(r Rules, inv []inventory.Entry, polls []poll) ([][]string, Outcome) {
	var mem Memory
	var last Outcome
	out := make([][]string, len(polls))
	for i, p := range polls {
		in := p.input(i, inv)
		mem, last = r.Evaluate(mem, in, in.Observation.At)
		out[i] = []string{}
		for _, tr := range last.Transitions {
			out[i] = append(out[i], fmt.Sprintf("%s %s %s %s", tr.State, tr.Problem.Type, tr.Problem.Subject, tr.Problem.Severity))
		}
	}
	return out, last
}

func th(id uint64, user, host string) DumpThread {
	return DumpThread{ID: id, User: user, Host: host, Command: "Binlog Dump",
		State: "Master has sent all binlog to slave; waiting for more updates"}
}

var (
	inv2      = []inventory.Entry{{Host: "db-2.test", Port: 3306, SemiSync: true, Line: 1}}
	reg2      = Registration{ServerID: 2, Host: "db-2.test", Port: 3306, SourceID: 1}
	thr2      = th(10, "repl", "10.0.0.2:40001")
	selfReg   = Registration{ServerID: selfID, Host: "binlog-sidecar", Port: 3306, SourceID: 1}
	selfTh    = th(7, "sidecar", "127.0.0.1:50000")
	connected = poll{threads: []DumpThread{thr2, selfTh}, regs: []Registration{reg2, selfReg}, probes: map[string]bool{"db-2.test:3306": true}}
	gone      = poll{threads: []DumpThread{selfTh}, regs: []Registration{selfReg}}
)

func TestRules_Evaluate(t *testing.T) {
	none := []string{}
	zombie := func(answered bool) poll {
		p := connected
		p.probes = map[string]bool{"db-2.test:3306": answered}
		return p
	}
	semi := func(s SemiSync) poll { p := connected; p.semi = &s; return p }
	on := SemiSync{Available: true, Prefix: "rpl_semi_sync_master", Enabled: true, Required: 1, StatusOn: true, Clients: 1, TimeoutMS: 100000000}
	waiting := on
	waiting.WaitSessions, waiting.YesTx = 3, 50
	committing := waiting
	committing.YesTx = 60
	noClients := on
	noClients.Clients = 0
	fell := on
	fell.StatusOn, fell.NoTimes = false, 1
	off := func(n uint64) SemiSync { s := on; s.NoTimes = n; return s }
	channel := func(io string, errno int, msg string) poll {
		p := connected
		p.channels = []Channel{{SourceHost: "nonexistent.invalid", SourcePort: 3306, IORunning: io, LastIOErrno: errno, LastIOError: msg}}
		return p
	}
	flap := func(id uint64, port int) poll {
		return poll{threads: []DumpThread{th(id, "repl", "127.0.0.1:4000"), selfTh},
			regs: []Registration{{ServerID: 5, Host: "127.0.0.1", Port: port}, selfReg}}
	}
	streamAt := func(i int, up bool, last time.Duration) poll {
		p := connected
		at := t0.Add(time.Duration(i) * pollStep)
		p.stream = &stream.Snapshot{At: at, Connected: up, ConnectedSince: t0.Add(-time.Minute),
			LastReceived: at.Add(-last), HeartbeatPeriod: time.Second, LastError: map[bool]string{false: "dial tcp: connection refused"}[up]}
		return p
	}
	superseded := supersededPoll
	unknownExtra := connected
	unknownExtra.threads = []DumpThread{thr2, selfTh, th(12, "repl", "10.0.0.3:40003")}
	unknownExtra.regs = []Registration{reg2, selfReg, {ServerID: 3, Host: "10.0.0.3", Port: 3307}}
	goneButBlind := gone
	goneButBlind.failed = []Read{ReadDumpThreads}
	deniedHosts := gone
	deniedHosts.denied = map[Read]string{ReadReplicaHosts: "REPLICATION MASTER ADMIN"}

	tests := []struct {
		name string
		inv  []inventory.Entry
		give []poll
		want [][]string
	}{
		{"healthy replica and sidecar raise nothing", inv2,
			[]poll{connected, connected, connected}, [][]string{none, none, none}},
		{"replica missing fires on the second poll without it and resolves when it is back", inv2,
			[]poll{connected, gone, gone, gone, connected},
			[][]string{none, none, {"firing replica.missing replica/db-2.test:3306 warning"}, none, {"resolved replica.missing replica/db-2.test:3306 warning"}}},
		{"without inventory nothing is missing or unknown", nil,
			[]poll{gone, gone, unknownExtra}, [][]string{none, none, none}},
		{"a failed read neither fires nor resolves", inv2,
			[]poll{gone, gone, goneButBlind, connected},
			[][]string{none, {"firing replica.missing replica/db-2.test:3306 warning"}, none, {"resolved replica.missing replica/db-2.test:3306 warning"}}},
		{"a failed read between two bad polls keeps the problem (no resolve, no second firing)", inv2,
			[]poll{gone, gone, goneButBlind, gone, gone, connected},
			[][]string{none, {"firing replica.missing replica/db-2.test:3306 warning"}, none, none, none, {"resolved replica.missing replica/db-2.test:3306 warning"}}},
		{"a failed read does not restart the count before firing", inv2,
			[]poll{gone, goneButBlind, gone},
			[][]string{none, none, {"firing replica.missing replica/db-2.test:3306 warning"}}},
		{"a missing privilege is check.unavailable at once and neither fires nor resolves the checks that need the read", inv2,
			[]poll{gone, gone, deniedHosts, connected},
			[][]string{none, {"firing replica.missing replica/db-2.test:3306 warning"}, {"firing check.unavailable check/replica_hosts warning"},
				{"resolved check.unavailable check/replica_hosts warning", "resolved replica.missing replica/db-2.test:3306 warning"}}},
		{"a replica outside the inventory is unknown at once", inv2,
			[]poll{unknownExtra, connected},
			[][]string{{"firing replica.unknown replica/10.0.0.3:3307 warning"}, {"resolved replica.unknown replica/10.0.0.3:3307 warning"}}},
		{"a replica that fails the handshake for the grace is a zombie until it answers", inv2,
			[]poll{zombie(false), zombie(false), zombie(false), zombie(false), zombie(true)},
			[][]string{none, none, {"firing dump_thread.zombie thread/10 critical"}, none, {"resolved dump_thread.zombie thread/10 critical"}}},
		{"one answered handshake restarts the grace", inv2,
			[]poll{zombie(false), zombie(false), zombie(true), zombie(false), zombie(false)},
			[][]string{none, none, none, none, none}},
		{"a thread superseded by a newer one of the same replica is a zombie on the second poll", inv2,
			[]poll{superseded, superseded, connected},
			[][]string{none, {"firing dump_thread.zombie thread/11 critical"}, {"resolved dump_thread.zombie thread/11 critical"}}},
		{"three reconnects of one server_id within the window are flapping", nil,
			[]poll{flap(30, 3307), flap(31, 3308), flap(32, 3307), flap(33, 3308), flap(33, 3308)},
			[][]string{none, none, none, {"firing dump_thread.flapping replica/server_id:5 warning"}, none}},
		{"flapping resolves when the reconnects leave the window", nil,
			append([]poll{flap(30, 3307), flap(31, 3308), flap(32, 3307), flap(33, 3308)}, slices.Repeat([]poll{flap(33, 3308)}, 12)...),
			append([][]string{none, none, none, {"firing dump_thread.flapping replica/server_id:5 warning"}}, append(slices.Repeat([][]string{none}, 10),
				[]string{"resolved dump_thread.flapping replica/server_id:5 warning"}, none)...)},
		{"a replica-side same-server_id eviction is flapping at once", inv2,
			[]poll{channel("Connecting", 4052, "A slave with the same server_uuid/server_id is already connected"), connected},
			[][]string{{"firing dump_thread.flapping channel/default warning"}, {"resolved dump_thread.flapping channel/default warning"}}},
		{"a source that does not resolve is unreachable on the second poll", inv2,
			[]poll{channel("Connecting", 2005, "Unknown server host"), channel("Connecting", 2005, ""), connected},
			[][]string{none, {"firing source.unreachable source/nonexistent.invalid:3306 critical"}, {"resolved source.unreachable source/nonexistent.invalid:3306 critical"}}},
		{"an access error is not unreachable", inv2,
			[]poll{channel("Connecting", 1045, "Access denied"), channel("Connecting", 1045, "")},
			[][]string{none, none}},
		{"commits waiting with flat counters are critical on the second poll", inv2,
			[]poll{semi(on), semi(waiting), semi(waiting), semi(committing)},
			[][]string{none, none, {"firing semisync.degraded semisync/commits_waiting critical"}, {"resolved semisync.degraded semisync/commits_waiting critical"}}},
		{"waiting sessions while commits complete are fine", inv2,
			[]poll{semi(waiting), semi(committing), semi(waiting)}, [][]string{none, none, none}},
		{"too few semi-sync clients fire on the second poll", inv2,
			[]poll{semi(noClients), semi(noClients), semi(on)},
			[][]string{none, {"firing semisync.degraded semisync/clients_below_required warning"}, {"resolved semisync.degraded semisync/clients_below_required warning"}}},
		{"falling back to async fires at once and lasts while status is OFF", inv2,
			[]poll{semi(on), semi(fell), semi(fell), semi(off(1))},
			[][]string{none, {"firing semisync.degraded semisync/fell_back_to_async warning"}, none, {"resolved semisync.degraded semisync/fell_back_to_async warning"}}},
		{"three switch-offs in the window are flapping", inv2,
			[]poll{semi(off(0)), semi(off(1)), semi(off(2)), semi(off(3))},
			[][]string{none, {"firing semisync.degraded semisync/fell_back_to_async warning"}, none, {"firing semisync.degraded semisync/flapping warning"}}},
		{"semi-sync disabled raises nothing", inv2,
			[]poll{semi(SemiSync{Available: true, NoTimes: 1}), semi(SemiSync{Available: true, NoTimes: 2, WaitSessions: 1})},
			[][]string{none, none}},
		{"the stream down for two polls is critical", inv2,
			[]poll{streamAt(0, true, 0), streamAt(1, false, 0), streamAt(2, false, 0), streamAt(3, true, 0)},
			[][]string{none, none, {"firing stream.down stream critical"}, {"resolved stream.down stream critical"}}},
		{"a stream silent for three heartbeats is stalled", inv2,
			[]poll{streamAt(0, true, time.Second), streamAt(1, true, 4*time.Second), streamAt(2, true, 0)},
			[][]string{none, {"firing stream.stalled stream warning"}, {"resolved stream.stalled stream warning"}}},
		{"a stall that becomes a disconnection stays stalled until the stream is back", inv2,
			[]poll{streamAt(0, true, time.Second), streamAt(1, true, 4*time.Second), streamAt(2, false, 9*time.Second),
				streamAt(3, false, 14*time.Second), streamAt(4, false, 19*time.Second), streamAt(5, true, 0)},
			[][]string{none, {"firing stream.stalled stream warning"}, none, {"firing stream.down stream critical"}, none,
				{"resolved stream.down stream critical", "resolved stream.stalled stream warning"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := run(testRules, tt.inv, tt.give)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("transitions per poll:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRules_Evaluate_checks(t *testing.T) {
	deniedHosts := connected
	deniedHosts.denied = map[Read]string{ReadReplicaHosts: "REPLICATION MASTER ADMIN"}
	failedDump := connected
	failedDump.failed = []Read{ReadDumpThreads}
	tests := []struct {
		name string
		inv  []inventory.Entry
		give poll
		want map[string]string // check -> "state: reason"
	}{
		{"all ok", inv2, connected, map[string]string{
			TypeReplicaMissing: "ok", TypeReplicaUnknown: "ok", TypeDumpThreadZombie: "ok", TypeDumpThreadFlapping: "ok",
			TypeSemiSyncDegraded: "ok", TypeSourceUnreachable: "ok", TypeStreamDown: "not_evaluated", TypeStreamStalled: "not_evaluated",
			string(ReadReplicaHosts): "ok", string(ReadDumpThreads): "ok"}},
		{"no inventory", nil, connected, map[string]string{
			TypeReplicaMissing: "not_evaluated", TypeReplicaUnknown: "not_evaluated", TypeDumpThreadZombie: "ok"}},
		{"missing privilege is named by every check that needs it", inv2, deniedHosts, map[string]string{
			TypeReplicaMissing: "unavailable", TypeReplicaUnknown: "unavailable", TypeDumpThreadZombie: "unavailable",
			TypeDumpThreadFlapping: "unavailable", string(ReadReplicaHosts): "unavailable", TypeSemiSyncDegraded: "ok"}},
		{"failed read makes its checks unknown", inv2, failedDump, map[string]string{
			TypeReplicaMissing: "unknown", TypeDumpThreadZombie: "unknown", string(ReadDumpThreads): "unknown", TypeSourceUnreachable: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep := run(testRules, tt.inv, []poll{tt.give})
			got := map[string]string{}
			for name := range tt.want {
				got[name] = rep.Checks[name].State
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("checks:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestRules_Evaluate_unavailableNamesPrivilege(t *testing.T) {
	p := connected
	p.denied = map[Read]string{ReadReplicaHosts: "REPLICATION MASTER ADMIN"}
	_, rep := run(testRules, inv2, []poll{p})
	got := rep.Checks[TypeReplicaMissing].Reason
	if want := "missing privilege REPLICATION MASTER ADMIN for SQL OF replica_hosts"; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
}

func TestRules_Evaluate_problem(t *testing.T) {
	_, rep := run(testRules, inv2, []poll{gone, gone, gone})
	if len(rep.Problems) != 1 {
		t.Fatalf("problems: got %d, want 1: %+v", len(rep.Problems), rep.Problems)
	}
	p := rep.Problems[0]
	got := []any{p.ID, p.Since, p.Subject, p.Evidence["expected"], p.Evidence["polls"], p.Evidence["sql"], rep.Health}
	want := []any{problemID(TypeReplicaMissing, "replica/db-2.test:3306", t0), t0,
		"replica/db-2.test:3306", inv2[0], 3,
		map[string]string{"dump_threads": "SQL OF dump_threads", "replica_hosts": "SQL OF replica_hosts"}, StatusDegraded}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problem:\n got %v\nwant %v", got, want)
	}
	for _, s := range []string{p.Summary, p.Remediation} {
		if !strings.Contains(s, "db-2.test:3306") {
			t.Errorf("%q does not name the replica", s)
		}
	}
}

func TestRules_Evaluate_zombieRemediation(t *testing.T) {
	p := connected
	p.probes = map[string]bool{"db-2.test:3306": false}
	_, out := runOutcome(testRules, inv2, []poll{connected, p, p, p})
	rep := out.Report
	got := []string{}
	for _, pr := range rep.Problems {
		got = append(got, pr.Type, strings.Fields(pr.Remediation)[0]+" "+strings.Fields(pr.Remediation)[1])
	}
	kills := []uint64{}
	for _, k := range out.Kills {
		kills = append(kills, k.ThreadID)
	}
	if want := []string{TypeDumpThreadZombie, "KILL 10;"}; !reflect.DeepEqual(got, want) {
		t.Errorf("problems: got %v, want %v", got, want)
	}
	if want := []uint64{10}; !reflect.DeepEqual(kills, want) {
		t.Errorf("kill candidates: got %v, want %v", kills, want)
	}
	if rep.Health != StatusCritical {
		t.Errorf("health: got %v, want critical", rep.Health)
	}
}

func TestRules_Evaluate_counts(t *testing.T) {
	sending := th(12, "repl", "10.0.0.3:40003")
	sending.State = "Sending binlog event to slave"
	p := poll{threads: []DumpThread{thr2, selfTh, sending},
		regs: []Registration{reg2, selfReg, {ServerID: 3, Host: "10.0.0.3", Port: 3307}},
		semi: &SemiSync{Available: true, Enabled: true, StatusOn: true, Clients: 1, WaitSessions: 2, Required: 1}}
	inv := append(slices.Clone(inv2), inventory.Entry{Host: "db-4.test", Port: 3306})
	_, rep := run(testRules, inv, []poll{p})
	got := rep.Counts
	want := Counts{
		DumpThreads:     map[string]int{DumpIdle: 1, DumpSending: 1, DumpWriting: 0, DumpSwitching: 0, DumpTerminating: 0, DumpOther: 0},
		Replicas:        map[string]int{ReplicaExpected: 2, ReplicaConnected: 1, ReplicaMissing: 1, ReplicaUnknown: 1, ReplicaZombie: 0},
		SemiSyncClients: 1, SemiSyncWaitSessions: 2, SemiSyncKnown: true,
		Problems: map[string]int{TypeStreamDown: 0, TypeStreamStalled: 0, TypeReplicaMissing: 0, TypeReplicaUnknown: 1,
			TypeDumpThreadZombie: 0, TypeDumpThreadFlapping: 0, TypeSemiSyncDegraded: 0, TypeSourceUnreachable: 0, TypeCheckUnavailable: 0,
			TypeCommitSlow: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts:\n got %+v\nwant %+v", got, want)
	}
	blind := p
	blind.failed = []Read{ReadStatus}
	if _, rep := run(testRules, inv, []poll{blind}); rep.Counts.SemiSyncKnown || rep.SemiSync.Unknown != "status failed: connection refused" {
		t.Errorf("after the status read failed: semi-sync known %v, /status semisync.unknown %q; want false and the read's error",
			rep.Counts.SemiSyncKnown, rep.SemiSync.Unknown)
	}
	var sidecar []uint64
	for _, d := range rep.DumpThreads {
		if d.Sidecar {
			sidecar = append(sidecar, d.ID)
		}
	}
	if want := []uint64{7}; !reflect.DeepEqual(sidecar, want) {
		t.Errorf("sidecar threads: got %v, want %v", sidecar, want)
	}
}

func TestDumpStateClass(t *testing.T) {
	tests := []struct{ give, want string }{
		{"Master has sent all binlog to slave; waiting for more updates", DumpIdle},
		{"Master has sent all binlog to slave; waiting for binlog to be updated", DumpIdle},
		{"Source has sent all binlog to replica; waiting for more updates", DumpIdle},
		{"Has sent all binlog to slave; waiting for binlog to be updated", DumpIdle},
		{"Sending binlog event to slave", DumpSending},
		{"Sending binlog event to replica", DumpSending},
		{"Writing to net", DumpWriting},
		{"Finished reading one binlog; switching to next binlog", DumpSwitching},
		{"Waiting to finalize termination", DumpTerminating},
		{"", DumpOther},
		{"Something new in 9.9", DumpOther},
	}
	for _, tt := range tests {
		if got := DumpStateClass(tt.give); got != tt.want {
			t.Errorf("DumpStateClass(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// A replica that never answered a handshake since the sidecar started and
// does not even accept TCP may only be firewalled from this host: the
// zombie fires (the contract says so), says so in its remediation, and is
// never a kill candidate.
func TestRules_Evaluate_zombieNeverAnsweredIsNotKilled(t *testing.T) {
	p := connected
	p.probes = map[string]bool{"db-2.test:3306": false}
	p.noTCP = true
	_, out := runOutcome(testRules, inv2, []poll{p, p, p})
	rep := out.Report
	if len(rep.Problems) != 1 || rep.Problems[0].Type != TypeDumpThreadZombie {
		t.Fatalf("problems: got %+v, want one dump_thread.zombie", rep.Problems)
	}
	pr := rep.Problems[0]
	if !strings.Contains(pr.Remediation, "has not answered a handshake since the sidecar started") {
		t.Errorf("remediation %q does not warn that the probe path is unproven", pr.Remediation)
	}
	if got := pr.Evidence["last_answered"]; got != "never since the sidecar started" {
		t.Errorf("evidence last_answered = %v", got)
	}
	if len(out.Kills) != 0 {
		t.Errorf("kill candidates: got %v, want none", out.Kills)
	}
}

// A frozen replica accepts TCP but sends no greeting: that is evidence even
// when the sidecar started after it froze, so the thread may be killed.
func TestRules_Evaluate_zombieFrozenSinceBeforeStartIsKillable(t *testing.T) {
	p := connected
	p.probes = map[string]bool{"db-2.test:3306": false}
	_, out := runOutcome(testRules, inv2, []poll{p, p, p})
	if len(out.Kills) != 1 || out.Kills[0].ThreadID != 10 {
		t.Errorf("kill candidates: got %v, want thread 10", out.Kills)
	}
}

// supersededPoll has MySQL thread 11 superseded by thread 20 of the same
// replica (its registration has the newer UUID).
var supersededPoll = poll{
	server: Server{Flavor: FlavorMySQL, Version: "8.4.2"},
	threads: []DumpThread{
		{ID: 20, User: "repl", Host: "10.0.0.2:40002", ReplicaUUID: "uuid-new"},
		{ID: 11, User: "repl", Host: "10.0.0.2:40001", ReplicaUUID: "uuid-old"},
	},
	regs:   []Registration{{ServerID: 2, Host: "db-2.test", Port: 3306, UUID: "uuid-new"}},
	probes: map[string]bool{"db-2.test:3306": true},
}

// The kills are the outcome's typed list: the thread, the replica it
// serves, why, and the dump_thread.zombie problem it acts on.
func TestRules_Evaluate_kills(t *testing.T) {
	frozen := connected
	frozen.probes = map[string]bool{"db-2.test:3306": false}
	tests := []struct {
		name string
		give []poll
		want Kill // ProblemID: the one zombie problem's
	}{
		{"no greeting", []poll{frozen, frozen, frozen}, Kill{ThreadID: 10, Replica: "db-2.test:3306", Reason: KillNoGreeting}},
		{"superseded", []poll{supersededPoll, supersededPoll}, Kill{ThreadID: 11, Replica: "db-2.test:3306", Reason: KillSuperseded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out := runOutcome(testRules, inv2, tt.give)
			var zombies []Problem
			for _, p := range out.Report.Problems {
				if p.Type == TypeDumpThreadZombie {
					zombies = append(zombies, p)
				}
			}
			if len(zombies) != 1 {
				t.Fatalf("zombie problems: got %+v, want one", zombies)
			}
			want := tt.want
			want.ProblemID = zombies[0].ID
			if !reflect.DeepEqual(out.Kills, []Kill{want}) {
				t.Errorf("kills: got %+v, want %+v", out.Kills, []Kill{want})
			}
			if got := zombies[0].Subject; got != ThreadSubject(want.ThreadID) {
				t.Errorf("subject: got %q, want %q", got, ThreadSubject(want.ThreadID))
			}
		})
	}
}

// A DNS outage is no evidence: it neither starts the zombie grace nor
// resolves a zombie already firing, and no kill is based on it.
func TestRules_Evaluate_zombieDNSOutage(t *testing.T) {
	down := connected
	down.probes = map[string]bool{"db-2.test:3306": false}
	dns := down
	dns.unresolved = true
	polls := []poll{dns, dns, dns, dns}
	trs, _ := run(testRules, inv2, polls)
	if n := countTransitions(trs); n != 0 {
		t.Errorf("DNS outage alone: %d transitions, want none", n)
	}
	trs, out := runOutcome(testRules, inv2, []poll{down, down, down, dns, dns})
	if got := countTransitions(trs); got != 1 {
		t.Errorf("zombie then DNS outage: %d transitions, want only the firing", got)
	}
	if len(out.Report.Problems) != 1 || len(out.Kills) != 0 {
		t.Errorf("during the outage: problems %d (want 1 still firing), kills %v (want none)", len(out.Report.Problems), out.Kills)
	}
}

func countTransitions(trs [][]string) int {
	n := 0
	for _, p := range trs {
		n += len(p)
	}
	return n
}

// On MySQL a restarted sidecar leaves its previous dump thread with a UUID
// no registration has (go-mysql makes a new one per connect): it is the
// sidecar's, never replica.unknown, and in no count.
func TestRules_Evaluate_oldSidecarThreadIsNotUnknown(t *testing.T) {
	mysql := Server{Flavor: FlavorMySQL, Version: "8.4.2", ServerID: 1}
	cur, old := selfTh, th(6, "sidecar", "127.0.0.1:49000")
	cur.ReplicaUUID, old.ReplicaUUID = "uuid-self-new", "uuid-self-old"
	r2 := thr2
	r2.ReplicaUUID = "uuid-db-2"
	reg, self := reg2, selfReg
	reg.UUID, self.UUID = "uuid-db-2", "uuid-self-new"
	p := poll{server: mysql, threads: []DumpThread{r2, cur, old}, regs: []Registration{reg, self},
		probes: map[string]bool{"db-2.test:3306": true}}
	trs, rep := run(testRules, inv2, []poll{p, p})
	if n := countTransitions(trs); n != 0 {
		t.Errorf("transitions %v, want none", trs)
	}
	if got := rep.Counts.Replicas[ReplicaUnknown]; got != 0 {
		t.Errorf("unknown replicas = %d, want 0", got)
	}
	total := 0
	for _, n := range rep.Counts.DumpThreads {
		total += n
	}
	if total != 1 {
		t.Errorf("dump threads counted = %d, want 1 (the sidecar's two are not counted)", total)
	}
}

// Without skip_name_resolve the processlist shows host names: threads
// still match their replicas by the names' addresses.
func TestRules_Evaluate_processlistHostNames(t *testing.T) {
	byName := connected
	byName.threads = []DumpThread{th(10, "repl", "db-2.test:40001"), selfTh}
	trs, rep := run(testRules, inv2, []poll{byName, byName})
	if n := countTransitions(trs); n != 0 {
		t.Errorf("transitions %v, want none", trs)
	}
	if got := rep.Counts.Replicas[ReplicaConnected]; got != 1 {
		t.Errorf("connected replicas = %d, want 1 (counts %v)", got, rep.Counts.Replicas)
	}
}

// Without the replica-side channel read (e.g. no SLAVE MONITOR) the
// dump-thread half of flapping still fires and resolves on its own.
func TestRules_Evaluate_flappingWithoutChannelRead(t *testing.T) {
	flap := func(id uint64, port int) poll {
		return poll{threads: []DumpThread{th(id, "repl", "127.0.0.1:4000"), selfTh},
			regs:   []Registration{{ServerID: 5, Host: "127.0.0.1", Port: port}, selfReg},
			denied: map[Read]string{ReadChannels: "SLAVE MONITOR"}}
	}
	polls := append([]poll{flap(30, 3307), flap(31, 3308), flap(32, 3307), flap(33, 3308)}, slices.Repeat([]poll{flap(33, 3308)}, 12)...)
	trs, rep := run(testRules, nil, polls)
	var got []string
	for _, p := range trs {
		got = append(got, p...)
	}
	want := []string{"firing check.unavailable check/replica_status warning",
		"firing dump_thread.flapping replica/server_id:5 warning", "resolved dump_thread.flapping replica/server_id:5 warning"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	if st := rep.Checks[TypeDumpThreadFlapping+channelCheck].State; st != CheckUnavailable {
		t.Errorf("replica-side check = %q, want unavailable", st)
	}
}

// A frozen server: the stream stalls, its read timeout ends the connection,
// and it stays down. Health hands over from degraded to critical and never
// reads ok until the stream is back.
func TestRules_Evaluate_stallBecomesDown(t *testing.T) {
	streamAt := func(i int, up bool, last time.Duration) poll {
		p := connected
		at := t0.Add(time.Duration(i) * pollStep)
		p.stream = &stream.Snapshot{At: at, Connected: up, ConnectedSince: t0.Add(-time.Minute),
			LastReceived: at.Add(-last), HeartbeatPeriod: time.Second}
		return p
	}
	polls := []poll{streamAt(0, true, 0), streamAt(1, true, 4*time.Second), streamAt(2, false, 9*time.Second),
		streamAt(3, false, 14*time.Second), streamAt(4, false, 19*time.Second), streamAt(5, true, 0)}
	var mem Memory
	got := []string{}
	for i, p := range polls {
		in := p.input(i, inv2)
		var out Outcome
		mem, out = testRules.Evaluate(mem, in, in.Observation.At)
		rep := out.Report
		if h := rep.Health.String(); len(got) == 0 || got[len(got)-1] != h {
			got = append(got, h)
		}
	}
	if want := []string{"ok", "degraded", "critical", "ok"}; !reflect.DeepEqual(got, want) {
		t.Errorf("health over a frozen server: got %v, want %v", got, want)
	}
}
