package health

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCommitSlow(t *testing.T) {
	waiting := &SemiSync{Available: true, Enabled: true, StatusOn: true, Clients: 1, WaitSessions: 3, Required: 1, TimeoutMS: 10000,
		Prefix: "rpl_semi_sync_master"}
	slow := CanaryView{State: "writing", Threshold: time.Second, SlowIntervals: 2, Slow: true, SlowSince: t0, InFlight: 3 * time.Second}
	for _, tc := range []struct {
		name    string
		canary  *CanaryView
		semi    *SemiSync
		want    []string // transitions of the last poll
		check   string
		summary string // in the commit.slow summary, when it fires
	}{
		{name: "canary off", canary: nil, want: []string{}, check: CheckNotEvaluated},
		{name: "fast", canary: &CanaryView{State: "writing", Threshold: time.Second, LastCommit: time.Millisecond}, want: []string{}, check: CheckOK},
		{name: "one slow interval is not enough", canary: &CanaryView{State: "writing", Threshold: time.Second, SlowIntervals: 1, InFlight: 2 * time.Second},
			want: []string{}, check: CheckOK},
		{name: "slow, semi-sync waits named", canary: &slow, semi: waiting,
			want: []string{"firing commit.slow canary/commit critical"}, check: CheckFiring,
			summary: "3 session(s) wait for a semi-sync acknowledgement"},
		{name: "slow, cause unknown", canary: &slow,
			want: []string{"firing commit.slow canary/commit critical"}, check: CheckFiring, summary: "(now 3s)."},
		{name: "skipped on a read-only server", canary: &CanaryView{State: "skipped", Reason: "read-only: read_only is ON"}, want: []string{}, check: CheckNotEvaluated},
		{name: "no privilege: blind, check.unavailable", canary: &CanaryView{State: "unavailable", Missing: "privilege CREATE on binlog_sidecar.*", Fix: "GRANT ..."},
			want: []string{"firing check.unavailable check/canary warning"}, check: CheckUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := poll{semi: tc.semi}
			in := p.input(0, nil)
			in.Canary = tc.canary
			_, out := testRules.Evaluate(Memory{}, in, in.Observation.At)
			trs, rep := out.Transitions, out.Report
			got := []string{}
			for _, tr := range trs {
				got = append(got, string(tr.State)+" "+tr.Problem.Type+" "+tr.Problem.Subject+" "+string(tr.Problem.Severity))
				if tr.Problem.Type == TypeCommitSlow && !strings.Contains(tr.Problem.Summary, tc.summary) {
					t.Errorf("summary %q lacks %q", tr.Problem.Summary, tc.summary)
				}
				if tr.Problem.Type == TypeCommitSlow && tc.semi != nil && tr.Problem.Evidence["semisync_wait_sessions"] != uint64(3) {
					t.Errorf("evidence semisync_wait_sessions %v", tr.Problem.Evidence["semisync_wait_sessions"])
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("transitions %q, want %q", got, tc.want)
			}
			if c := rep.Checks[TypeCommitSlow]; c.State != tc.check {
				t.Errorf("check %+v, want %s", c, tc.check)
			}
		})
	}
}
