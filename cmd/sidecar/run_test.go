package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, json.Unmarshal(b, v)
}

// waitFor waits up to limit for cond (internal/testwait).
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, limit, cond)
}

// TestRun_EndToEnd runs the daemon against a real primary with a real
// replica and the embedded bus: ready, figures exact, events on NATS, and a
// clean shutdown on cancel.
func TestRun_EndToEnd(t *testing.T) {
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{Name: "runp"})
	replica := testdb.StartReplica(t, primary, testdb.Options{Name: "runr", Extra: []string{"--report-host=127.0.0.1"}})
	primary.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY, v VARCHAR(20))")

	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	env := []string{
		"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_INSTANCE=db-1", "SIDECAR_CLUSTER=test", "SIDECAR_HEARTBEAT_PERIOD=200ms",
		"SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_STATS_INTERVAL=1s", "SIDECAR_PROBE_TIMEOUT=300ms",
		fmt.Sprintf("SIDECAR_EXPECTED_REPLICAS=127.0.0.1:%d", replica.Port),
		"SIDECAR_HTTP_ADDR=" + httpAddr, "SIDECAR_NATS_EMBEDDED_ADDR=" + natsAddr,
		"SIDECAR_DATA_DIR=" + t.TempDir(), "SIDECAR_LOG_LEVEL=info",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, &stderr) }()

	base := "http://" + httpAddr
	waitFor(t, "/readyz 200", 20*time.Second, func() bool {
		var v any
		code, _ := getJSON(base+"/readyz", &v)
		return code == 200
	})

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("mysql.health.test.db-1.>")
	if err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 10; i++ {
		primary.Exec(t, fmt.Sprintf("INSERT INTO sbtest.t VALUES (%d, 'x')", i))
	}
	primary.Exec(t, "UPDATE sbtest.t SET v='y' WHERE id <= 4")
	primary.Exec(t, "DELETE FROM sbtest.t WHERE id = 10")

	type statusDoc struct {
		Health string `json:"health"`
		Stream struct {
			Rows struct{ Insert, Update, Delete uint64 } `json:"rows"`
		} `json:"stream"`
		Replicas []struct {
			Address string `json:"address"`
			Status  string `json:"status"`
		} `json:"replicas"`
		Problems []struct {
			Type string `json:"type"`
		} `json:"problems"`
	}
	var st statusDoc
	waitFor(t, "rows in /status", 20*time.Second, func() bool {
		st = statusDoc{}
		getJSON(base+"/status", &st)
		r := st.Stream.Rows
		return r.Insert == 10 && r.Update == 4 && r.Delete == 1
	})
	waitFor(t, "health ok with the replica connected", 20*time.Second, func() bool {
		st = statusDoc{}
		getJSON(base+"/status", &st)
		return st.Health == "ok" && len(st.Replicas) == 1 && st.Replicas[0].Status == "connected"
	})

	seen := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for !seen["binlog_sidecar.stream.stats"] && time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var ev struct{ Type string }
		json.Unmarshal(msg.Data, &ev)
		seen[ev.Type] = true
	}
	if !seen["binlog_sidecar.stream.stats"] {
		t.Errorf("no stream.stats event on NATS; saw %v", seen)
	}

	natsCLIReads(t, "nats://"+natsAddr)

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`binlog_sidecar_stream_rows_total{op="insert"} 10`, `binlog_sidecar_replicas{status="connected"} 1`,
		`binlog_sidecar_health_status 0`, `binlog_sidecar_stream_transaction_rows_bucket{le="1"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A server restart is stream.down (not stream.stalled), fired and
	// resolved through the whole daemon, on the bus.
	primary.Restart(t)
	want := []string{"stream.down firing", "stream.down resolved"}
	var got []string
	deadline = time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var ev struct {
			Type string
			Data struct{ State string }
		}
		json.Unmarshal(msg.Data, &ev)
		if short := strings.TrimPrefix(ev.Type, "binlog_sidecar."); strings.HasPrefix(short, "stream.down") || strings.HasPrefix(short, "stream.stalled") {
			got = append(got, short+" "+ev.Data.State)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events after a server restart: got %v, want %v", got, want)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return within 20 s of cancel")
	}
	logged := stderr.String()
	if !strings.Contains(logged, `"mysql_password":"[redacted]"`) || strings.Contains(logged, `"mysql_password":"sidecar"`) {
		t.Errorf("the start-up log line does not redact the password:\n%.2000s", logged)
	}
}

func TestMainCode_ConfigErrorExits2(t *testing.T) {
	var stderr bytes.Buffer
	code := mainCode([]string{"run"}, []string{"SIDECAR_POLL_INTERVAL=soon", "SIDECAR_MYSQL_FLAVOR=oracle"}, io.Discard, &stderr)
	if code != exitConfig {
		t.Errorf("exit code = %d, want %d", code, exitConfig)
	}
	for _, want := range []string{"SIDECAR_POLL_INTERVAL", "SIDECAR_MYSQL_FLAVOR"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not name %s", stderr.String(), want)
		}
	}
}

func TestMainCode_Version(t *testing.T) {
	var out bytes.Buffer
	if code := mainCode([]string{"version"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "sidecar dev") {
		t.Errorf("version: code %d, output %q", code, out.String())
	}
}

// natsCLIReads is the contract's "real consumer": natscli reads the events
// from the JetStream stream from its start, as an operator would.
func natsCLIReads(t *testing.T, url string) {
	t.Helper()
	bin, err := exec.LookPath("nats")
	if err != nil {
		bin = filepath.Join(build.Default.GOPATH, "bin", "nats")
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("natscli not installed (scripts/deps.sh test installs it)")
			}
			t.Log("natscli not installed; skipping the natscli consumer check")
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--server", url, "sub", "mysql.health.test.db-1.sidecar.started",
		"--all", "--count=1", "--raw").CombinedOutput()
	if err != nil {
		t.Fatalf("nats sub: %v\n%s", err, out)
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Summary string `json:"summary"`
		} `json:"data"`
	}
	line := strings.TrimSpace(string(out))
	if i := strings.Index(line, "{"); i >= 0 {
		line = line[i:]
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type != "binlog_sidecar.sidecar.started" {
		t.Errorf("nats sub printed %q (%v), want the sidecar.started event", out, err)
	}
}

func TestMainCode_EmptyGTIDStartExits2(t *testing.T) {
	var stderr bytes.Buffer
	code := mainCode([]string{"run"}, []string{"SIDECAR_START=gtid: ", "SIDECAR_NATS_URL=none",
		"SIDECAR_HTTP_ADDR=" + freeAddr(t), "SIDECAR_MYSQL_ADDR=" + freeAddr(t)}, io.Discard, &stderr)
	if code != exitConfig || !strings.Contains(stderr.String(), "SIDECAR_START") {
		t.Errorf("exit code %d, stderr %q; want %d naming SIDECAR_START", code, stderr.String(), exitConfig)
	}
}

// TestMainCode_ServerIDOfAReplicaExits2: SIDECAR_SERVER_ID equal to a
// registered replica's server_id ends the daemon with exit 2 naming the
// variable and the replica, and the replica is never thrown off.
func TestMainCode_ServerIDOfAReplicaExits2(t *testing.T) {
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{})
	replica := testdb.StartReplica(t, primary, testdb.Options{Extra: []string{"--report-host=127.0.0.1", "--report-port=3399"}})
	dumpThread := func() string {
		for _, row := range primary.Query(t, "SHOW PROCESSLIST") {
			if strings.HasPrefix(row["Command"], "Binlog Dump") && row["User"] == "repl" {
				return row["Id"]
			}
		}
		return ""
	}
	var before string
	waitFor(t, "the replica's dump thread", 10*time.Second, func() bool { before = dumpThread(); return before != "" })

	env := []string{
		"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_INSTANCE=db-1", fmt.Sprintf("SIDECAR_SERVER_ID=%d", replica.ServerID),
		"SIDECAR_HTTP_ADDR=" + freeAddr(t), "SIDECAR_NATS_URL=none", "SIDECAR_DATA_DIR=" + t.TempDir(),
	}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- mainCode([]string{"run"}, env, io.Discard, &stderr) }()
	select {
	case code := <-done:
		want := fmt.Sprintf("SIDECAR_SERVER_ID: binlog stream: invalid binlog stream configuration: preflight: server_id %d is used by the replica 127.0.0.1:3399", replica.ServerID)
		if code != exitConfig || !strings.Contains(stderr.String(), want) {
			t.Errorf("exit %d, want 2 with %q in:\n%s", code, want, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the sidecar is still running with a replica's server_id")
	}
	if after := dumpThread(); after != before {
		t.Errorf("the replica's dump thread changed from %s to %s: it was thrown off", before, after)
	}
	t.Logf("stderr:\n%s", stderr.String())
}

// TestRun_HostileInventory: the inventory file swapped, while the daemon
// runs, for a symlink to a secret file and then for a named pipe. /status
// names the file and line, never the content (it served /etc/shadow's
// lines), and the health monitor keeps polling and /livez stays 200 (a
// named pipe froze the monitor and made /livez 503 until a SIGTERM that
// never completed).
func TestRun_HostileInventory(t *testing.T) {
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{})
	const secret = "Zq9s3cr3tHash"
	dir := t.TempDir()
	inv := filepath.Join(dir, "replicas")
	if err := os.WriteFile(inv, []byte("127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shadow := filepath.Join(dir, "shadow")
	if err := os.WriteFile(shadow, []byte("root:$6$"+secret+":19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	env := []string{
		"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_INSTANCE=db-1", "SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=200ms",
		"SIDECAR_PROBE_TIMEOUT=200ms", "SIDECAR_EXPECTED_REPLICAS_FILE=" + inv,
		"SIDECAR_HTTP_ADDR=" + httpAddr, "SIDECAR_NATS_URL=none", "SIDECAR_DATA_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("run did not stop within a minute of cancel")
		}
	}()

	base := "http://" + httpAddr
	type statusDoc struct {
		At        time.Time `json:"at"`
		Inventory struct {
			Error string `json:"error"`
		} `json:"inventory"`
	}
	status := func() (statusDoc, string) {
		resp, err := http.Get(base + "/status")
		if err != nil {
			return statusDoc{}, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var st statusDoc
		json.Unmarshal(b, &st)
		return st, string(b)
	}
	waitFor(t, "a first poll", 20*time.Second, func() bool { st, _ := status(); return !st.At.IsZero() })

	replace := func(make func() error) {
		t.Helper()
		if err := os.Remove(inv); err != nil {
			t.Fatal(err)
		}
		if err := make(); err != nil {
			t.Fatal(err)
		}
	}
	replace(func() error { return os.Symlink(shadow, inv) })
	var body string
	waitFor(t, "the inventory error in /status", 20*time.Second, func() bool {
		var st statusDoc
		st, body = status()
		return strings.Contains(st.Inventory.Error, inv+":1: ")
	})
	if strings.Contains(body, secret) || strings.Contains(body, "root:") {
		t.Errorf("/status carries the secret file's content:\n%s", body)
	}

	replace(func() error { return syscall.Mkfifo(inv, 0o600) })
	var at time.Time
	waitFor(t, "the named pipe reported in /status", 20*time.Second, func() bool {
		st, _ := status()
		at = st.At
		return strings.Contains(st.Inventory.Error, inv+" is a named pipe, not a regular file")
	})
	waitFor(t, "polls after the named pipe", 20*time.Second, func() bool { st, _ := status(); return st.At.After(at) })
	var live any
	if code, _ := getJSON(base+"/livez", &live); code != http.StatusOK {
		t.Errorf("/livez = %d, want 200", code)
	}
}

// blackhole accepts TCP connections and never answers, like a bus behind a
// firewall that drops replies: a NATS client waits its whole connect
// timeout for the server's INFO on each one.
type blackhole struct {
	ln       net.Listener
	mu       sync.Mutex
	accepted int
	conns    []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.accepted++
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted
}

func (b *blackhole) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

// HTTP serves before the bus connects: with SIDECAR_NATS_URL naming only
// servers that never answer, /livez is 200 while the client's first pass
// over them (one whole connect timeout each, in the start-up path) has not
// finished. No MySQL is needed: /livez never depends on it.
func TestRun_HTTPServesBeforeTheBusConnects(t *testing.T) {
	const servers = 10 // 10 connect timeouts of 2 s: the window for /livez to answer
	holes := make([]*blackhole, servers)
	urls := make([]string, servers)
	for i := range holes {
		holes[i] = newBlackhole(t)
		urls[i] = "nats://" + holes[i].ln.Addr().String()
	}
	contacted := func() int {
		n := 0
		for _, h := range holes {
			n += min(h.count(), 1)
		}
		return n
	}
	httpAddr := freeAddr(t)
	env := []string{
		"SIDECAR_MYSQL_ADDR=" + freeAddr(t), "SIDECAR_INSTANCE=db-1", "SIDECAR_HTTP_ADDR=" + httpAddr,
		"SIDECAR_NATS_URL=" + strings.Join(urls, ","), "SIDECAR_DATA_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, io.Discard) }()

	waitFor(t, "the first connect attempt to the bus", 30*time.Second, func() bool { return contacted() > 0 })
	var live struct {
		Live bool `json:"live"`
	}
	code, err := getJSON("http://"+httpAddr+"/livez", &live)
	if n := contacted(); n >= servers {
		t.Errorf("/livez answered only after the bus client had tried all %d servers: HTTP waited for the bus", n)
	}
	if err != nil || code != 200 || !live.Live {
		t.Errorf("/livez = %d %+v (%v), want 200 live while the bus is not connected", code, live, err)
	}
	var metrics strings.Builder
	if resp, err := http.Get("http://" + httpAddr + "/metrics"); err == nil {
		io.Copy(&metrics, resp.Body)
		resp.Body.Close()
	}
	if !strings.Contains(metrics.String(), "binlog_sidecar_events_bus_connected 0") {
		t.Errorf("/metrics while the bus is not connected lacks events_bus_connected 0:\n%.500s", metrics.String())
	}

	cancel()
	for _, h := range holes {
		h.close() // the remaining attempts fail at once
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return within 60 s of cancel")
	}
}
