// Package audit is the one-shot form of the health monitor's judgement
// (`sidecar audit`): one assessment of the server (health.Monitor.Assess),
// the validator's findings on its live variables, their summary, and the
// Markdown a ticket or a wiki page takes. It renders; it reads nothing.
package audit

import (
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

// Variables are the settings an audit prints (absent ones are skipped).
var Variables = []string{"version", "version_comment", "server_id", "server_uuid", "report_host", "report_port",
	"read_only", "log_bin", "log_bin_basename", "binlog_format", "binlog_row_image", "gtid_mode", "enforce_gtid_consistency",
	"gtid_strict_mode", "gtid_binlog_pos", "log_slave_updates", "log_replica_updates", "sync_binlog", "binlog_expire_logs_seconds",
	"expire_logs_days", "max_binlog_size", "slave_net_timeout", "replica_net_timeout"}

// Report is an audit: the JSON form of `sidecar audit`.
type Report struct {
	At        time.Time         `json:"at"`
	Addr      string            `json:"addr"`
	Sidecar   string            `json:"sidecar_version"`
	Variables map[string]string `json:"variables"`
	// BinlogFiles is SHOW BINARY LOGS (the health report keeps only the end).
	BinlogFiles []health.BinlogFile `json:"binlog_files"`
	Health      health.Report       `json:"health"`
	Findings    []validate.Finding  `json:"findings"`
	Summary     Summary             `json:"summary"`
}

// Summary counts what the audit found.
type Summary struct {
	// Health is the verdict of everything the audit found: the health
	// rules' status, raised to critical by any error finding and to
	// degraded by any warning, so it never reads ok above an error.
	Health   string `json:"health"`
	Errors   int    `json:"errors"` // validator errors plus critical problems
	Warnings int    `json:"warnings"`
	Infos    int    `json:"infos"`
}

// New assembles an audit from one assessment (obs, rep), the server's
// global variables and the validator's findings on them.
func New(addr, sidecarVersion string, obs health.Observation, rep health.Report, vars map[string]string, findings []validate.Finding) Report {
	r := Report{At: obs.At.UTC(), Addr: addr, Sidecar: sidecarVersion, Variables: map[string]string{},
		BinlogFiles: obs.BinlogFiles, Health: rep, Findings: findings}
	for _, k := range Variables {
		if v, ok := vars[k]; ok {
			r.Variables[k] = v
		}
	}
	r.Summary = Summarize(rep, findings)
	return r
}

// Summarize counts the validator's findings and the rules' problems
// (critical ones as errors) and gives the verdict over both.
func Summarize(rep health.Report, findings []validate.Finding) Summary {
	sum := validate.Summarize(findings, nil)
	s := Summary{Errors: sum.Errors, Warnings: sum.Warnings, Infos: sum.Infos}
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
