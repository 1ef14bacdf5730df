package audit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// Markdown renders the audit for a ticket or a wiki page.
func (a Report) Markdown() string {
	w := &mdWriter{}
	w.header(a)
	w.server(a)
	w.binlog(a)
	w.semiSync(a.Health.SemiSync)
	w.replicas(a.Health)
	w.dumpThreads(a.Health)
	w.channels(a.Health)
	w.checks(a.Health.Checks)
	w.findings(a)
	return w.String()
}

// mdWriter writes Markdown tables; cells never break the table.
type mdWriter struct{ strings.Builder }

func (w *mdWriter) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		s := fmt.Sprint(c)
		if s == "" {
			s = "–"
		}
		parts[i] = strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
	}
	w.WriteString("| " + strings.Join(parts, " | ") + " |\n")
}

func (w *mdWriter) header(a Report) {
	fmt.Fprintf(w, "# Replication audit of %s\n\n", a.Addr)
	fmt.Fprintf(w, "%s, sidecar %s. Health: **%s** (%d error(s), %d warning(s) below; the health rules alone: %s). Health rules judged one observation (as two polls, zombie grace 0).\n\n",
		a.At.Format(time.RFC3339), a.Sidecar, a.Summary.Health, a.Summary.Errors, a.Summary.Warnings, a.Health.Health)
}

func (w *mdWriter) server(a Report) {
	r := a.Health
	w.WriteString("## Server\n\n| setting | value |\n|---|---|\n")
	w.row("flavor", r.Server.Flavor)
	w.row("version", r.Server.Version)
	w.row("server_id", r.Server.ServerID)
	w.row("server_uuid", r.Server.ServerUUID)
	w.row("connections", fmt.Sprintf("%d connected, %d running, max %d", r.Connections.ThreadsConnected, r.Connections.ThreadsRunning, r.Connections.MaxConnections))
	for _, k := range slices.Sorted(maps.Keys(a.Variables)) {
		if k != "version" && k != "server_id" && k != "server_uuid" {
			w.row(k, a.Variables[k])
		}
	}
}

func (w *mdWriter) binlog(a Report) {
	w.WriteString("\n## Binlog\n\n| current file | position | GTID | files | total bytes |\n|---|---|---|---|---|\n")
	var total uint64
	for _, f := range a.BinlogFiles {
		total += f.Size
	}
	b := a.Health.Binlog
	w.row(b.File, b.Position, b.GTID, len(a.BinlogFiles), total)
}

func (w *mdWriter) semiSync(s health.SemiSyncInfo) {
	w.WriteString("\n## Semi-sync (source side)\n\n")
	if !s.Available {
		w.WriteString("Not available on this server (no semi-sync plugin loaded).\n")
		return
	}
	w.WriteString("| enabled | status | clients | waiting commits | acks required | timeout ms | wait with no replica | wait point | expected semi-sync replicas |\n|---|---|---|---|---|---|---|---|---|\n")
	w.row(s.Enabled, onOff(s.StatusOn), s.Clients, s.WaitSessions, s.Required, s.TimeoutMS, s.WaitNoReplica, s.WaitPoint, strings.Join(s.ExpectedReplicas, ", "))
}

func (w *mdWriter) replicas(r health.Report) {
	w.WriteString("\n## Replicas\n\nInventory: ")
	if r.Inventory.Configured {
		fmt.Fprintf(w, "%d expected.\n\n", len(r.Inventory.Entries))
	} else {
		w.WriteString("none configured (SIDECAR_EXPECTED_REPLICAS): missing and unknown replicas are not judged.\n\n")
	}
	if len(r.Replicas) == 0 {
		return
	}
	w.WriteString("| address | server_id | status | expected | semi-sync expected | dump threads | handshake |\n|---|---|---|---|---|---|---|\n")
	for _, rp := range r.Replicas {
		hs := ""
		if rp.Probe != nil {
			hs = map[bool]string{true: "answers", false: "no answer: " + rp.Probe.Err}[rp.Probe.OK]
		}
		w.row(rp.Address, rp.ServerID, rp.Status, rp.Expected, rp.SemiSyncExpected, joinIDs(rp.ThreadIDs), hs)
	}
}

func (w *mdWriter) dumpThreads(r health.Report) {
	w.WriteString("\n## Dump threads\n\n")
	if len(r.DumpThreads) == 0 {
		w.WriteString("None.\n")
		return
	}
	w.WriteString("| id | user | host | state | seconds | replica | sidecar's own |\n|---|---|---|---|---|---|---|\n")
	for _, d := range r.DumpThreads {
		w.row(d.ID, d.User, d.Host, d.State, d.Time, d.Replica, d.Sidecar)
	}
}

func (w *mdWriter) channels(r health.Report) {
	if len(r.Channels) == 0 {
		return
	}
	w.WriteString("\n## This server as a replica\n\n| channel | source | IO | SQL | seconds behind | last IO error |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Channels {
		w.row(c.Name, c.SourceAddr(), c.IORunning, c.SQLRunning, c.SecondsBehind, c.LastIOError)
	}
}

func (w *mdWriter) checks(checks map[string]health.Check) {
	var unavailable []string
	for _, k := range slices.Sorted(maps.Keys(checks)) {
		if c := checks[k]; c.State != health.CheckOK && c.State != health.CheckFiring {
			unavailable = append(unavailable, fmt.Sprintf("- %s: %s (%s)\n", k, c.State, c.Reason))
		}
	}
	if len(unavailable) > 0 {
		w.WriteString("\n## Checks not evaluated or unavailable\n\n" + strings.Join(unavailable, ""))
	}
}

func (w *mdWriter) findings(a Report) {
	w.WriteString("\n## Findings\n\n")
	if len(a.Findings)+len(a.Health.Problems) == 0 {
		w.WriteString("None.\n")
	} else {
		w.WriteString("| severity | check | about | finding | fix |\n|---|---|---|---|---|\n")
		for _, p := range a.Health.Problems {
			w.row(p.Severity, p.Type, p.Subject, p.Summary, p.Remediation)
		}
		for _, f := range a.Findings {
			w.row(f.Severity, f.ID, f.File, f.Message, f.Fix)
		}
	}
	fmt.Fprintf(w, "\n**%d error(s), %d warning(s), %d info.**\n", a.Summary.Errors, a.Summary.Warnings, a.Summary.Infos)
}

func onOff(b bool) string { return map[bool]string{true: "ON", false: "OFF"}[b] }

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
