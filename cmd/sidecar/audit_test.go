package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/health/audit"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// TestAuditCommand audits a real MariaDB primary with a GTID replica: first
// as configured (clean), then with a semi-sync timeout that never falls back
// and an expected replica that does not exist.
func TestAuditCommand(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	r := testdb.StartReplica(t, p, testdb.Options{Extra: []string{"--report-host=127.0.0.1", "--report-port=0"}})
	replica := fmt.Sprintf("127.0.0.1:%d", r.Port)
	env := func(replicas string) []string {
		return []string{"SIDECAR_MYSQL_ADDR=" + p.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
			"SIDECAR_MYSQL_TLS=disabled", "SIDECAR_INSTANCE=audit-test", "SIDECAR_EXPECTED_REPLICAS=" + replicas}
	}

	t.Run("clean", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := auditCommand(context.Background(), nil, env(replica), &out, &errOut)
		md := out.String()
		for _, want := range []string{
			"# Replication audit of " + p.Addr,
			fmt.Sprintf("| server_id | %d |", p.ServerID),
			"| binlog_format | ROW |",
			"| " + replica + " | " + fmt.Sprint(r.ServerID) + " | connected | true |",
			"Master has sent all binlog to slave",
			"**0 error(s)",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("audit lacks %q", want)
			}
		}
		if code != 0 {
			t.Errorf("exit %d, want 0\n%s%s", code, md, errOut.String())
		}
		if t.Failed() {
			t.Logf("audit:\n%s%s", md, errOut.String())
		}
	})

	t.Run("findings", func(t *testing.T) {
		p.Exec(t, "SET GLOBAL rpl_semi_sync_master_timeout = 1000000000000")
		t.Cleanup(func() { p.Exec(t, "SET GLOBAL rpl_semi_sync_master_timeout = 10000") })
		var out, errOut bytes.Buffer
		code := auditCommand(context.Background(), []string{"--format", "json"}, env(replica+",127.0.0.1:1 semisync"), &out, &errOut)
		var a struct { // health.Status has no UnmarshalJSON: decode what the test reads
			Findings []struct{ ID, Severity string }
			Health   struct {
				Problems []struct{ Type, Severity, Subject string }
			}
			Summary audit.Summary
		}
		if err := json.Unmarshal(out.Bytes(), &a); err != nil {
			t.Fatalf("not JSON (%v): %s%s", err, out.String(), errOut.String())
		}
		var got []string
		for _, f := range a.Findings {
			got = append(got, f.ID+" "+f.Severity)
		}
		for _, pr := range a.Health.Problems {
			got = append(got, pr.Type+" "+pr.Severity+" "+pr.Subject)
		}
		for _, want := range []string{"V7 error", "replica.missing warning replica/127.0.0.1:1"} {
			if !contains(got, want) {
				t.Errorf("findings %v lack %q", got, want)
			}
		}
		if code != 1 || a.Summary.Errors == 0 {
			t.Errorf("exit %d with %d errors, want 1 and some\n%s", code, a.Summary.Errors, errOut.String())
		}
	})

	t.Run("blind and error findings", func(t *testing.T) {
		p.Exec(t, "SET sql_log_bin=0")
		p.Exec(t, "CREATE USER auditnoproc@'%' IDENTIFIED BY 'x'")
		p.Exec(t, "GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR ON *.* TO auditnoproc@'%'")
		p.Exec(t, "SET sql_log_bin=1")
		var out, errOut bytes.Buffer
		environ := []string{"SIDECAR_MYSQL_ADDR=" + p.Addr, "SIDECAR_MYSQL_USER=auditnoproc", "SIDECAR_MYSQL_PASSWORD=x",
			"SIDECAR_MYSQL_TLS=disabled", "SIDECAR_INSTANCE=audit-test", "SIDECAR_SERVER_ID=" + fmt.Sprint(p.ServerID)}
		code := auditCommand(context.Background(), nil, environ, &out, &errOut)
		md := out.String()
		for _, want := range []string{"Health: **critical**", "| warning | check.unavailable | check/dump_threads |",
			"GRANT PROCESS ON *.* TO 'auditnoproc'@'%';", "- dump_threads: unavailable"} {
			if !strings.Contains(md, want) {
				t.Errorf("audit lacks %q", want)
			}
		}
		if strings.Contains(md, "Health: **ok**") || code != 1 {
			t.Errorf("exit %d, want 1 and no ok header above the error finding (the sidecar's server_id is the server's)", code)
		}
		if t.Failed() {
			t.Logf("audit:\n%s%s", md, errOut.String())
		}
	})

	t.Run("cannot run", func(t *testing.T) {
		tests := []struct {
			name    string
			args    []string
			environ []string
			want    string
		}{
			{name: "unreachable", environ: []string{"SIDECAR_MYSQL_ADDR=127.0.0.1:1", "SIDECAR_INSTANCE=x"}, want: "connect 127.0.0.1:1"},
			{name: "bad flag", args: []string{"--format", "html"}, want: "usage: sidecar audit"},
			{name: "bad address", environ: []string{"SIDECAR_MYSQL_ADDR=nohostport", "SIDECAR_INSTANCE=x"}, want: "SIDECAR_MYSQL_ADDR"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var out, errOut bytes.Buffer
				if code := auditCommand(context.Background(), tt.args, tt.environ, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.want) {
					t.Errorf("exit %d, want 2 with %q: %s", code, tt.want, errOut.String())
				}
			})
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAudit_sameFindingsAsRun: the daemon and `sidecar audit`, configured
// alike against the same real primary, report the same problems and check
// states (the stream's own checks aside: an audit runs no stream). The
// inventory names the real replica, one that is not there, and one whose
// host name does not resolve, which the daemon's poll resolves through its
// DNS cache and does not dial.
func TestAudit_sameFindingsAsRun(t *testing.T) {
	testdb.Require(t)
	p := testdb.StartPrimary(t, testdb.Options{Name: "samep"})
	r := testdb.StartReplica(t, p, testdb.Options{Name: "samer", Extra: []string{"--report-host=127.0.0.1", "--report-port=0"}})
	replicas := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:1 semisync,nosuch.invalid:3306", r.Port)
	env := []string{"SIDECAR_MYSQL_ADDR=" + p.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_MYSQL_TLS=disabled", "SIDECAR_EXPECTED_REPLICAS=" + replicas, "SIDECAR_ZOMBIE_GRACE=0s",
		"SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_PROBE_TIMEOUT=500ms", "SIDECAR_LOG_LEVEL=warn"}

	d := startDaemon(t, env)
	type judged struct {
		Problems []struct{ Type, Subject, Severity string } `json:"problems"`
		Checks   map[string]struct{ State string }          `json:"checks"`
	}
	var daemon judged
	waitFor(t, "the daemon's replica.missing for 127.0.0.1:1", 30*time.Second, func() bool {
		daemon = judged{}
		if code, err := getJSON(d.base+"/status", &daemon); code != 200 || err != nil {
			return false
		}
		for _, pr := range daemon.Problems {
			if pr.Type == health.TypeReplicaMissing && pr.Subject == "replica/127.0.0.1:1" {
				return true
			}
		}
		return false
	})

	var out, errOut bytes.Buffer
	if code := auditCommand(context.Background(), []string{"--format", "json"}, append(env, "SIDECAR_INSTANCE=db-1", "SIDECAR_CLUSTER=test"), &out, &errOut); code == exitCannotRun {
		t.Fatalf("audit could not run: %s", errOut.String())
	}
	var a struct{ Health judged }
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, out.String())
	}
	if code, err := getJSON(d.base+"/status", &daemon); code != 200 || err != nil {
		t.Fatalf("/status: %d %v", code, err)
	}

	flatten := func(j judged) (problems, checks []string) {
		for _, pr := range j.Problems {
			if !strings.HasPrefix(pr.Type, "stream.") {
				problems = append(problems, pr.Type+" "+pr.Subject+" "+pr.Severity)
			}
		}
		for k, c := range j.Checks {
			if !strings.HasPrefix(k, "stream") {
				checks = append(checks, k+"="+c.State)
			}
		}
		slices.Sort(problems)
		slices.Sort(checks)
		return problems, checks
	}
	runProblems, runChecks := flatten(daemon)
	auditProblems, auditChecks := flatten(a.Health)
	if !slices.Equal(runProblems, auditProblems) {
		t.Errorf("problems differ:\nrun:   %v\naudit: %v", runProblems, auditProblems)
	}
	if !slices.Equal(runChecks, auditChecks) {
		t.Errorf("checks differ:\nrun:   %v\naudit: %v", runChecks, auditChecks)
	}
	t.Logf("run and audit agree on %d problems: %v", len(runProblems), runProblems)
}
