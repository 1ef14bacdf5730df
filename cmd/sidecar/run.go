package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/health/probe"
	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

// shutdownFlush bounds the delivery of pending events on SIGTERM (the
// contract's 10 s); what is left stays in the spool for the next start.
// shutdownEmbedded bounds the embedded server's stop, which flushes its
// JetStream store; it starts after the flush, with its own deadline.
const (
	shutdownFlush    = 10 * time.Second
	shutdownEmbedded = 5 * time.Second
)

// run is the daemon: load config, build the logger, construct the
// components, start their loops, wait until ctx ends, then close them in
// reverse order.
func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	log := startLogger(cfg, environ, stderr)
	c, err := newComponents(cfg, log)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := c.start(runCtx, cancel); err != nil {
		return err
	}
	<-runCtx.Done()
	return c.stop()
}

// startLogger builds the root logger and logs the effective configuration
// once, secrets redacted, with a warning for each SIDECAR_* variable the
// sidecar does not read.
func startLogger(cfg Config, environ []string, stderr io.Writer) zerolog.Logger {
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	log.Info().Str("version", version).Str("commit", commit).Fields(cfg.Redacted()).Msg("starting")
	warnUnknownVariables(log, environ)
	return log
}

// components are the daemon's parts, built before any of them runs.
type components struct {
	cfg      Config
	log      zerolog.Logger
	ln       net.Listener
	meter    *stream.Meter
	can      *canary.Canary // nil unless SIDECAR_CANARY
	source   *binlog.Source
	builder  *events.Builder
	hist     *api.History
	monitor  *health.Monitor
	loops    *loopSet
	busStats *lateStats
	http     *api.Server
	// sink is where events go. It is opened once HTTP serves, since the
	// bus's first connect can take its whole timeout, and before any loop
	// that publishes starts.
	sink     events.Sink
	embedded *bus.Embedded
}

// newComponents builds every part from cfg. It listens first: a taken port
// is a fatal start-up error, reported before anything connects to the
// database.
func newComponents(cfg Config, log zerolog.Logger) (*components, error) {
	tlsCfg, err := cfg.MySQLTLS()
	if err != nil {
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on SIDECAR_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	c := &components{cfg: cfg, log: log, ln: ln, loops: &loopSet{}, busStats: &lateStats{}}
	c.meter = stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: cfg.HeartbeatPeriod})
	c.can = newCanary(cfg, tlsCfg, c.meter, log)
	c.source = c.newSource(tlsCfg)
	c.builder = events.NewBuilder(cfg.Cluster, cfg.Instance)
	c.hist = api.NewHistory(api.HistoryWindow, api.HistoryStep, api.HistoryEvents)
	c.monitor = c.newMonitor(tlsCfg)
	c.http = c.newHTTP()
	return c, nil
}

// newSource is the binlog stream, counting into the meter and handing the
// canary its rows.
func (c *components) newSource(tlsCfg *tls.Config) *binlog.Source {
	cfg := c.cfg
	var onCanary func(uint64, int64)
	if c.can != nil {
		onCanary = c.can.OnRow
	}
	return binlog.New(binlog.Config{
		Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password, Flavor: cfg.MySQL.Flavor,
		TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred",
		ServerID: cfg.ServerID, HeartbeatPeriod: cfg.HeartbeatPeriod, Start: cfg.Start,
		MaxDelay: cfg.StreamMaxDelay, ReplicaUUID: binlog.ReplicaUUID(cfg.Instance), OnCanary: onCanary,
	}, c.meter, c.log)
}

// newMonitor is the health monitor over the probe; its transitions, health
// changes and kills become events and status page history.
func (c *components) newMonitor(tlsCfg *tls.Config) *health.Monitor {
	cfg := c.cfg
	inv := inventory.Static(cfg.Inventory, cfg.InventoryConfigured)
	if cfg.ExpectedReplicasFile != "" {
		inv = inventory.File(cfg.ExpectedReplicasFile, cfg.MySQL.PasswordFile, cfg.NATS.Creds)
	}
	var canaryView func() health.CanaryView
	if c.can != nil {
		canaryView = c.can.HealthView
	}
	return health.NewMonitor(health.Options{
		PollInterval: cfg.PollInterval, ProbeTimeout: cfg.ProbeTimeout, ZombieGrace: cfg.ZombieGrace,
		KillZombies: cfg.KillZombies, Inventory: inv.Get, InventoryErr: inv.Err,
		SelfServerID: cfg.ServerID, SelfRegisterHost: binlog.RegisterHost, SelfThreadID: c.source.ThreadID, Stream: c.meter.Snapshot,
		Canary: canaryView,
		OnTransition: func(tr health.Transition) {
			c.hist.Transition(tr)
			c.builder.SetServer(c.server())
			c.sink.Publish(c.builder.FromTransition(tr))
		},
		OnHealthChange: func(from, to health.Status, _ time.Time) {
			c.sink.Publish(c.builder.HealthChanged(from, to, c.monitor.Report().Problems))
		},
		OnKill: func(k health.KillReport) {
			c.sink.Publish(c.builder.DumpThreadKilled(k))
		},
	}, probe.New(probe.Config{
		Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password,
		Flavor: cfg.MySQL.Flavor, TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred",
	}, c.log), c.log)
}

// server is the watched server as the last poll saw it.
func (c *components) server() health.Server { return c.monitor.Report().Server }

// newHTTP serves /livez, /readyz, /metrics, /status and the status page.
func (c *components) newHTTP() *api.Server {
	cfg := c.cfg
	var canaryStatus func() canary.Status
	if c.can != nil {
		canaryStatus = c.can.Status
	}
	return api.New(cfg.HTTPAddr, api.Sources{
		Canary: canaryStatus,
		Stream: c.meter.Snapshot, Health: c.monitor.Report, Bus: c.busStats.get,
		Live:    func() error { return c.loops.live(c.monitor.Report().At, cfg.PollInterval) },
		History: c.hist.View, Name: cfg.Cluster + "/" + cfg.Instance,
		Build: api.BuildInfo{Version: version, Commit: commit},
	}, c.log, api.WithWebConfig(cfg.WebConfigFile))
}

// start serves HTTP first, so probes and scrapes are answered while the bus
// connects, then opens the sink and starts the loops that feed it. The
// first loop to fail cancels ctx.
func (c *components) start(ctx context.Context, cancel context.CancelFunc) error {
	c.loops.start(ctx, cancel, "http", func(ctx context.Context) error { return c.http.Serve(ctx, c.ln) })
	sink, embedded, err := openSink(ctx, c.cfg, c.log)
	if err != nil {
		cancel()
		if lerr := c.loops.wait(); lerr != nil {
			return lerr // HTTP failed first, which is what stopped the start
		}
		return err
	}
	c.sink, c.embedded = sink, embedded
	c.busStats.set(sink.Stats)
	c.startLoops(ctx, cancel)
	c.sink.Publish(c.builder.Lifecycle(events.TypeSidecarStarted, "binlog-sidecar started watching "+c.cfg.MySQL.Addr,
		map[string]any{"version": version, "commit": commit, "server_id_of_sidecar": c.cfg.ServerID}))
	return nil
}

// startLoops starts every loop but HTTP's.
func (c *components) startLoops(ctx context.Context, cancel context.CancelFunc) {
	var canaryInterval func() stream.CanaryInterval
	if c.can != nil {
		canaryInterval = c.can.TakeInterval
	}
	c.loops.start(ctx, cancel, "binlog stream", c.source.Run)
	c.loops.start(ctx, cancel, "health monitor", c.monitor.Run)
	c.loops.start(ctx, cancel, "stream events", func(ctx context.Context) error {
		return streamEvents(ctx, c.cfg.StatsInterval, c.meter, canaryInterval, c.builder, c.sink, c.monitor.Report)
	})
	if c.can != nil {
		c.loops.start(ctx, cancel, "canary", c.can.Run)
	}
	c.loops.start(ctx, cancel, "status page history", func(ctx context.Context) error { return c.hist.Run(ctx, c.meter.Snapshot) })
	if w := fleetWriter(c.cfg, c.sink, c.monitor.Report, c.meter.Snapshot, c.log); w != nil {
		c.loops.start(ctx, cancel, "fleet status", w.Run)
	}
}

// stop waits for the loops (their context is done), publishes the last
// event, flushes the sink and stops the embedded server. It returns the
// first loop's error.
func (c *components) stop() error {
	loopErr := c.loops.wait()
	c.log.Info().Msg("stopping")
	c.builder.SetServer(c.server())
	c.sink.Publish(c.builder.Lifecycle(events.TypeSidecarStopping, "binlog-sidecar is stopping", nil))
	closeEvents(c.log, c.sink, c.embedded, shutdownFlush, shutdownEmbedded)
	c.log.Info().Msg("stopped")
	return streamConfigError(loopErr)
}

// newCanary builds the commit-latency canary when SIDECAR_CANARY is on
// (nil otherwise) and makes the stream's lag come from it while it has
// evidence.
func newCanary(cfg Config, tlsCfg *tls.Config, meter *stream.Meter, log zerolog.Logger) *canary.Canary {
	if !cfg.Canary {
		return nil
	}
	c := canary.New(canary.Config{
		Target: client.Target{Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password,
			TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred"},
		Flavor: cfg.MySQL.Flavor, Instance: cfg.Instance, Interval: cfg.CanaryInterval, Timeout: cfg.CanaryTimeout, Slow: cfg.CanarySlow,
	}, log)
	meter.SetLagSource(c.Lag)
	return c
}

// streamConfigError turns the stream's configuration errors (a server_id
// that the server or a registered replica uses, found before the first
// dump) into a ConfigError naming the variable, so the exit code is 2.
func streamConfigError(err error) error {
	if !errors.Is(err, binlog.ErrConfig) {
		return err
	}
	msg := err.Error()
	if errors.Is(err, binlog.ErrDuplicateReplica) || errors.Is(err, binlog.ErrServerIDConflict) {
		msg = "SIDECAR_SERVER_ID: " + msg
	}
	if h := binlog.Hint(err); h != "" {
		msg += " (fix: " + h + ")"
	}
	return &ConfigError{Problems: []string{msg}}
}

// closeEvents flushes the sink, then stops the embedded server. Each gets
// its own deadline: a flush that takes all of its time (the bus is slow or
// gone) must not leave the embedded server none to flush its store. Both
// outcomes are logged, not fatal: undelivered events stay in the spool.
func closeEvents(log zerolog.Logger, sink events.Sink, embedded *bus.Embedded, flush, stop time.Duration) (sinkErr, embeddedErr error) {
	fctx, fcancel := context.WithTimeout(context.Background(), flush)
	defer fcancel()
	if sinkErr = sink.Close(fctx); sinkErr != nil {
		log.Warn().Err(sinkErr).Msg("events left in the spool at shutdown")
	}
	if embedded == nil {
		return sinkErr, nil
	}
	sctx, scancel := context.WithTimeout(context.Background(), stop)
	defer scancel()
	if embeddedErr = embedded.Shutdown(sctx); embeddedErr != nil {
		log.Warn().Err(embeddedErr).Msg("embedded nats shutdown")
	}
	return sinkErr, embeddedErr
}

// openSink starts where events go: nowhere but the log (none), an
// in-process NATS server (embedded), or the NATS servers named.
func openSink(ctx context.Context, cfg Config, log zerolog.Logger) (events.Sink, *bus.Embedded, error) {
	if cfg.NATS.URL == NATSNone {
		return events.LogOnly(log), nil, nil
	}
	urls := cfg.NATSURLs()
	var emb *bus.Embedded
	var user, password string
	if cfg.NATS.URL == NATSEmbedded {
		var err error
		emb, err = bus.StartEmbedded(ctx, bus.Options{Addr: cfg.NATS.EmbeddedAddr, StoreDir: filepath.Join(cfg.DataDir, "nats")}, log)
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded nats on SIDECAR_NATS_EMBEDDED_ADDR %s: %w", cfg.NATS.EmbeddedAddr, err)
		}
		urls = []string{emb.ClientURL()}
		user, password = emb.Credentials()
	}
	pub, err := events.New(events.Options{
		URLs: urls, CredsFile: cfg.NATS.Creds, TLSCAFile: cfg.NATS.TLSCA, User: user, Password: password,
		SubjectPrefix: cfg.NATS.SubjectPrefix, Stream: cfg.NATS.Stream,
		DataDir: cfg.DataDir, MaxSpoolBytes: cfg.SpoolMaxBytes, Cluster: cfg.Cluster, Instance: cfg.Instance,
	}, log)
	if err == nil {
		err = pub.Start(ctx)
	}
	if err != nil {
		if emb != nil {
			emb.Shutdown(context.Background())
		}
		return nil, nil, fmt.Errorf("start event publisher: %w", err)
	}
	return pub, emb, nil
}

// fleetWriter is the writer of the sidecar's status into the fleet bucket,
// or nil when there is none: no bus (SIDECAR_NATS_URL=none) or
// SIDECAR_NATS_KV_BUCKET set empty.
func fleetWriter(cfg Config, sink events.Sink, report func() health.Report, snap func() stream.Snapshot, log zerolog.Logger) *kv.Writer {
	pub, ok := sink.(*events.Publisher)
	if !ok || cfg.NATS.KVBucket == "" {
		return nil
	}
	return &kv.Writer{
		JS: pub.JetStream(), Bucket: cfg.NATS.KVBucket, Every: cfg.NATS.KVEvery,
		Cluster: cfg.Cluster, Instance: cfg.Instance, SidecarServerID: cfg.ServerID,
		Report: report, Stream: snap, Log: log.With().Str("component", "fleet").Logger(),
	}
}

// streamEvents publishes stream.stats every interval and a stream.gap as
// soon as the stream records one. It also hands the meter the server's
// binlog end from each health poll, so behind_bytes follows the server
// without a query of its own.
func streamEvents(ctx context.Context, every time.Duration, meter *stream.Meter, canaryInterval func() stream.CanaryInterval,
	b *events.Builder, sink events.Sink, report func() health.Report) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	stats := time.NewTicker(every)
	defer stats.Stop()
	meter.TakeInterval() // the first interval starts now
	if canaryInterval != nil {
		canaryInterval()
	}
	gaps := meter.Snapshot().GapsTotal
	var polled time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			rep := report()
			if end := rep.Binlog; end.File != "" && rep.At.After(polled) {
				meter.SetServerEnd(stream.Position{File: end.File, Pos: uint32(end.Position), GTID: end.GTID})
			}
			polled = rep.At
			// Gaps is the bounded list of recent gaps; GapsTotal counts them all.
			snap := meter.Snapshot()
			if n := snap.GapsTotal - gaps; n > 0 {
				b.SetServer(rep.Server)
				for _, g := range snap.Gaps[len(snap.Gaps)-int(min(n, uint64(len(snap.Gaps)))):] {
					sink.Publish(b.GapEvent(g))
				}
			}
			gaps = snap.GapsTotal
		case <-stats.C:
			b.SetServer(report().Server)
			ev := b.Stats(meter.TakeInterval(), meter.Snapshot())
			if canaryInterval != nil {
				ev = events.WithCanary(ev, canaryInterval())
			}
			sink.Publish(ev)
		}
	}
}

// lateStats serves the bus figures to HTTP, which starts before the sink is
// open: until then nothing is published and no bus is connected.
type lateStats struct {
	fn atomic.Pointer[func() events.Stats]
}

func (l *lateStats) set(fn func() events.Stats) { l.fn.Store(&fn) }

func (l *lateStats) get() events.Stats {
	if fn := l.fn.Load(); fn != nil {
		return (*fn)()
	}
	pub := make(map[string]uint64, len(events.Types()))
	for _, t := range events.Types() {
		pub[t] = 0
	}
	return events.Stats{Published: pub}
}

// loopSet runs the daemon's long-lived loops. The first loop to fail stops
// them all; /livez reports whether every loop still runs.
type loopSet struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	exited []string
	err    error
}

func (l *loopSet) start(ctx context.Context, cancel context.CancelFunc, name string, fn func(context.Context) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := fn(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if ctx.Err() == nil {
			l.exited = append(l.exited, name)
			if err == nil {
				err = errors.New("exited")
			}
		}
		if err != nil && l.err == nil {
			l.err = fmt.Errorf("%s: %w", name, err)
			cancel()
		}
	}()
}

func (l *loopSet) wait() error {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// live is nil while every loop runs and the health monitor completed a poll
// recently. Each poll read has its own timeout, so a dead database never
// stops polls from completing: liveness does not depend on MySQL.
func (l *loopSet) live(lastPoll time.Time, poll time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.exited) > 0 {
		return fmt.Errorf("loop exited: %v", l.exited)
	}
	if limit := 10*poll + time.Minute; !lastPoll.IsZero() && time.Since(lastPoll) > limit {
		return fmt.Errorf("health monitor completed no poll for %s (limit %s)", time.Since(lastPoll).Round(time.Second), limit)
	}
	return nil
}
