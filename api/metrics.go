package api

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// namespace prefixes every family of the sidecar's own (the process and Go
// runtime figures keep their standard names).
const namespace = "binlog_sidecar"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// streamCollector renders a stream snapshot at scrape time. The meter keeps
// plain counters; building Prometheus samples only when scraped keeps the
// binlog hot path free of metric bookkeeping.
type streamCollector struct {
	snap func() stream.Snapshot

	events, bytes, rows, txs, lag, connected, reconnects,
	rotations, behind, stalled, gaps, lastReceived, txBytes, txRows *prometheus.Desc
}

func newStreamCollector(snap func() stream.Snapshot) *streamCollector {
	return &streamCollector{
		snap:         snap,
		events:       desc("stream_events_total", "Binlog events received, by event type (heartbeats included as type heartbeat).", "type"),
		bytes:        desc("stream_bytes_total", "Bytes of binlog events received as the server wrote them; advances exactly as the binlog position does."),
		rows:         desc("stream_rows_total", "Rows changed, by operation; an UPDATE of one row counts 1.", "op"),
		txs:          desc("stream_transactions_total", "Transactions received."),
		lag:          desc("stream_lag_seconds", "0 while the stream is at the server's binlog end or its newest event is stamped in the current second (one-second resolution), else that event's age; no sample while not known."),
		connected:    desc("stream_connected", "1 while the binlog stream is connected."),
		reconnects:   desc("stream_reconnects_total", "Times the binlog stream reconnected."),
		rotations:    desc("stream_rotations_total", "Binlog rotations seen."),
		behind:       desc("stream_behind_bytes", "Bytes between the sidecar's position and the server's binlog end as last read; no sample while not known."),
		stalled:      desc("stream_stalled", "1 while connected but nothing, not even a heartbeat, arrived for 3 heartbeat periods."),
		gaps:         desc("stream_gaps_total", "Times the stream had to skip binlog it could not read (e.g. purged)."),
		lastReceived: desc("stream_last_received_timestamp_seconds", "Unix time of the last event or heartbeat received; no sample before the first."),
		txBytes:      desc("stream_transaction_bytes", "Transaction sizes in bytes."),
		txRows:       desc("stream_transaction_rows", "Rows per transaction."),
	}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.events, c.bytes, c.rows, c.txs, c.lag, c.connected, c.reconnects,
		c.rotations, c.behind, c.stalled, c.gaps, c.lastReceived, c.txBytes, c.txRows} {
		ch <- d
	}
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	for _, t := range stream.EventTypes() {
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(s.Events[t]), t.String())
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.CounterValue, float64(s.Rows.Insert), "insert")
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.CounterValue, float64(s.Rows.Update), "update")
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.CounterValue, float64(s.Rows.Delete), "delete")
	ch <- prometheus.MustNewConstMetric(c.txs, prometheus.CounterValue, float64(s.Transactions))
	// An unknown figure has no sample (never -1 or a fake 0); /status says why.
	if s.LagSeconds != nil {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, *s.LagSeconds)
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, b2f(s.Connected))
	ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects))
	ch <- prometheus.MustNewConstMetric(c.rotations, prometheus.CounterValue, float64(s.Rotations))
	if s.BehindBytes != nil {
		ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(*s.BehindBytes))
	}
	ch <- prometheus.MustNewConstMetric(c.stalled, prometheus.GaugeValue, b2f(s.Stalled()))
	ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(s.GapsTotal))
	ch <- constHistogram(c.txBytes, s.TxBytesHist)
	ch <- constHistogram(c.txRows, s.TxRowsHist)
	if !s.LastReceived.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastReceived, prometheus.GaugeValue, float64(s.LastReceived.UnixNano())/1e9)
	}
}

// constHistogram renders a meter histogram; an empty one (no bounds yet)
// still exposes its family.
func constHistogram(d *prometheus.Desc, h stream.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, c := range h.Cumulative() {
		buckets[float64(h.Bounds[i])] = c
	}
	return prometheus.MustNewConstHistogram(d, h.Count, float64(h.Sum), buckets)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newRegistry builds the registry every scrape reads: the sidecar's own
// families plus its process and Go runtime figures, unprefixed
// (process_*, go_*) as every exporter publishes them, so standard
// dashboards find the CPU and memory the sidecar takes from the host.
func newRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(cs...)
	return reg
}

// BuildInfo identifies the binary in binlog_sidecar_build_info.
type BuildInfo struct {
	Version, Commit string
}

// buildInfoCollector publishes binlog_sidecar_build_info, always 1.
func buildInfoCollector(b BuildInfo) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: namespace + "_build_info",
		Help:        "Always 1; the labels say which sidecar binary runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": runtime.Version()}},
		func() float64 { return 1 })
}

// healthCollector renders the health report's counts; every label value of
// every family is present from the first scrape, at 0.
type healthCollector struct {
	report func() health.Report

	dumpThreads, replicas, ssClients, ssWaiting, problems, status,
	checkState, mysqlUp, pollDuration, pollErrors *prometheus.Desc
}

func newHealthCollector(report func() health.Report) *healthCollector {
	return &healthCollector{
		report:      report,
		dumpThreads: desc("dump_threads", "Dump threads serving replicas, by state class; the sidecar's own is not counted.", "state"),
		replicas:    desc("replicas", "Replicas by status: expected (the inventory), connected, missing, unknown, zombie.", "status"),
		ssClients:   desc("semisync_clients", "Semi-sync replicas connected, as the server counts them (Rpl_semi_sync_*_clients)."),
		ssWaiting:   desc("semisync_waiting_sessions", "Sessions waiting for a semi-sync ACK (Rpl_semi_sync_*_wait_sessions)."),
		problems:    desc("problem_active", "1 while a problem of the type fires (the number of them, for per-object problems).", "type"),
		status:      desc("health_status", "Overall health: 0 ok, 1 degraded, 2 critical."),
		checkState: desc("check_state", "1 for each check's current state (ok, firing, unknown: a read failed, unavailable: cannot run, e.g. a missing privilege, not_evaluated), 0 for the others.",
			"check", "state"),
		mysqlUp:      desc("mysql_up", "1 when the last health poll could query the server."),
		pollDuration: desc("poll_duration_seconds", "How long each health poll took: the server's reads and the replicas' handshake probes."),
		pollErrors:   desc("poll_errors_total", "Health polls in which a read did not succeed, by read (an error, a missing privilege, or not tried after an earlier read lost the connection).", "read"),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dumpThreads, c.replicas, c.ssClients, c.ssWaiting, c.problems, c.status,
		c.checkState, c.mysqlUp, c.pollDuration, c.pollErrors} {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.report()
	for _, s := range health.DumpThreadStates() {
		ch <- prometheus.MustNewConstMetric(c.dumpThreads, prometheus.GaugeValue, float64(r.Counts.DumpThreads[s]), s)
	}
	for _, s := range health.ReplicaStatuses() {
		ch <- prometheus.MustNewConstMetric(c.replicas, prometheus.GaugeValue, float64(r.Counts.Replicas[s]), s)
	}
	if r.Counts.SemiSyncKnown { // else not read (or no semi-sync): no sample, never a made-up 0
		ch <- prometheus.MustNewConstMetric(c.ssClients, prometheus.GaugeValue, float64(r.Counts.SemiSyncClients))
		ch <- prometheus.MustNewConstMetric(c.ssWaiting, prometheus.GaugeValue, float64(r.Counts.SemiSyncWaitSessions))
	}
	for _, t := range health.ProblemTypes() {
		ch <- prometheus.MustNewConstMetric(c.problems, prometheus.GaugeValue, float64(r.Counts.Problems[t]), t)
	}
	ch <- prometheus.MustNewConstMetric(c.status, prometheus.GaugeValue, float64(r.Health))
	for _, name := range health.CheckNames() {
		cur, ok := r.Checks[name]
		if !ok {
			cur.State = health.CheckUnknown // not judged yet (before the first poll)
		}
		for _, st := range health.CheckStates() {
			ch <- prometheus.MustNewConstMetric(c.checkState, prometheus.GaugeValue, b2f(cur.State == st), name, st)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.mysqlUp, prometheus.GaugeValue, b2f(r.Counts.MySQLUp))
	p := r.Counts.Polls
	if p.Bounds == nil { // a report from the rules alone, before the monitor's first poll
		p.Seconds = stream.NewSeconds(health.PollDurationBuckets)
	}
	ch <- prometheus.MustNewConstHistogram(c.pollDuration, p.Count, p.Sum, p.BucketMap())
	for _, rd := range health.Reads() {
		ch <- prometheus.MustNewConstMetric(c.pollErrors, prometheus.CounterValue, float64(p.ReadErrors[string(rd)]), string(rd))
	}
}

// busCollector renders the event publisher's figures.
type busCollector struct {
	stats func() events.Stats

	published, pending, dropped, connected, deadLettered *prometheus.Desc
}

func newBusCollector(stats func() events.Stats) *busCollector {
	return &busCollector{
		stats:     stats,
		published: desc("events_published_total", "Events the bus acknowledged (JetStream ack, or a core NATS flush), by type.", "type"),
		pending:   desc("events_pending", "Events produced and not yet acknowledged, in memory and in the spool."),
		dropped:   desc("events_dropped_total", "Events dropped to keep memory and disk bounded (oldest stats events first), or lost to a damaged spool."),
		connected: desc("events_bus_connected", "1 while connected to NATS."),
		deadLettered: desc("events_dead_lettered_total",
			"Events that can never be delivered as they are (over the server's max_payload, a refused subject, no permission), kept in the data directory's dead-letter.jsonl, by type and reason.", "type", "reason"),
	}
}

func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.pending, c.dropped, c.connected, c.deadLettered} {
		ch <- d
	}
}

func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, t := range events.Types() {
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(s.Published[t]), t)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, b2f(s.Connected))
	known := map[events.DeadLetterKey]bool{}
	for _, t := range events.Types() {
		for _, r := range events.DeadLetterReasons() {
			k := events.DeadLetterKey{Type: t, Reason: r}
			known[k] = true
			ch <- prometheus.MustNewConstMetric(c.deadLettered, prometheus.CounterValue, float64(s.DeadLettered[k]), t, r)
		}
	}
	for k, n := range s.DeadLettered { // a type this version does not know, from an old spool
		if !known[k] {
			ch <- prometheus.MustNewConstMetric(c.deadLettered, prometheus.CounterValue, float64(n), k.Type, k.Reason)
		}
	}
}

// canaryCollector renders the canary's latency histograms; without the
// canary it has no samples at all.
type canaryCollector struct {
	status           func() canary.Status
	commit, delivery *prometheus.Desc
}

func newCanaryCollector(status func() canary.Status) *canaryCollector {
	return &canaryCollector{status: status,
		commit:   desc("canary_commit_seconds", "Commit latency of the canary's heartbeat write: what an application commit pays, semi-sync waits included; a write killed at SIDECAR_CANARY_TIMEOUT counts with how long it waited."),
		delivery: desc("canary_delivery_seconds", "From the canary's write to its row event arriving on the sidecar's own binlog stream (one clock)."),
	}
}

func (c *canaryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.commit
	ch <- c.delivery
}

func (c *canaryCollector) Collect(ch chan<- prometheus.Metric) {
	if c.status == nil {
		return
	}
	s := c.status()
	ch <- prometheus.MustNewConstHistogram(c.commit, s.CommitHist.Count, s.CommitHist.Sum, s.CommitHist.BucketMap())
	ch <- prometheus.MustNewConstHistogram(c.delivery, s.DeliveryHist.Count, s.DeliveryHist.Sum, s.DeliveryHist.BucketMap())
}
