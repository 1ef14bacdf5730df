package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// requireChromium finds Debian's chromium: under -short or without it the
// test skips with the reason, except under CI, where a missing browser
// fails the run (scripts/deps.sh test installs it).
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: -short starts no browser and no MariaDB (make unit); make test runs it")
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("browser test: chromium is not installed (CI is set): scripts/deps.sh test installs it (apt-get install chromium)")
	}
	t.Skip("browser test: chromium is not installed (apt-get install chromium, or scripts/deps.sh test)")
	return ""
}

// browserWatch records what the page does in the browser: every request
// it makes, and any script error or policy violation.
type browserWatch struct {
	origin   string // scheme://host:port of the sidecar
	mu       sync.Mutex
	requests int
	foreign  []string
	errs     []string
}

func (b *browserWatch) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		u, err := url.Parse(e.Request.URL)
		switch {
		case err == nil && u.Scheme == "data":
		case err != nil || u.Scheme+"://"+u.Host != b.origin:
			b.foreign = append(b.foreign, e.Request.URL)
		default:
			b.requests++
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		desc := d.Text
		if d.Exception != nil {
			desc += " " + d.Exception.Description
		}
		b.errs = append(b.errs, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, desc))
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			b.errs = append(b.errs, fmt.Sprintf("%s: %s", e.Entry.Source, e.Entry.Text))
		}
	}
}

func (b *browserWatch) snapshot() (int, []string, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, append([]string(nil), b.foreign...), append([]string(nil), b.errs...)
}

// TestStatusPage_browser opens the status page in a real Chromium against
// the daemon watching a real primary with a real replica: ok; the replica
// frozen with SIGSTOP turns the open page critical, with the zombie problem
// and its fix, without a reload; SIGCONT brings it back to ok. The page
// must never request anything from another host. UPDATE_SCREENSHOTS=1
// writes both states to docs/.
func TestStatusPage_browser(t *testing.T) {
	chromium := requireChromium(t)
	testdb.Require(t)
	primary := testdb.StartPrimary(t, testdb.Options{Name: "pagep"})
	replica := testdb.StartReplica(t, primary, testdb.Options{Name: "pager", Extra: []string{"--report-host=127.0.0.1"}})
	primary.Exec(t, "CREATE TABLE sbtest.orders (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))")
	primary.Exec(t, "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%'") // the canary's

	d := startDaemon(t, []string{
		"SIDECAR_MYSQL_ADDR=" + primary.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar",
		"SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_POLL_INTERVAL=500ms", "SIDECAR_PROBE_TIMEOUT=500ms",
		"SIDECAR_ZOMBIE_GRACE=2s", fmt.Sprintf("SIDECAR_EXPECTED_REPLICAS=127.0.0.1:%d", replica.Port),
		"SIDECAR_LOG_LEVEL=warn", "SIDECAR_CANARY=true", "SIDECAR_CANARY_INTERVAL=200ms",
	})
	base := d.base
	t.Cleanup(func() {
		if t.Failed() { // what the sidecar saw, for the reader of the failure
			_, body := pageSize(t, base+"/status")
			t.Logf("/status at the failure:\n%.6000s", body)
		}
	})
	ctx := t.Context()
	waitFor(t, "health ok with the replica connected", 30*time.Second, func() bool {
		var st struct {
			Health   string
			Replicas []struct{ Status string }
		}
		getJSON(base+"/status", &st)
		return st.Health == "ok" && len(st.Replicas) == 1 && st.Replicas[0].Status == "connected"
	})

	// A writer, so that the stream's charts have something to draw.
	wctx, stopWriter := context.WithCancel(ctx)
	conn := primary.Conn(t)
	writerDone := make(chan struct{})
	defer func() { stopWriter(); <-writerDone }() // before the connection closes
	go func() {
		defer close(writerDone)
		for i := 0; wctx.Err() == nil; i++ {
			conn.Execute(fmt.Sprintf("INSERT INTO sbtest.orders (v) VALUES ('order %d')", i))
			time.Sleep(50 * time.Millisecond)
		}
	}()

	b := openBrowser(t, chromium, base)
	step, eval, text := b.step, b.eval, b.text
	screenshot := func(name string) {
		t.Helper()
		if os.Getenv("UPDATE_SCREENSHOTS") == "" {
			return
		}
		sctx, scancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer scancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("browser: screenshot: %v", err)
		}
		path := filepath.Join("..", "..", "docs", name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}

	step("open the page", 60*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-health="ok"]`)),
	)
	eval(`window.sameDocument = true`) // a mark that a reload would erase
	// The charts draw once the first rate point exists (5 s of history).
	step("rates drawn", 60*time.Second, chromedp.WaitVisible(chromedp.CSS(`#stream polyline`)))
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		// A minute of points, so that the pictures show a chart, not a dot.
		waitFor(t, "a minute of rate points", 3*time.Minute, func() bool {
			return eval(`document.querySelector('#stream polyline').points.numberOfItems >= 12`)
		})
	}
	if s := text("#live header"); !strings.Contains(s, "health: ok") || !strings.Contains(s, "server_id ") || !strings.Contains(s, "mariadb") {
		t.Errorf("ok banner reads %q, want health ok and the server", s)
	}
	if s := text("#replicas"); !strings.Contains(s, "connected") {
		t.Errorf("replicas section reads %q, want the replica connected", s)
	}
	// The canary's card: running, with commit and delivery latency.
	step("canary figures drawn", 60*time.Second, chromedp.WaitVisible(chromedp.CSS(`#canary dd[data-state="writing"]`)))
	waitFor(t, "canary commit and delivery figures on the open page", 30*time.Second, func() bool {
		return eval(`/p50 [0-9.]+ m?s/.test(document.querySelector('#canary dd.commit').textContent) &&
			/p50 [0-9.]+ m?s/.test(document.querySelector('#canary dd.delivery').textContent)`)
	})
	canaryCard := text("#canary")
	for _, want := range []string{"running", "commit", "p99", "last", "delivery"} {
		if !strings.Contains(canaryCard, want) {
			t.Errorf("canary card lacks %q:\n%s", want, canaryCard)
		}
	}
	t.Logf("canary card: %s", strings.Join(strings.Fields(canaryCard), " "))
	screenshot("status-page-ok.png")

	// Everything ok just before the fault, so that what follows is its doing.
	step("still ok before the fault", 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#live[data-health="ok"]`)))
	stopped := time.Now()
	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	step("the open page turns critical", 90*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#live[data-health="critical"] #problems li.p-critical[data-type="dump_thread.zombie"]`)))
	toCritical := time.Since(stopped)
	t.Logf("timeline: SIGSTOP -> page critical without a reload: %.1f s", toCritical.Seconds())

	if !eval(`window.sameDocument === true`) {
		t.Error("the page was reloaded; it must update in place")
	}
	problems := text("#problems")
	for _, want := range []string{"dump_thread.zombie", "critical", "fix", "kill "} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems section lacks %q:\n%s", want, problems)
		}
	}
	if s := text("#replicas"); !strings.Contains(s, "zombie") {
		t.Errorf("replicas section reads %q, want the replica as zombie", s)
	}
	if s := text("#timeline"); !strings.Contains(s, "firing") || !strings.Contains(s, "dump_thread.zombie") {
		t.Errorf("timeline reads %q, want the zombie firing", s)
	}
	// The evidence is folded away until asked for.
	if eval(`document.querySelector('#problems details').open`) {
		t.Error("the evidence is unfolded; it should be behind <details>")
	}
	screenshot("status-page-critical.png")

	// At phone width nothing is wider than the screen.
	step("phone width", 30*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Sleep(300*time.Millisecond))
	if eval(`document.documentElement.scrollWidth > window.innerWidth`) {
		t.Error("at 390 px the page is wider than the screen")
	}
	step("desktop width", 30*time.Second, chromedp.EmulateViewport(1280, 1000))

	size, body := pageSize(t, base+"/")
	t.Logf("page size in the critical state: %d bytes", size)
	if size > 100<<10 || !strings.Contains(body, "dump_thread.zombie") {
		t.Errorf("GET / in the critical state: %d bytes (want < 100 KiB, the zombie shown server-side too)", size)
	}

	replica.Resume()
	resumed = true
	resumedAt := time.Now()
	step("the open page returns to ok", 90*time.Second, chromedp.WaitVisible(chromedp.CSS(`#live[data-health="ok"]`)))
	t.Logf("timeline: SIGCONT -> page ok without a reload: %.1f s", time.Since(resumedAt).Seconds())
	if !eval(`window.sameDocument === true`) {
		t.Error("the page was reloaded; it must update in place")
	}
	if s := text("#timeline"); !strings.Contains(s, "resolved") {
		t.Errorf("timeline reads %q, want the zombie resolved", s)
	}

	if requests := b.checkRequests(); requests < 3 {
		t.Errorf("saw %d requests to the sidecar; the page load and its updates should all be seen", requests)
	}
}

// TestStatusPage_browserBehindAuth: behind the web configuration's TLS
// and basic auth, the page a browser opened with credentials stays live
// (its own fetches carry the credentials the browser holds for the origin)
// and still requests nothing from elsewhere. No MySQL needed: the daemon
// watches a closed port, so the page shows the stream down.
func TestStatusPage_browserBehindAuth(t *testing.T) {
	chromium := requireChromium(t)
	webConfig, _ := testcert.WriteWebConfig(t, "oncall", "s3cret")
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"SIDECAR_MYSQL_ADDR=" + freeAddr(t), "SIDECAR_NATS_URL=none", "SIDECAR_HTTP_ADDR=" + httpAddr,
			"SIDECAR_WEB_CONFIG_FILE=" + webConfig, "SIDECAR_POLL_INTERVAL=500ms", "SIDECAR_DATA_DIR=" + t.TempDir()}, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("run did not return within 20 s of cancel")
		}
	})

	b := openBrowser(t, chromium, "https://"+httpAddr, chromedp.Flag("ignore-certificate-errors", true))
	b.step("open the page with credentials", 60*time.Second,
		chromedp.Navigate("https://oncall:s3cret@"+httpAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-health="critical"]`)),
	)
	// The first update comes 2 s after the load; it must succeed.
	waitFor(t, "a live update behind auth", 60*time.Second, func() bool {
		s := b.text("#conn")
		if strings.Contains(s, "lost contact") {
			t.Fatalf("the page's update failed behind auth: %q", s)
		}
		return strings.Contains(s, "live: updated")
	})
	if s := b.text("#stream"); !strings.Contains(s, "down") {
		t.Errorf("stream section reads %q, want the stream down", s)
	}
	if requests := b.checkRequests(); requests < 2 {
		t.Errorf("saw %d requests to the sidecar; want the load and at least one update", requests)
	}
}

// browser is a headless Chromium tab whose every request and script
// error is recorded (see browserWatch).
type browser struct {
	t     *testing.T
	ctx   context.Context
	watch *browserWatch
}

// openBrowser starts chromium for a page served at origin
// (scheme://host:port); extra flags are added to chromedp's defaults. It
// ends with the test.
func openBrowser(t *testing.T, chromium, origin string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	b := &browser{t: t, ctx: bctx, watch: &browserWatch{origin: origin}}
	// The first command starts the browser; every request of the tab is
	// seen from then on (chromedp enables the network and log domains).
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browser: start %s: %v", chromium, err)
	}
	if err := chromedp.Listen(bctx, b.watch.listen); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) step(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, limit)
	defer scancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

func (b *browser) eval(expr string) bool {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer scancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// text is the element's text as shown, in lower case (some labels are
// upper case by style).
func (b *browser) text(sel string) string {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer scancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: read %s: %v", sel, err)
	}
	return strings.ToLower(s)
}

// checkRequests fails the test on any request to another host than the
// sidecar, and on any script error or policy violation; it returns the
// number of requests to the sidecar.
func (b *browser) checkRequests() int {
	b.t.Helper()
	requests, foreign, errs := b.watch.snapshot()
	b.t.Logf("browser requests to the sidecar: %d; to anywhere else: %d", requests, len(foreign))
	if len(foreign) > 0 {
		b.t.Errorf("the page requested other hosts than the sidecar %s: %v", b.watch.origin, foreign)
	}
	if len(errs) > 0 {
		b.t.Errorf("script errors or policy violations in the browser: %v", errs)
	}
	return requests
}

func pageSize(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return len(b), string(b)
}

// TestBrowserWatch: the browser test's guard counts requests to the
// sidecar and flags every other destination (another port is another
// origin) and every script error.
func TestBrowserWatch(t *testing.T) {
	w := &browserWatch{origin: "http://127.0.0.1:9106"}
	for _, u := range []string{"http://127.0.0.1:9106/", "http://127.0.0.1:9106/?x", "data:,", "https://127.0.0.1:9106/",
		"http://127.0.0.1:9107/", "https://cdn.example.com/chart.js", "ws://127.0.0.1:9106/"} {
		w.listen(&network.EventRequestWillBeSent{Request: &network.Request{URL: u}})
	}
	w.listen(&runtime.EventExceptionThrown{ExceptionDetails: &runtime.ExceptionDetails{Text: "Uncaught"}})
	w.listen(&cdplog.EventEntryAdded{Entry: &cdplog.Entry{Level: cdplog.EntryLevelError, Source: "security", Text: "Refused to load"}})
	w.listen(&cdplog.EventEntryAdded{Entry: &cdplog.Entry{Level: cdplog.EntryLevelInfo, Text: "fine"}})
	requests, foreign, errs := w.snapshot()
	if requests != 2 || len(foreign) != 4 || len(errs) != 2 {
		t.Errorf("requests %d, foreign %v, errors %v; want 2 to the sidecar, 4 elsewhere, 2 errors", requests, foreign, errs)
	}
}
