package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// TestRun_checkUnavailable runs the daemon as a user without PROCESS
// against a primary with a real replica: the zombie check cannot see the
// replica's dump thread, so check.unavailable fires on the bus naming the
// GRANT, health is degraded, /readyz gives the reason and /metrics the
// check's state; after the GRANT it resolves.
func TestRun_checkUnavailable(t *testing.T) {
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{Name: "blindp"})
	testdb.StartReplica(t, primary, testdb.Options{Name: "blindr", Extra: []string{"--report-host=127.0.0.1"}})
	primary.Exec(t, "SET sql_log_bin=0")
	primary.Exec(t, "CREATE USER noproc@'%' IDENTIFIED BY 'x'")
	primary.Exec(t, "GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR ON *.* TO noproc@'%'")
	primary.Exec(t, "SET sql_log_bin=1")

	d := startDaemon(t, []string{"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=noproc", "SIDECAR_MYSQL_PASSWORD=x",
		"SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_PROBE_TIMEOUT=300ms", "SIDECAR_LOG_LEVEL=warn"})
	base := d.base
	nc, err := nats.Connect(d.nats)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	// From the stream's start: the problem may have fired before this
	// subscription existed.
	var sub *nats.Subscription
	waitFor(t, "the JetStream stream", 20*time.Second, func() bool {
		sub, err = js.SubscribeSync("mysql.health.test.db-1.check.unavailable", nats.DeliverAll())
		return err == nil
	})

	type event struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Data    struct {
			State, Severity, Summary, Remediation string
			ProblemID                             string         `json:"problem_id"`
			Evidence                              map[string]any `json:"evidence"`
		} `json:"data"`
	}
	next := func(state string) (event, string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			msg, err := sub.NextMsg(time.Until(deadline))
			if err != nil {
				break
			}
			var ev event
			if err := json.Unmarshal(msg.Data, &ev); err != nil {
				t.Fatalf("event %s: %v", msg.Data, err)
			}
			if ev.Subject == "check/dump_threads" && ev.Data.State == state {
				return ev, string(msg.Data)
			}
		}
		t.Fatalf("no %s check.unavailable event for check/dump_threads within 30 s", state)
		return event{}, ""
	}

	fired, raw := next("firing")
	t.Logf("event as a consumer receives it:\n%s", raw)
	if want := "GRANT PROCESS ON *.* TO 'noproc'@'%';"; fired.Data.Remediation != want || fired.Data.Severity != "warning" ||
		!strings.Contains(fired.Data.Summary, "dump_thread.zombie") || fired.Data.Evidence["missing"] != "privilege PROCESS" {
		t.Errorf("check.unavailable: %+v; want warning, naming dump_thread.zombie and PROCESS, fix %q", fired.Data, want)
	}

	var st struct {
		Health   string `json:"health"`
		Problems []struct {
			Type, Subject, Remediation string
		} `json:"problems"`
		Checks map[string]struct{ State, Reason string } `json:"checks"`
	}
	getJSON(base+"/status", &st)
	if st.Health == "ok" || st.Checks["dump_threads"].State != "unavailable" || st.Checks["dump_thread.zombie"].State != "unavailable" {
		t.Errorf("/status: health %s, checks %v; want not ok, dump_threads and dump_thread.zombie unavailable", st.Health, st.Checks)
	}
	statusJSON, _ := json.MarshalIndent(map[string]any{"health": st.Health, "problems": st.Problems,
		"checks.dump_threads": st.Checks["dump_threads"], "checks.dump_thread.zombie": st.Checks["dump_thread.zombie"]}, "", "  ")
	t.Logf("/status excerpt:\n%s", statusJSON)

	var rz struct{ Reasons []string }
	getJSON(base+"/readyz", &rz)
	if !strings.Contains(strings.Join(rz.Reasons, "\n"), "GRANT PROCESS ON *.* TO 'noproc'@'%';") {
		t.Errorf("/readyz reasons %q, want the check.unavailable fix", rz.Reasons)
	}

	metrics := scrape(t, base)
	for _, want := range []string{`binlog_sidecar_check_state{check="dump_threads",state="unavailable"} 1`,
		`binlog_sidecar_check_state{check="dump_thread.zombie",state="unavailable"} 1`,
		`binlog_sidecar_problem_active{type="check.unavailable"} 1`, `binlog_sidecar_health_status 1`, `binlog_sidecar_mysql_up 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	t.Logf("/metrics excerpt:\n%s", grepLines(metrics, `check="dump_threads"`, `check="dump_thread.zombie"`,
		"problem_active{type=\"check.unavailable\"}", "health_status ", "mysql_up ", `poll_errors_total{read="dump_threads"}`))

	primary.Exec(t, "GRANT PROCESS ON *.* TO noproc@'%'")
	resolved, raw := next("resolved")
	t.Logf("after GRANT PROCESS:\n%s", raw)
	if resolved.Data.ProblemID != fired.Data.ProblemID {
		t.Errorf("resolved problem_id %s, want the firing one's %s", resolved.Data.ProblemID, fired.Data.ProblemID)
	}
	waitFor(t, "dump_threads ok in /metrics", 20*time.Second, func() bool {
		return strings.Contains(scrape(t, base), `binlog_sidecar_check_state{check="dump_threads",state="ok"} 1`)
	})
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grepLines returns the lines of s that contain any of the needles.
func grepLines(s string, needles ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, n := range needles {
			if strings.Contains(line, n) && !strings.HasPrefix(line, "#") {
				out = append(out, line)
				break
			}
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
