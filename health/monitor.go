package health

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Defaults of the monitor's options (the contract's defaults).
const (
	DefaultPollInterval = 5 * time.Second
	DefaultProbeTimeout = 2 * time.Second
	// dnsTTL is how long a resolved name is reused; a failed lookup keeps
	// the last good answer so a DNS hiccup does not make replicas missing.
	dnsTTL = 30 * time.Second
	// killTimeout bounds one KILL statement.
	killTimeout = 5 * time.Second
)

// Prober reads the server's state and probes replicas; health/probe
// implements it against MySQL and MariaDB.
type Prober interface {
	// Observe runs one poll. It never fails as a whole: each read records
	// its own error in Observation.Reads.
	Observe(ctx context.Context) Observation
	// Handshake waits up to timeout for the greeting of the server at addr.
	Handshake(ctx context.Context, addr string, timeout time.Duration) ProbeResult
	// Kill ends a connection (a zombie dump thread).
	Kill(ctx context.Context, threadID uint64) error
}

// Resolver looks host names up; *net.Resolver satisfies it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Options configure a Monitor. Zero durations take the defaults.
type Options struct {
	PollInterval time.Duration
	ProbeTimeout time.Duration
	ZombieGrace  time.Duration // 0 is a valid grace; negative takes the default
	FlapWindow   time.Duration
	FlapCount    int
	// KillZombies kills a zombie dump thread once its problem fires, when
	// the thread is certainly the replica's (SIDECAR_KILL_ZOMBIES).
	KillZombies bool
	// Inventory returns the expected replicas and whether an inventory is
	// configured at all; nil means none.
	Inventory func() ([]inventory.Entry, bool)
	// InventoryErr returns the last error reading the inventory, if any.
	InventoryErr func() error
	SelfServerID uint32
	// SelfRegisterHost: see Rules.SelfRegisterHost.
	SelfRegisterHost string
	// SelfThreadID returns the connection id of the sidecar's own dump
	// thread when known (0 otherwise); nil means unknown.
	SelfThreadID func() uint64
	// Stream returns the binlog stream's snapshot; nil means no stream.
	Stream func() stream.Snapshot
	// Canary returns the commit-latency canary's view; nil means no canary.
	Canary         func() CanaryView
	Resolver       Resolver // default net.DefaultResolver
	OnTransition   func(Transition)
	OnHealthChange func(from, to Status, at time.Time)
	OnKill         func(KillReport)
	Now            func() time.Time // default time.Now
}

// KillReport says what happened to a zombie thread the monitor killed; it
// becomes a dump_thread.killed event.
type KillReport struct {
	At        time.Time
	ThreadID  uint64
	Replica   string // the address of the replica the thread served
	ProblemID string // the dump_thread.zombie problem that caused it
	Reason    string // no_greeting or superseded
	Result    string // "killed" or the error
	Err       error
}

// Monitor polls the server, applies the rules and keeps the latest Report.
type Monitor struct {
	opts  Options
	rules Rules
	probe Prober
	log   zerolog.Logger

	report atomic.Pointer[Report]

	// Owned by the Run goroutine.
	mem      Memory
	health   Status
	killed   map[uint64]bool
	dns      map[string]dnsEntry
	readErrs map[Read]string
	polls    PollStats
}

type dnsEntry struct {
	ips []string
	at  time.Time
}

// NewMonitor returns a monitor; Run starts it.
func NewMonitor(o Options, p Prober, log zerolog.Logger) *Monitor {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.ZombieGrace < 0 {
		o.ZombieGrace = DefaultZombieGrace
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Monitor{opts: o, probe: p, log: log.With().Str("component", "health").Logger(),
		rules:  Rules{SelfServerID: o.SelfServerID, SelfRegisterHost: o.SelfRegisterHost, ZombieGrace: o.ZombieGrace, FlapWindow: o.FlapWindow, FlapCount: o.FlapCount},
		killed: map[uint64]bool{}, dns: map[string]dnsEntry{}, readErrs: map[Read]string{}, polls: newPollStats()}
	initial := Report{Health: StatusOK, Checks: map[string]Check{}, Problems: []Problem{}, SemiSync: SemiSyncInfo{Unknown: "no poll yet"},
		Counts: Counts{DumpThreads: zeroCounts(DumpThreadStates()), Replicas: zeroCounts(ReplicaStatuses()), Problems: zeroCounts(ProblemTypes()),
			Polls: m.polls.clone()}}
	for _, t := range ProblemTypes() {
		initial.Checks[t] = Check{State: CheckUnknown, Reason: "no poll yet"}
	}
	m.report.Store(&initial)
	return m
}

// Report returns the latest report. It is cheap and safe from any
// goroutine; callers must not modify the maps and slices it shares.
func (m *Monitor) Report() Report { return *m.report.Load() }

// Run polls every PollInterval until ctx ends. A poll that overruns the
// interval delays the next one rather than overlapping it.
func (m *Monitor) Run(ctx context.Context) error {
	m.log.Info().Dur("poll_interval", m.opts.PollInterval).Dur("probe_timeout", m.opts.ProbeTimeout).
		Dur("zombie_grace", m.opts.ZombieGrace).Bool("kill_zombies", m.opts.KillZombies).Msg("health monitor started")
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		m.poll(ctx)
		select {
		case <-ctx.Done():
			m.log.Info().Msg("health monitor stopped")
			return nil
		case <-t.C:
		}
	}
}

// poll is one round: gather (observe, resolve, probe), then evaluate and
// act.
func (m *Monitor) poll(ctx context.Context) {
	start := time.Now()
	in := m.gather(ctx)
	if ctx.Err() != nil {
		return // shutting down: a cancelled poll is not evidence
	}
	m.apply(ctx, start, in)
}

// Assess is one poll's judgement without the monitor's memory, for a
// one-shot audit: it gathers as a poll does and evaluates that input twice,
// a poll interval apart, so that conditions needing two consecutive polls
// (replica.missing) show, with the zombie grace Options gives (0 for an
// audit). It neither keeps the report nor acts on it.
func (m *Monitor) Assess(ctx context.Context) (Observation, Report) {
	in := m.gather(ctx)
	at := in.Observation.At
	mem, _ := m.rules.Evaluate(Memory{}, in, at)
	_, out := m.rules.Evaluate(mem, in, at.Add(m.opts.PollInterval))
	rep := out.Report
	rep.Counts.MySQLUp = in.Observation.Up()
	return in.Observation, rep
}

// gather is the input of one poll: the server observed, the host names of
// the inventory and the registrations resolved (through the DNS cache), the
// replicas handshaken. Poll and Assess both start here.
func (m *Monitor) gather(ctx context.Context) Input {
	obs := m.probe.Observe(ctx)
	if ctx.Err() != nil {
		return Input{Observation: obs}
	}
	m.logReads(obs)
	in := Input{Observation: obs, Probes: map[string]ProbeResult{}}
	if m.opts.Inventory != nil {
		in.Inventory, in.InventoryConfigured = m.opts.Inventory()
	}
	if m.opts.InventoryErr != nil {
		if err := m.opts.InventoryErr(); err != nil {
			in.InventoryErr = err.Error()
		}
	}
	if m.opts.Stream != nil {
		s := m.opts.Stream()
		in.Stream = &s
	}
	if m.opts.Canary != nil {
		c := m.opts.Canary()
		in.Canary = &c
	}
	if m.opts.SelfThreadID != nil {
		in.SelfThreadID = m.opts.SelfThreadID()
	}
	in.Resolved = m.resolve(ctx, Hosts(in.Inventory, obs.Replicas, obs.DumpThreads, m.opts.SelfServerID, m.opts.SelfRegisterHost))
	in.Probes = m.handshakes(ctx, m.rules.ProbeTargets(in), in.Resolved)
	return in
}

// apply evaluates one poll's input against the monitor's memory, keeps the
// report and acts on it: transitions, health changes, kills.
func (m *Monitor) apply(ctx context.Context, start time.Time, in Input) {
	obs := in.Observation
	now := m.opts.Now()
	mem, out := m.rules.Evaluate(m.mem, in, now)
	m.mem = mem
	rep := out.Report
	if prev := m.report.Load(); prev != nil && !prev.At.IsZero() &&
		(!obs.Read(ReadDumpThreads).OK() || !obs.Read(ReadReplicaHosts).OK()) {
		// A failed read says nothing about the replicas: keep showing the
		// last ones seen (their checks say unknown) rather than dropping
		// every gauge to zero, which a dashboard would read as an outage.
		rep.DumpThreads, rep.Replicas = prev.DumpThreads, prev.Replicas
		rep.Counts.DumpThreads, rep.Counts.Replicas = prev.Counts.DumpThreads, prev.Counts.Replicas
	}
	m.polls.observe(time.Since(start), obs)
	rep.Counts.MySQLUp, rep.Counts.Polls = obs.Up(), m.polls.clone()
	m.report.Store(&rep)
	for _, tr := range out.Transitions {
		m.logTransition(tr)
		if m.opts.OnTransition != nil {
			m.opts.OnTransition(tr)
		}
	}
	if rep.Health != m.health {
		m.log.Info().Str("from", m.health.String()).Str("to", rep.Health.String()).Msg("health changed")
		if m.opts.OnHealthChange != nil {
			m.opts.OnHealthChange(m.health, rep.Health, now)
		}
		m.health = rep.Health
	}
	m.kill(ctx, obs, out.Kills)
}

// handshakes probes every target at once, each bounded by ProbeTimeout.
// A target named by host name is dialled at the address resolve found (the
// last good answer survives a DNS outage); a name that never resolved is
// not dialled at all and its result says so, because a DNS failure is no
// evidence that a replica is gone.
func (m *Monitor) handshakes(ctx context.Context, targets []string, resolved map[string][]string) map[string]ProbeResult {
	out := make(map[string]ProbeResult, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range targets {
		dial := addr
		if host, port, err := net.SplitHostPort(addr); err == nil && net.ParseIP(host) == nil {
			if ips, known := resolved[host]; known {
				if len(ips) == 0 {
					// Under the lock: probes of earlier targets already write out.
					mu.Lock()
					out[addr] = ProbeResult{Addr: addr, At: m.opts.Now(), Unresolved: true, Err: "host name " + host + " does not resolve"}
					mu.Unlock()
					continue
				}
				dial = net.JoinHostPort(ips[0], port)
			}
		}
		wg.Go(func() {
			res := m.probe.Handshake(ctx, dial, m.opts.ProbeTimeout)
			res.Addr = addr
			mu.Lock()
			out[addr] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// resolve looks up host names concurrently, reusing answers for dnsTTL and
// keeping the last good answer when a lookup fails.
func (m *Monitor) resolve(ctx context.Context, hosts []string) map[string][]string {
	now := m.opts.Now()
	var stale []string
	for _, h := range hosts {
		if e, ok := m.dns[h]; !ok || now.Sub(e.at) > dnsTTL {
			stale = append(stale, h)
		}
	}
	type answer struct {
		host string
		ips  []string
		err  error
	}
	answers := make([]answer, len(stale))
	var wg sync.WaitGroup
	for i, h := range stale {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
			defer cancel()
			ips, err := m.opts.Resolver.LookupHost(lctx, h)
			answers[i] = answer{h, ips, err}
		})
	}
	wg.Wait()
	for _, a := range answers {
		if a.err != nil {
			m.log.Debug().Err(a.err).Str("host", a.host).Msg("host lookup failed")
			if e, ok := m.dns[a.host]; ok {
				e.at = now.Add(-dnsTTL / 2) // retry sooner, keep the old answer meanwhile
				m.dns[a.host] = e
				continue
			}
		}
		m.dns[a.host] = dnsEntry{ips: a.ips, at: now}
	}
	out := make(map[string][]string, len(hosts))
	for _, h := range hosts {
		out[h] = m.dns[h].ips
	}
	for h := range m.dns {
		if !slices.Contains(hosts, h) {
			delete(m.dns, h)
		}
	}
	return out
}

// kill ends zombie threads once, when killing is enabled.
func (m *Monitor) kill(ctx context.Context, obs Observation, kills []Kill) {
	for id := range m.killed {
		if !slices.ContainsFunc(obs.DumpThreads, func(th DumpThread) bool { return th.ID == id }) {
			delete(m.killed, id)
		}
	}
	if !m.opts.KillZombies {
		return
	}
	for _, k := range kills {
		if m.killed[k.ThreadID] {
			continue
		}
		m.killed[k.ThreadID] = true // once: a failed KILL (e.g. no privilege) is not retried every poll
		kctx, cancel := context.WithTimeout(ctx, killTimeout)
		err := m.probe.Kill(kctx, k.ThreadID)
		cancel()
		rep := KillReport{At: m.opts.Now(), ThreadID: k.ThreadID, Replica: k.Replica, ProblemID: k.ProblemID,
			Reason: k.Reason, Result: "killed", Err: err}
		if err != nil {
			rep.Result = err.Error()
			m.log.Error().Err(err).Uint64("thread_id", k.ThreadID).Str("replica", k.Replica).Str("problem_id", k.ProblemID).Msg("kill zombie dump thread failed")
		} else {
			m.log.Warn().Uint64("thread_id", k.ThreadID).Str("replica", k.Replica).Str("problem_id", k.ProblemID).Str("reason", k.Reason).Msg("killed zombie dump thread")
		}
		if m.opts.OnKill != nil {
			m.opts.OnKill(rep)
		}
	}
}

func (m *Monitor) logTransition(tr Transition) {
	ev, msg := m.log.Info(), "problem resolved"
	if tr.State == StateFiring {
		ev, msg = m.log.Warn(), "problem firing"
	}
	ev.Str("type", tr.Problem.Type).Str("subject", tr.Problem.Subject).Str("problem_id", tr.Problem.ID).
		Str("severity", string(tr.Problem.Severity)).Str("summary", tr.Problem.Summary).Msg(msg)
}

// logReads logs a read's failure once and its recovery once.
func (m *Monitor) logReads(obs Observation) {
	for _, r := range Reads() {
		res := obs.Read(r)
		msg := res.Err
		if res.MissingPrivilege != "" {
			msg = "missing privilege " + res.MissingPrivilege
		}
		prev := m.readErrs[r]
		switch {
		case msg != "" && msg != prev:
			m.log.Warn().Str("read", string(r)).Str("sql", res.SQL).Str("error", msg).Msg("server read failed")
		case msg == "" && prev != "":
			m.log.Info().Str("read", string(r)).Msg("server read recovered")
		}
		m.readErrs[r] = msg
	}
}
