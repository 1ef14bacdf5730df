package health

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// fakeProber serves scripted observations and handshake answers and
// records kills.
type fakeProber struct {
	mu       sync.Mutex
	polls    []poll
	n        int
	answered bool
	killErr  error
	killed   []uint64
}

func (f *fakeProber) Observe(context.Context) Observation {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.polls[min(f.n, len(f.polls)-1)]
	in := p.input(f.n, nil)
	f.n++
	return in.Observation
}

func (f *fakeProber) Handshake(_ context.Context, addr string, _ time.Duration) ProbeResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A replica that does not answer is a frozen one: TCP connects, no greeting.
	return ProbeResult{Addr: addr, At: time.Now(), OK: f.answered, Err: map[bool]string{false: "no greeting"}[f.answered], Connected: !f.answered}
}

func (f *fakeProber) Kill(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killed = append(f.killed, id)
	return f.killErr
}

type fakeResolver map[string][]string

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if ips, ok := r[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host")
}

func TestMonitor_poll(t *testing.T) {
	tests := []struct {
		name       string
		kill       bool
		killErr    error
		wantKills  []string
		wantKilled []uint64
	}{
		{"zombie is not killed by default", false, nil, []string{}, nil},
		{"zombie is killed once when enabled", true, nil, []string{"10 db-2.test:3306 no_greeting killed"}, []uint64{10}},
		{"a failed kill is reported and not retried", true, errors.New("kill 10: missing privilege CONNECTION ADMIN"),
			[]string{"10 db-2.test:3306 no_greeting kill 10: missing privilege CONNECTION ADMIN"}, []uint64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeProber{polls: []poll{connected}, killErr: tt.killErr}
			clock := t0
			var trs []string
			var health []string
			kills := []string{}
			m := NewMonitor(Options{PollInterval: pollStep, ZombieGrace: 10 * time.Second, KillZombies: tt.kill,
				SelfServerID: selfID, Inventory: inventory.Static(inv2, true).Get, Resolver: fakeResolver{"db-2.test": {"10.0.0.2"}},
				Now:            func() time.Time { return clock },
				OnTransition:   func(tr Transition) { trs = append(trs, string(tr.State)+" "+tr.Problem.Type) },
				OnHealthChange: func(from, to Status, _ time.Time) { health = append(health, from.String()+"->"+to.String()) },
				OnKill: func(k KillReport) {
					kills = append(kills, itoa(int(k.ThreadID))+" "+k.Replica+" "+k.Reason+" "+k.Result)
				},
			}, f, zerolog.Nop())
			for range 5 {
				m.poll(context.Background())
				clock = clock.Add(pollStep)
			}
			got := []any{trs, health, kills, f.killed, m.Report().Health}
			want := []any{[]string{"firing dump_thread.zombie"}, []string{"ok->critical"}, tt.wantKills, tt.wantKilled, StatusCritical}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("transitions, health changes, kill reports, kills, health:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestMonitor_Report_beforeFirstPoll(t *testing.T) {
	m := NewMonitor(Options{}, &fakeProber{polls: []poll{connected}}, zerolog.Nop())
	rep := m.Report()
	got := []any{rep.Health, rep.Checks[TypeReplicaMissing].State, len(rep.Counts.Problems), len(rep.Counts.DumpThreads)}
	if want := []any{StatusOK, CheckUnknown, len(ProblemTypes()), len(DumpThreadStates())}; !reflect.DeepEqual(got, want) {
		t.Errorf("initial report: got %v, want %v", got, want)
	}
}

// A failed read keeps the last replicas and their gauges instead of
// dropping them to zero.
func TestMonitor_failedReadKeepsLastReplicas(t *testing.T) {
	blind := gone
	blind.failed = []Read{ReadDumpThreads}
	f := &fakeProber{polls: []poll{connected, blind}, answered: true}
	clock := t0
	m := NewMonitor(Options{PollInterval: pollStep, SelfServerID: selfID, Inventory: inventory.Static(inv2, true).Get,
		Resolver: fakeResolver{"db-2.test": {"10.0.0.2"}}, Now: func() time.Time { return clock }}, f, zerolog.Nop())
	for range 2 {
		m.poll(context.Background())
		clock = clock.Add(pollStep)
	}
	rep := m.Report()
	if got := rep.Counts.Replicas[ReplicaConnected]; got != 1 || len(rep.Replicas) != 1 {
		t.Errorf("after a failed read: connected %d, replicas %d; want the last poll's 1 and 1", got, len(rep.Replicas))
	}
	if got := rep.Checks[string(ReadDumpThreads)].State; got != CheckUnknown {
		t.Errorf("dump_threads check = %q, want unknown", got)
	}
}

// A poll that probes reachable replicas while other names never resolved
// writes every answer into one map: the unresolved ones too must be written
// under the lock the probe goroutines hold (run with -race).
func TestMonitor_handshakes_unresolvedWhileProbing(t *testing.T) {
	f := &fakeProber{polls: []poll{connected}, answered: true}
	m := NewMonitor(Options{}, f, zerolog.Nop())
	var targets []string
	resolved := map[string][]string{}
	for i := range 50 {
		targets = append(targets, "10.0.0."+itoa(i+1)+":3306", "gone-"+itoa(i)+".test:3306")
		resolved["gone-"+itoa(i)+".test"] = nil
	}
	got := m.handshakes(context.Background(), targets, resolved)
	unresolved := 0
	for _, res := range got {
		if res.Unresolved {
			unresolved++
		}
	}
	if len(got) != 100 || unresolved != 50 {
		t.Errorf("got %d results, %d unresolved; want 100 and 50", len(got), unresolved)
	}
}

// The monitor counts its polls and each read's failures, and says whether
// the server could be queried; every read is present from the start.
func TestMonitor_pollStats(t *testing.T) {
	blind := connected
	blind.failed = []Read{ReadDumpThreads}
	down := connected
	down.failed = Reads()
	f := &fakeProber{polls: []poll{connected, blind, down}, answered: true}
	m := NewMonitor(Options{PollInterval: pollStep, SelfServerID: selfID, Resolver: fakeResolver{"db-2.test": {"10.0.0.2"}}}, f, zerolog.Nop())
	if p := m.Report().Counts.Polls; len(p.ReadErrors) != len(Reads()) || len(p.Buckets) != len(PollDurationBuckets) || m.Report().Counts.MySQLUp {
		t.Fatalf("before the first poll: %+v, up %v", p, m.Report().Counts.MySQLUp)
	}
	var up []bool
	for range 3 {
		m.poll(context.Background())
		up = append(up, m.Report().Counts.MySQLUp)
	}
	p := m.Report().Counts.Polls
	if !reflect.DeepEqual(up, []bool{true, true, false}) {
		t.Errorf("mysql up per poll %v, want true true false", up)
	}
	if p.Count != 3 || p.Buckets[len(p.Buckets)-1] != 3 {
		t.Errorf("poll count %d, last bucket %d; want 3 and 3", p.Count, p.Buckets[len(p.Buckets)-1])
	}
	if p.ReadErrors[string(ReadDumpThreads)] != 2 || p.ReadErrors[string(ReadVariables)] != 1 {
		t.Errorf("read errors %v, want dump_threads 2, variables 1", p.ReadErrors)
	}
}
