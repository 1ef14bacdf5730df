package audit

import (
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

// The audit's verdict is never ok above an error or a warning.
func TestSummary(t *testing.T) {
	warn := health.Problem{Type: health.TypeCheckUnavailable, Severity: health.SeverityWarning}
	crit := health.Problem{Type: health.TypeDumpThreadZombie, Severity: health.SeverityCritical}
	tests := []struct {
		name     string
		rep      health.Report
		findings []validate.Finding
		want     Summary
	}{
		{"clean", health.Report{Health: health.StatusOK}, nil, Summary{Health: "ok"}},
		{"infos only", health.Report{Health: health.StatusOK}, []validate.Finding{{Severity: validate.SeverityInfo}},
			Summary{Health: "ok", Infos: 1}},
		{"an error finding under healthy rules", health.Report{Health: health.StatusOK}, []validate.Finding{{Severity: validate.SeverityError}},
			Summary{Health: "critical", Errors: 1}},
		{"a warning finding", health.Report{Health: health.StatusOK}, []validate.Finding{{Severity: validate.SeverityWarning}},
			Summary{Health: "degraded", Warnings: 1}},
		{"a blind check", health.Report{Health: health.StatusDegraded, Problems: []health.Problem{warn}}, nil,
			Summary{Health: "degraded", Warnings: 1}},
		{"a critical problem", health.Report{Health: health.StatusCritical, Problems: []health.Problem{crit}}, []validate.Finding{{Severity: validate.SeverityWarning}},
			Summary{Health: "critical", Errors: 1, Warnings: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.rep, tt.findings); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
