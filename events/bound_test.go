package events_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// Every event is bounded by construction, far below NATS's default 1 MiB
// max_payload: 10,000 expected replicas that do not exist made
// health.changed 2.8 MB, which no server took, and the sender retried it
// forever.
func TestBuilder_EventsBounded(t *testing.T) {
	sch := compileSchemaV1(t)
	b := events.NewBuilder("prod", "db-1")
	now := time.Now()
	var problems []health.Problem
	for i := range 10000 {
		problems = append(problems, health.Problem{Type: events.TypeReplicaMissing, ID: fmt.Sprintf("replica.missing/r%05d.invalid:3306", i),
			Subject: fmt.Sprintf("replica/r%05d.invalid:3306", i), Severity: health.SeverityWarning})
	}
	problems = append(problems, health.Problem{Type: events.TypeDumpThreadZombie, ID: "z", Subject: "thread/7", Severity: health.SeverityCritical})
	huge := map[string]any{
		"sql":      "SHOW PROCESSLIST",
		"big_text": strings.Repeat("x", 1<<20),
		"hosts":    make([]string, 10000),
		"poll":     now.UTC().Format(time.RFC3339),
	}
	for i := range 40 { // 40 values of 2 KiB: past the 32 KiB of the whole
		huge[fmt.Sprintf("k%02d", i)] = strings.Repeat("y", 2000)
	}
	long := strings.Repeat("z", 100000)
	tests := []struct {
		name  string
		event events.Event
		check func(t *testing.T, data map[string]any)
	}{
		{"health.changed with 10,001 problems", b.HealthChanged(health.StatusOK, health.StatusCritical, problems), func(t *testing.T, d map[string]any) {
			refs := d["problems"].([]any)
			if len(refs) != events.MaxProblemRefs || d["problems_total"] != 10001.0 || d["truncated"] != true {
				t.Errorf("%d problems listed, total %v, truncated %v; want %d, 10001, true", len(refs), d["problems_total"], d["truncated"], events.MaxProblemRefs)
			}
			if first := refs[0].(map[string]any); first["type"] != events.TypeDumpThreadZombie {
				t.Errorf("first problem listed %v, want the critical one first", first)
			}
			if s := d["summary"].(string); !strings.Contains(s, "replica.missing (10000)") {
				t.Errorf("summary %q, want the count of each type", s)
			}
		}},
		{"problem with huge evidence", b.FromTransition(health.Transition{State: health.StateFiring, At: now, Problem: health.Problem{
			Type: events.TypeReplicaMissing, ID: "x", Subject: "replica/x:3306", Severity: health.SeverityWarning, Since: now,
			Summary: long, Remediation: long, Evidence: huge,
		}}), func(t *testing.T, d map[string]any) {
			ev := d["evidence"].(map[string]any)
			cut := fmt.Sprint(ev["truncated"])
			if ev["sql"] != "SHOW PROCESSLIST" || !strings.Contains(cut, "big_text") || !strings.Contains(cut, "hosts") || !strings.Contains(cut, "k39") {
				t.Errorf("evidence truncated %s, sql %v; want big_text, hosts and the last k listed, small values kept", cut, ev["sql"])
			}
			if len(d["summary"].(string)) > 2048 || len(d["remediation"].(string)) > 2048 {
				t.Errorf("summary or remediation not cut")
			}
		}},
		{"info with huge details", b.Info(events.TypeDumpThreadKilled, "thread/1", health.SeverityInfo, long, huge), func(t *testing.T, d map[string]any) {
			if !strings.Contains(fmt.Sprint(d["details"].(map[string]any)["truncated"]), "big_text") {
				t.Errorf("details not truncated")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := events.Encode(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) > events.MaxEventBytes || len(raw) > 128<<10 {
				t.Errorf("%d bytes, want at most %d (and well under 1 MiB)", len(raw), events.MaxEventBytes)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(instance(t, raw)); err != nil {
				t.Error(err)
			}
			tt.check(t, doc["data"].(map[string]any))
			t.Logf("%d bytes", len(raw))
		})
	}
}
