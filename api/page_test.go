package api

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// pageReport is a critical report with one of everything the page shows.
func pageReport(now time.Time) health.Report {
	return health.Report{
		At: now, Health: health.StatusCritical,
		Server: health.Server{Flavor: "mariadb", Version: "10.11.14-MariaDB", ServerID: 1},
		Problems: []health.Problem{
			{Type: "replica.unknown", ID: "u1", Subject: "replica/10.0.0.9:3306", Severity: health.SeverityWarning,
				Since: now.Add(-time.Hour), Summary: "a replica not in the inventory"},
			{Type: "dump_thread.zombie", ID: "z1", Subject: "replica/10.0.0.2:3306", Severity: health.SeverityCritical,
				Since: now.Add(-95 * time.Second), Summary: "dump thread 42 serves a replica that does not answer <script>alert(1)</script>",
				Remediation: "KILL 42;", Evidence: map[string]any{"thread_id": 42, "probe": "no greeting"}},
		},
		Checks: map[string]health.Check{"semisync": {State: health.CheckUnavailable, Reason: "missing BINLOG MONITOR"}, "zombie": {State: health.CheckFiring}},
		Replicas: []health.ReplicaInfo{{Address: "10.0.0.2:3306", ServerID: 2, Status: health.ReplicaZombie, Expected: true,
			Probe: &health.ProbeResult{Connected: true}}},
		DumpThreads: []health.DumpThreadInfo{{DumpThread: health.DumpThread{ID: 42, User: "repl", Host: "10.0.0.2:51234",
			State: "Master has sent all binlog to slave; waiting for more updates", Time: 300}, Class: health.DumpIdle, Replica: "10.0.0.2:3306"}},
		SemiSync: health.SemiSyncInfo{SemiSync: health.SemiSync{Available: true, Enabled: true, StatusOn: true, Clients: 1,
			Required: 1, WaitSessions: 3, TimeoutMS: 10000, WaitPoint: "AFTER_SYNC"}},
		Inventory: health.InventoryInfo{Configured: true},
		Counts:    health.Counts{Replicas: map[string]int{"expected": 1, "zombie": 1}},
	}
}

func pageServer(t *testing.T, now time.Time, opts ...func(*Sources)) *httptest.Server {
	t.Helper()
	hist := NewHistory(HistoryWindow, HistoryStep, HistoryEvents)
	for i := range 200 {
		s := snapAt(now.Add(-20*time.Minute), float64(i*5), uint64(i*i*10), 0)
		hist.Observe(s)
	}
	hist.Transition(health.Transition{State: health.StateFiring, At: now.Add(-95 * time.Second), Problem: pageReport(now).Problems[1]})
	snap := stream.Snapshot{At: now, Connected: true, ConnectedSince: now.Add(-time.Hour), LastReceived: now, HeartbeatPeriod: time.Second,
		Position: stream.Position{File: "mariadb-bin.000007", Pos: 1234}, BehindBytes: new(int64),
		TopTables: []stream.TableStat{{Schema: "shop", Table: "orders", Rows: 1500, Bytes: 2_500_000}}}
	src := Sources{
		Stream:  func() stream.Snapshot { return snap },
		Health:  func() health.Report { return pageReport(time.Now()) },
		Bus:     func() events.Stats { return events.Stats{Connected: true, JetStream: true} },
		Live:    func() error { return nil },
		History: hist.View,
		Name:    "prod/db-1",
	}
	for _, o := range opts {
		o(&src)
	}
	s := New(":0", src, zerolog.Nop())
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestPage(t *testing.T) {
	srv := pageServer(t, time.Now())
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, body := get(t, srv.URL+"/")
	if code != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", code, resp.Header.Get("Content-Type"))
	}
	if dump := os.Getenv("PAGE_DUMP"); dump != "" {
		os.WriteFile(dump, []byte(body), 0o644)
	}
	if len(body) > 100<<10 {
		t.Errorf("page is %d bytes, want under 100 KiB", len(body))
	}
	t.Logf("page: %d bytes", len(body))

	// In order: the banner, the critical problem before the warning, its
	// fix, its evidence folded away.
	order := []string{
		`data-health="critical"`, `Health: <span class="state">critical</span>`, "mariadb 10.11.14-MariaDB · server_id 1",
		"dump_thread.zombie", "for 1m35s", "<h4>Fix</h4><pre>KILL 42;</pre>", `<details id="ev-z1"><summary>Evidence</summary>`,
		"&#34;thread_id&#34;: 42", "replica.unknown", "Checks that cannot run", "missing BINLOG MONITOR",
		"zombie: <b>1</b>", "10.0.0.2:3306", "TCP accepted, no greeting",
	}
	at := 0
	for _, want := range order {
		i := strings.Index(body[at:], want)
		if i < 0 {
			t.Errorf("page lacks %q after offset %d", want, at)
			continue
		}
		at += i
	}
	for _, want := range []string{"<b>3</b> commits waiting", "AFTER_SYNC", "10000 ms", "mariadb-bin.000007:1234",
		"shop.orders", "2.50 MB", `aria-label="events/s over the last 15m0s`, "<polyline points=", "<b>firing</b>",
		`href="status"`, `href="metrics"`, `href="readyz"`, "<th scope=\"col\"", "prod/db-1"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("a summary reached the page unescaped")
	}
	// Nothing that a browser would fetch from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*"(https?:)?//|url\(|@import`).FindString(body); m != "" {
		t.Errorf("page refers to another origin: %q", m)
	}
	// The policy allows exactly the inline style and script the page has.
	csp := resp.Header.Get("Content-Security-Policy")
	for _, re := range []string{`<style>([\s\S]*?)</style>`, `<script>([\s\S]*?)</script>`} {
		m := regexp.MustCompile(re).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in the page", re)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if h := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); !strings.Contains(csp, h) {
			t.Errorf("CSP %q does not allow the inline block %s (%s)", csp, re, h)
		}
	}
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q: want default-src 'none' and connect-src 'self'", csp)
	}

	// / is the page; other unknown paths stay 404.
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

// TestPage_canary: the canary's card shows its state in words, its reason
// when it does not write, and commit and delivery latency (p50, p99 and
// the latest) as /status carries them; without the canary it says how to
// turn it on.
func TestPage_canary(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		give   *canary.Status
		want   []string
		absent []string
	}{
		{
			name:   "off",
			want:   []string{`<section id="canary"`, "Off: SIDECAR_CANARY=true"},
			absent: []string{"data-state="},
		},
		{
			name: "running, with figures",
			give: &canary.Status{State: canary.StateWriting, IntervalMS: 1000, SlowMS: 1000, Writes: 42, Timeouts: 1,
				CommitMS:     &stream.LatencySummary{P50: 0.812, P99: 4.25, Max: 9},
				DeliveryMS:   &stream.LatencySummary{P50: 1.5, P99: 12.34, Max: 20},
				LastCommitMS: f(0.734), LastDeliveryMS: f(1.234)},
			want: []string{`data-state="writing"`, "running", `class="s-ok"`,
				`<dd class="commit">p50 <b>0.81 ms</b> · p99 <b>4.25 ms</b> · last 0.73 ms</dd>`,
				`<dd class="delivery">p50 <b>1.50 ms</b> · p99 <b>12.3 ms</b> · last 1.23 ms</dd>`,
				"42 · 1 timed out · 0 killed", "1000 ms · 1000 ms"},
			absent: []string{"no sample yet", "in flight"},
		},
		{
			name: "skipped on a read-only server, with the reason",
			give: &canary.Status{State: canary.StateSkipped, Reason: "server is read-only: The MariaDB server is running with the --read-only option"},
			want: []string{`data-state="skipped"`, "skipped — ", `<span class="reason">server is read-only: The MariaDB server is running with the --read-only option</span>`,
				`<dd class="commit">no sample yet</dd>`},
		},
		{
			name: "unavailable, a write blocked in flight",
			give: &canary.Status{State: canary.StateUnavailable, Reason: "missing privilege INSERT", InFlightMS: f(20012)},
			want: []string{`data-state="unavailable"`, `class="s-warning"`, "unavailable — ", "missing privilege INSERT", "a write has waited 20.0 s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pageServer(t, time.Now(), func(src *Sources) {
				if tt.give != nil {
					src.Canary = func() canary.Status { return *tt.give }
				}
			})
			code, body := get(t, srv.URL+"/")
			if code != 200 {
				t.Fatalf("GET / = %d", code)
			}
			card := body[strings.Index(body, `<section id="canary"`):]
			card = card[:strings.Index(card, "</section>")]
			for _, want := range tt.want {
				if !strings.Contains(card, want) {
					t.Errorf("canary card lacks %q:\n%s", want, card)
				}
			}
			for _, no := range tt.absent {
				if strings.Contains(card, no) {
					t.Errorf("canary card has %q:\n%s", no, card)
				}
			}
		})
	}
}

func TestPage_empty(t *testing.T) {
	// Before the first poll: nothing known, nothing fails.
	s := New(":0", Sources{
		Stream: func() stream.Snapshot { return stream.Snapshot{} },
		Health: func() health.Report { return health.Report{} },
		Bus:    func() events.Stats { return events.Stats{} },
		Live:   func() error { return nil },
	}, zerolog.Nop())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET / = %d: %s", code, body)
	}
	for _, want := range []string{"server not read yet", "No active problem.", "not started", "Rates appear after the first 5s"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestSparkPoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	for _, tc := range []struct {
		name string
		ts   []time.Time
		vs   []float64
		want string
	}{
		{"none", nil, nil, ""},
		{"one point is a short segment", []time.Time{at(50)}, []float64{3}, "46.0,0.0 50.0,0.0"},
		{"scaled to the largest", []time.Time{at(0), at(50), at(100)}, []float64{0, 5, 10}, "0.0,40 50.0,20.0 100.0,0.0"},
		{"all zero lies on the bottom", []time.Time{at(0), at(100)}, []float64{0, 0}, "0.0,40 100.0,40"},
		{"outside the window is clamped", []time.Time{at(-10), at(200)}, []float64{1, 1}, "0.0,0.0 100.0,0.0"},
	} {
		if got := sparkPoints(tc.ts, tc.vs, t0, 100*time.Second, 100, 40); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0, "", "0"}, {0.5, "", "0.50"}, {12.34, "", "12.3"}, {999, "", "999"}, {999.6, "", "1.00 k"},
		{1234, "B", "1.23 kB"}, {2_500_000, "B", "2.50 MB"}, {123456789, "", "123 M"},
	} {
		if got := human(tc.v, tc.unit); got != tc.want {
			t.Errorf("human(%g, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestProblemsBySeverity(t *testing.T) {
	now := time.Now()
	ps := []health.Problem{
		{Type: "b", Severity: health.SeverityWarning, Since: now.Add(-3 * time.Minute)},
		{Type: "c", Severity: health.SeverityCritical, Since: now.Add(-time.Minute)},
		{Type: "a", Severity: health.SeverityWarning, Since: now.Add(-5 * time.Minute)},
		{Type: "d", Severity: health.SeverityCritical, Since: now.Add(-2 * time.Minute)},
		{Type: "e", Severity: health.SeverityInfo, Since: now.Add(-time.Hour)},
	}
	var got string
	for _, p := range problemsBySeverity(ps, now) {
		got += p.Type
	}
	if got != "dcabe" {
		t.Errorf("order %s, want dcabe (critical first, oldest first within a severity)", got)
	}
}

// TestPage_semiSyncUnknown: figures that were not read are not shown as
// the server's.
func TestPage_semiSyncUnknown(t *testing.T) {
	rep := pageReport(time.Now())
	rep.SemiSync.Unknown = "SHOW GLOBAL STATUS failed: connection refused"
	var buf strings.Builder
	if err := pageTmpl.Execute(&buf, buildPage("x", rep, events.Stats{}, HistoryView{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	body := buf.String()
	if !strings.Contains(body, "Not read in the last poll: SHOW GLOBAL STATUS failed") || strings.Contains(body, "commits waiting") {
		t.Errorf("semi-sync section with unknown figures:\n%s", body[strings.Index(body, `id="semisync"`):][:600])
	}
}

// TestPage_semiSyncOff: with semi-sync off and not expected, its
// settings are not shown as if they mattered.
func TestPage_semiSyncOff(t *testing.T) {
	rep := pageReport(time.Now())
	rep.SemiSync = health.SemiSyncInfo{SemiSync: health.SemiSync{Available: true, Required: 1, TimeoutMS: 10000, WaitPoint: "AFTER_COMMIT"}}
	var buf strings.Builder
	if err := pageTmpl.Execute(&buf, buildPage("x", rep, events.Stats{}, HistoryView{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	sec := buf.String()[strings.Index(buf.String(), `id="semisync"`):]
	sec = sec[:strings.Index(sec, "</section>")]
	if !strings.Contains(sec, "<dt>enabled</dt><dd>no") || strings.Contains(sec, "required") || strings.Contains(sec, "AFTER_COMMIT") {
		t.Errorf("semi-sync off:\n%s", sec)
	}
}

func TestSparks_span(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pts := func(ago ...time.Duration) []RatePoint {
		var out []RatePoint
		for _, a := range ago {
			out = append(out, RatePoint{At: now.Add(-a), Events: 1})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		rates []RatePoint
		want  time.Duration
	}{
		{"no points", nil, 0},
		{"young history: at least a minute", pts(10*time.Second, 5*time.Second), time.Minute},
		{"three minutes of history", pts(3*time.Minute, time.Minute), 3*time.Minute + HistoryStep},
		{"a full window: capped", pts(time.Hour, HistoryWindow, time.Minute), HistoryWindow},
		{"older points are left out", pts(time.Hour, 14*time.Minute), 14*time.Minute + HistoryStep},
		{"only points older than the window: none", pts(time.Hour), 0},
	} {
		charts, span := sparks(tc.rates, now)
		if span != tc.want || len(charts) != 4 {
			t.Errorf("%s: span %s (%d charts), want %s (4 charts)", tc.name, span, len(charts), tc.want)
		}
	}
}
