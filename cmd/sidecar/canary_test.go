package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// TestRun_commitSlowNamesSemiSyncWaits: with the canary on, a primary whose
// only semi-sync replica is SIGSTOPped while writers commit: commit.slow
// fires on the bus (critical), and its evidence names the sessions waiting
// for a semi-sync acknowledgement, so the event says why commits are slow.
func TestRun_commitSlowNamesSemiSyncWaits(t *testing.T) {
	testdb.Require(t)
	p := testdb.StartPrimary(t, testdb.Options{Name: "slowp", Extra: []string{"--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-master-timeout=100000000"}})
	r := testdb.StartReplica(t, p, testdb.Options{Name: "slowr", Extra: []string{"--rpl-semi-sync-slave-enabled=ON"}})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY)")
	p.Exec(t, "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%'")
	d := startDaemon(t, []string{"SIDECAR_MYSQL_ADDR=" + p.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_PROBE_TIMEOUT=300ms", "SIDECAR_LOG_LEVEL=warn",
		"SIDECAR_CANARY=true", "SIDECAR_CANARY_INTERVAL=200ms", "SIDECAR_CANARY_SLOW=500ms", "SIDECAR_CANARY_TIMEOUT=5s"})
	nc, err := nats.Connect(d.nats)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("mysql.health.test.db-1.commit.slow")
	if err != nil {
		t.Fatal(err)
	}
	type canaryDoc struct {
		State     string                           `json:"state"`
		Writes    uint64                           `json:"writes"`
		CommitMS  *struct{ P50, P99, Max float64 } `json:"commit_ms"`
		Delivery  *struct{ P50, P99, Max float64 } `json:"delivery_ms"`
		InFlight  *float64                         `json:"in_flight_ms"`
		Reason    string                           `json:"reason"`
		SlowCount int                              `json:"slow_intervals"`
		Killed    uint64                           `json:"killed"`
	}
	var st struct {
		Canary   canaryDoc `json:"canary"`
		SemiSync struct {
			StatusOn bool   `json:"status_on"`
			Clients  uint64 `json:"clients"`
		} `json:"semisync"`
	}
	waitFor(t, "canary writing with semi-sync on", 60*time.Second, func() bool {
		getJSON(d.base+"/status", &st)
		return st.Canary.State == "writing" && st.Canary.Writes >= 3 && st.Canary.CommitMS != nil && st.Canary.Delivery != nil &&
			st.SemiSync.StatusOn && st.SemiSync.Clients == 1
	})
	t.Logf("at rest: commit ms %+v, delivery ms %+v after %d writes", *st.Canary.CommitMS, *st.Canary.Delivery, st.Canary.Writes)

	frozen := testdb.FreezeUnderWrites(t, p, r, 2, "INSERT INTO sbtest.t VALUES ()")
	var ev struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Data    struct {
			State, Severity, Summary, Remediation string
			Evidence                              map[string]any `json:"evidence"`
		} `json:"data"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("no commit.slow firing within 60 s of freezing the semi-sync replica: %v", err)
		}
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Data.State == "firing" {
			t.Logf("commit.slow received %v after SIGSTOP of the semi-sync replica:\n%s", time.Since(frozen).Round(time.Millisecond), msg.Data)
			break
		}
	}
	if ev.Data.Severity != "critical" || ev.Subject != "canary/commit" {
		t.Errorf("commit.slow: severity %s, subject %s", ev.Data.Severity, ev.Subject)
	}
	if w, _ := ev.Data.Evidence["semisync_wait_sessions"].(float64); w < 1 || !strings.Contains(ev.Data.Summary, "semi-sync acknowledgement") {
		t.Errorf("commit.slow does not name the semi-sync waits: wait sessions %v, summary %q", ev.Data.Evidence["semisync_wait_sessions"], ev.Data.Summary)
	}
	// The canary's own write waits for the acknowledgement too: once
	// SIDECAR_CANARY_TIMEOUT passes it is killed, and the next one waits
	// in its place (never two at once).
	waitFor(t, "the canary's blocked write killed", 60*time.Second, func() bool {
		getJSON(d.base+"/status", &st)
		return st.Canary.Killed >= 1
	})
	t.Logf("frozen: %d writes, %d killed, %d slow intervals, commit ms %+v", st.Canary.Writes, st.Canary.Killed, st.Canary.SlowCount, *st.Canary.CommitMS)
}

// TestRun_canaryWithoutPrivilege: the sidecar's minimal account may not
// write the canary: /status says which privilege and the fix, the
// commit.slow check is unavailable and check.unavailable fires for it
// (health degraded, never ok while blind), and the rest of the sidecar
// runs (ready, stream connected, transactions counted).
func TestRun_canaryWithoutPrivilege(t *testing.T) {
	testdb.Require(t)
	p := testdb.StartPrimary(t, testdb.Options{Name: "noprivp"})
	d := startDaemon(t, []string{"SIDECAR_MYSQL_ADDR=" + p.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_LOG_LEVEL=warn", "SIDECAR_CANARY=true"})
	var st struct {
		Canary struct{ State, Reason string }            `json:"canary"`
		Checks map[string]struct{ State, Reason string } `json:"checks"`
		Stream struct {
			Connected    bool   `json:"connected"`
			Transactions uint64 `json:"transactions"`
		} `json:"stream"`
		Health   string `json:"health"`
		Problems []struct {
			Type, Subject, Remediation string
		} `json:"problems"`
	}
	waitFor(t, "canary unavailable in /status", 30*time.Second, func() bool {
		getJSON(d.base+"/status", &st)
		return st.Canary.State == "unavailable" && st.Checks["commit.slow"].State == "unavailable" && st.Health == "degraded"
	})
	var fix string
	for _, pr := range st.Problems {
		if pr.Type == "check.unavailable" && pr.Subject == "check/canary" {
			fix = pr.Remediation
		}
	}
	if !strings.Contains(fix, "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%';") {
		t.Errorf("check.unavailable check/canary remediation %q; want the GRANT (problems %+v)", fix, st.Problems)
	}
	if !strings.Contains(st.Canary.Reason, "missing privilege CREATE") || !strings.Contains(st.Canary.Reason, "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.*") {
		t.Errorf("canary reason %q: want the missing privilege and the GRANT", st.Canary.Reason)
	}
	waitFor(t, "the stream connected", 30*time.Second, func() bool {
		getJSON(d.base+"/status", &st)
		return st.Stream.Connected
	})
	before := st.Stream.Transactions
	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO sbtest.t VALUES (1)")
	waitFor(t, "the stream counting the application's transactions", 30*time.Second, func() bool {
		getJSON(d.base+"/status", &st)
		return st.Stream.Transactions > before
	})
	var v any
	if code, _ := getJSON(d.base+"/readyz", &v); code != 200 {
		t.Errorf("/readyz %d with the canary unavailable: %v", code, v)
	}
	t.Logf("without privilege: canary %q; health %s; stream connected %t", st.Canary.Reason, st.Health, st.Stream.Connected)
}
