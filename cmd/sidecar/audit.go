package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/health/probe"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

const auditUsage = `usage: sidecar audit [--format markdown|json]

Connects as SIDECAR_MYSQL_* and prints the server's identity, binlog and
semi-sync settings, replicas (seen and expected) and dump threads, with the
validator's findings on the live values and the health rules' problems.
Exit 0: no error; 1: error findings or critical problems; 2: could not run.
`

// auditVariables are the settings the audit prints (absent ones are skipped).
var auditVariables = []string{"version", "version_comment", "server_id", "server_uuid", "report_host", "report_port",
	"read_only", "log_bin", "log_bin_basename", "binlog_format", "binlog_row_image", "gtid_mode", "enforce_gtid_consistency",
	"gtid_strict_mode", "gtid_binlog_pos", "log_slave_updates", "log_replica_updates", "sync_binlog", "binlog_expire_logs_seconds",
	"expire_logs_days", "max_binlog_size", "slave_net_timeout", "replica_net_timeout"}

// Audit is the JSON form of `sidecar audit`.
type Audit struct {
	At        time.Time         `json:"at"`
	Addr      string            `json:"addr"`
	Sidecar   string            `json:"sidecar_version"`
	Variables map[string]string `json:"variables"`
	// BinlogFiles is SHOW BINARY LOGS (the health report keeps only the end).
	BinlogFiles []health.BinlogFile `json:"binlog_files"`
	Health      health.Report       `json:"health"`
	Findings    []validate.Finding  `json:"findings"`
	Summary     AuditSummary        `json:"summary"`
}

// AuditSummary counts what the audit found.
type AuditSummary struct {
	// Health is the verdict of everything the audit found: the health
	// rules' status, raised to critical by any error finding and to
	// degraded by any warning, so it never reads ok above an error.
	Health   string `json:"health"`
	Errors   int    `json:"errors"` // validator errors plus critical problems
	Warnings int    `json:"warnings"`
	Infos    int    `json:"infos"`
}

// auditCommand implements `sidecar audit`.
func auditCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "markdown", "markdown or json")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*format != "markdown" && *format != "json") {
		fmt.Fprintf(stderr, "sidecar audit: bad arguments %q\n%s", args, auditUsage)
		return exitCannotRun
	}
	a, err := runAudit(ctx, environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar audit: %v\n", err)
		return exitCannotRun
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(a)
	} else {
		_, err = io.WriteString(stdout, a.Markdown())
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar audit: write report: %v\n", err)
		return exitCannotRun
	}
	if a.Summary.Errors > 0 {
		return exitFindings
	}
	return exitClean
}

// runAudit observes the server once and judges it. The health rules see
// that one observation twice, a poll interval apart, so conditions that
// need two consecutive polls (replica.missing) show, and a replica that
// does not answer its handshake counts as a zombie at once (grace 0): an
// audit reports what is true now rather than waiting for it to last.
func runAudit(ctx context.Context, environ []string) (Audit, error) {
	cfg, err := loadConfig(environ)
	var cerr *ConfigError
	if err != nil && (!errors.As(err, &cerr) || hasProblem(cerr, envPrefix+"MYSQL_")) {
		return Audit{}, err
	}
	vars, err := readGlobalVariables(ctx, cfg)
	if err != nil {
		return Audit{}, err
	}
	tlsCfg, _ := cfg.MySQLTLS() // readGlobalVariables has checked it
	p := probe.New(probe.Config{Addr: cfg.MySQL.Addr, User: cfg.MySQL.User, Password: cfg.MySQL.Password,
		Flavor: cfg.MySQL.Flavor, TLS: tlsCfg, TLSPreferred: cfg.MySQL.TLSMode == "preferred"}, zerolog.Nop())
	defer p.Close()
	obs := p.Observe(ctx)
	if r := obs.Read(health.ReadVariables); !r.OK() {
		return Audit{}, fmt.Errorf("observe %s: %s%s", cfg.MySQL.Addr, r.Err, r.MissingPrivilege)
	}

	in := health.Input{Observation: obs, Inventory: cfg.Inventory, InventoryConfigured: cfg.InventoryConfigured}
	in.Resolved = resolveHosts(ctx, health.Hosts(in.Inventory, obs.Replicas, obs.DumpThreads, cfg.ServerID, binlog.RegisterHost), cfg.ProbeTimeout)
	rules := health.Rules{SelfServerID: cfg.ServerID, SelfRegisterHost: binlog.RegisterHost, ZombieGrace: 0}
	in.Probes = handshakeAll(ctx, p, rules.ProbeTargets(in), cfg.ProbeTimeout)
	mem, _, _ := rules.Evaluate(health.Memory{}, in, obs.At)
	_, _, rep := rules.Evaluate(mem, in, obs.At.Add(cfg.PollInterval))

	vin := validate.Input{
		Servers:   []validate.Server{validate.LiveServer("live "+cfg.MySQL.Addr, cfg.MySQL.Addr, vars)},
		Inventory: cfg.Inventory, HasInventory: cfg.InventoryConfigured, InventoryFile: cfg.ExpectedReplicasFile,
		Sidecar: &validate.Sidecar{ServerID: cfg.ServerID, ServerIDFrom: "the sidecar's configuration", Flavor: cfg.MySQL.Flavor},
	}
	if vin.InventoryFile == "" {
		vin.InventoryFile = envPrefix + "EXPECTED_REPLICAS"
	}
	if cerr != nil {
		vin.Sidecar.Problems = cerr.Problems
	}
	a := Audit{At: obs.At.UTC(), Addr: cfg.MySQL.Addr, Sidecar: version, Variables: map[string]string{},
		BinlogFiles: obs.BinlogFiles, Health: rep, Findings: validate.Check(vin)}
	for _, k := range auditVariables {
		if v, ok := vars[k]; ok {
			a.Variables[k] = v
		}
	}
	a.Summary = summarize(rep, a.Findings)
	return a, nil
}

// summarize counts the validator's findings and the rules' problems
// (critical ones as errors) and gives the verdict over both.
func summarize(rep health.Report, findings []validate.Finding) AuditSummary {
	sum := validate.Summarize(findings, nil)
	s := AuditSummary{Errors: sum.Errors, Warnings: sum.Warnings, Infos: sum.Infos}
	for _, pr := range rep.Problems {
		switch pr.Severity {
		case health.SeverityCritical:
			s.Errors++
		case health.SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	verdict := rep.Health
	switch {
	case s.Errors > 0:
		verdict = max(verdict, health.StatusCritical)
	case s.Warnings > 0:
		verdict = max(verdict, health.StatusDegraded)
	}
	s.Health = verdict.String()
	return s
}

// resolveHosts looks the inventory's and registrations' names up, each
// within timeout; a name that does not resolve is left out, as in the daemon.
func resolveHosts(ctx context.Context, hosts []string, timeout time.Duration) map[string][]string {
	out := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if ips, err := net.DefaultResolver.LookupHost(lctx, h); err == nil {
				mu.Lock()
				out[h] = ips
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func handshakeAll(ctx context.Context, p *probe.Probe, targets []string, timeout time.Duration) map[string]health.ProbeResult {
	out := map[string]health.ProbeResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range targets {
		wg.Go(func() {
			res := p.Handshake(ctx, addr, timeout)
			mu.Lock()
			out[addr] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Markdown renders the audit for a ticket or a wiki page.
func (a Audit) Markdown() string {
	var b strings.Builder
	r := a.Health
	cell := func(s string) string {
		if s == "" {
			return "–"
		}
		return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
	}
	row := func(cells ...any) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = cell(fmt.Sprint(c))
		}
		b.WriteString("| " + strings.Join(parts, " | ") + " |\n")
	}
	fmt.Fprintf(&b, "# Replication audit of %s\n\n", a.Addr)
	fmt.Fprintf(&b, "%s, sidecar %s. Health: **%s** (%d error(s), %d warning(s) below; the health rules alone: %s). Health rules judged one observation (as two polls, zombie grace 0).\n\n",
		a.At.Format(time.RFC3339), a.Sidecar, a.Summary.Health, a.Summary.Errors, a.Summary.Warnings, r.Health)

	b.WriteString("## Server\n\n| setting | value |\n|---|---|\n")
	row("flavor", r.Server.Flavor)
	row("version", r.Server.Version)
	row("server_id", r.Server.ServerID)
	row("server_uuid", r.Server.ServerUUID)
	row("connections", fmt.Sprintf("%d connected, %d running, max %d", r.Connections.ThreadsConnected, r.Connections.ThreadsRunning, r.Connections.MaxConnections))
	keys := make([]string, 0, len(a.Variables))
	for k := range a.Variables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "version" && k != "server_id" && k != "server_uuid" {
			row(k, a.Variables[k])
		}
	}

	b.WriteString("\n## Binlog\n\n| current file | position | GTID | files | total bytes |\n|---|---|---|---|---|\n")
	var total uint64
	for _, f := range a.BinlogFiles {
		total += f.Size
	}
	row(r.Binlog.File, r.Binlog.Position, r.Binlog.GTID, len(a.BinlogFiles), total)

	s := r.SemiSync
	b.WriteString("\n## Semi-sync (source side)\n\n")
	if !s.Available {
		b.WriteString("Not available on this server (no semi-sync plugin loaded).\n")
	} else {
		b.WriteString("| enabled | status | clients | waiting commits | acks required | timeout ms | wait with no replica | wait point | expected semi-sync replicas |\n|---|---|---|---|---|---|---|---|---|\n")
		row(s.Enabled, onOff(s.StatusOn), s.Clients, s.WaitSessions, s.Required, s.TimeoutMS, s.WaitNoReplica, s.WaitPoint, strings.Join(s.ExpectedReplicas, ", "))
	}

	fmt.Fprintf(&b, "\n## Replicas\n\nInventory: ")
	if r.Inventory.Configured {
		fmt.Fprintf(&b, "%d expected.\n\n", len(r.Inventory.Entries))
	} else {
		b.WriteString("none configured (SIDECAR_EXPECTED_REPLICAS): missing and unknown replicas are not judged.\n\n")
	}
	if len(r.Replicas) > 0 {
		b.WriteString("| address | server_id | status | expected | semi-sync expected | dump threads | handshake |\n|---|---|---|---|---|---|---|\n")
		for _, rp := range r.Replicas {
			hs := ""
			if rp.Probe != nil {
				hs = map[bool]string{true: "answers", false: "no answer: " + rp.Probe.Err}[rp.Probe.OK]
			}
			row(rp.Address, rp.ServerID, rp.Status, rp.Expected, rp.SemiSyncExpected, joinIDs(rp.ThreadIDs), hs)
		}
	}

	b.WriteString("\n## Dump threads\n\n")
	if len(r.DumpThreads) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| id | user | host | state | seconds | replica | sidecar's own |\n|---|---|---|---|---|---|---|\n")
		for _, d := range r.DumpThreads {
			row(d.ID, d.User, d.Host, d.State, d.Time, d.Replica, d.Sidecar)
		}
	}
	if len(r.Channels) > 0 {
		b.WriteString("\n## This server as a replica\n\n| channel | source | IO | SQL | seconds behind | last IO error |\n|---|---|---|---|---|---|\n")
		for _, c := range r.Channels {
			row(c.Name, c.SourceAddr(), c.IORunning, c.SQLRunning, c.SecondsBehind, c.LastIOError)
		}
	}

	var unavailable []string
	for _, k := range sortedCheckKeys(r.Checks) {
		if c := r.Checks[k]; c.State != health.CheckOK && c.State != health.CheckFiring {
			unavailable = append(unavailable, fmt.Sprintf("- %s: %s (%s)\n", k, c.State, c.Reason))
		}
	}
	if len(unavailable) > 0 {
		b.WriteString("\n## Checks not evaluated or unavailable\n\n" + strings.Join(unavailable, ""))
	}

	b.WriteString("\n## Findings\n\n")
	if len(a.Findings)+len(r.Problems) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| severity | check | about | finding | fix |\n|---|---|---|---|---|\n")
		for _, p := range r.Problems {
			row(p.Severity, p.Type, p.Subject, p.Summary, p.Remediation)
		}
		for _, f := range a.Findings {
			row(f.Severity, f.ID, f.File, f.Message, f.Fix)
		}
	}
	fmt.Fprintf(&b, "\n**%d error(s), %d warning(s), %d info.**\n", a.Summary.Errors, a.Summary.Warnings, a.Summary.Infos)
	return b.String()
}

func onOff(b bool) string { return map[bool]string{true: "ON", false: "OFF"}[b] }

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

func sortedCheckKeys(m map[string]health.Check) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
