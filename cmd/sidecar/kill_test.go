package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// daemon is a sidecar run by a test, with the embedded bus.
type daemon struct {
	base string // http://addr
	nats string // nats://addr
}

// startDaemon runs the daemon with env (test cluster "test", instance
// "db-1", free HTTP and NATS ports, a temp data dir added) until the test
// ends, and waits until /readyz answers 200.
func startDaemon(t *testing.T, env []string) *daemon {
	t.Helper()
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	env = append([]string{"SIDECAR_INSTANCE=db-1", "SIDECAR_CLUSTER=test", "SIDECAR_HTTP_ADDR=" + httpAddr,
		"SIDECAR_NATS_EMBEDDED_ADDR=" + natsAddr, "SIDECAR_DATA_DIR=" + t.TempDir()}, env...)
	d := &daemon{base: "http://" + httpAddr, nats: "nats://" + natsAddr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("run did not return within 30 s of cancel")
		}
	})
	waitFor(t, "/readyz 200", 30*time.Second, func() bool {
		var v any
		code, _ := getJSON(d.base+"/readyz", &v)
		return code == 200
	})
	return d
}

// busEvent is the part of an event these tests read.
type busEvent struct {
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Data    struct {
		State     string         `json:"state"`
		ProblemID string         `json:"problem_id"`
		Details   map[string]any `json:"details"`
	} `json:"data"`
}

// TestRun_killZombieNamesReplicaAndProblem: with SIDECAR_KILL_ZOMBIES=true
// and a frozen replica, the daemon kills the zombie dump thread and the
// dump_thread.killed event a consumer reads names the replica's address
// and the problem_id of the dump_thread.zombie problem it acted on.
func TestRun_killZombieNamesReplicaAndProblem(t *testing.T) {
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{Name: "killp"})
	replica := testdb.StartReplica(t, primary, testdb.Options{Name: "killr"})
	replicaAddr := fmt.Sprintf("127.0.0.1:%d", replica.Port)
	// bench may KILL other accounts' threads (CONNECTION ADMIN).
	d := startDaemon(t, []string{"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=bench", "SIDECAR_MYSQL_PASSWORD=bench",
		"SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_PROBE_TIMEOUT=300ms",
		"SIDECAR_ZOMBIE_GRACE=1s", "SIDECAR_KILL_ZOMBIES=true", "SIDECAR_EXPECTED_REPLICAS=" + replicaAddr})
	nc, err := nats.Connect(d.nats)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("mysql.health.test.db-1.dump_thread.>")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica connected in /status", 30*time.Second, func() bool {
		var st struct {
			Replicas []struct{ Address, Status string } `json:"replicas"`
		}
		getJSON(d.base+"/status", &st)
		return len(st.Replicas) == 1 && st.Replicas[0].Status == "connected"
	})

	replica.Pause()
	t.Cleanup(replica.Resume)
	var zombie, killed *busEvent
	for deadline := time.Now().Add(60 * time.Second); killed == nil; {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("no dump_thread.killed within 60 s of SIGSTOP (zombie event: %+v): %v", zombie, err)
		}
		var ev busEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Type == "binlog_sidecar.dump_thread.zombie" && ev.Data.State == "firing" && zombie == nil:
			zombie = &ev
		case ev.Type == "binlog_sidecar.dump_thread.killed":
			killed = &ev
			t.Logf("dump_thread.killed as a consumer reads it: %s", msg.Data)
		}
	}
	if zombie == nil {
		t.Fatal("dump_thread.killed arrived without a dump_thread.zombie firing before it")
	}
	det := killed.Data.Details
	got := fmt.Sprint(det["replica"], " ", det["problem_id"], " ", det["result"], " thread/", det["thread_id"])
	want := fmt.Sprint(replicaAddr, " ", zombie.Data.ProblemID, " killed ", zombie.Subject)
	if got != want || killed.Subject != zombie.Subject {
		t.Errorf("dump_thread.killed details: got %q (subject %s), want %q (subject %s)", got, killed.Subject, want, zombie.Subject)
	}
}
