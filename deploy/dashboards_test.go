package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// scrape is one real scrape of the sidecar's /metrics: every sample name
// (histograms as _bucket, _sum and _count) with its family's type.
type scrape struct {
	families map[string]dto.MetricType // family name as exposed -> type
	samples  map[string]bool
}

var (
	scrapeOnce sync.Once
	scraped    scrape
	scrapeErr  error
)

// realScrape runs the sidecar binary (scripts/build.sh) against a real
// MariaDB primary and reads /metrics once the health poll and the stream
// have both delivered, so that every family is there as in production.
func realScrape(t *testing.T) scrape {
	t.Helper()
	testdb.Require(t)
	bin := sidecarBinary(t)
	scrapeOnce.Do(func() {
		primary := testdb.StartPrimary(t, testdb.Options{Name: "dashp"})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			scrapeErr = err
			return
		}
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run")
		cmd.Env = append(os.Environ(), "SIDECAR_MYSQL_ADDR="+primary.Addr, "SIDECAR_MYSQL_USER=sidecar",
			"SIDECAR_MYSQL_PASSWORD=sidecar", "SIDECAR_HTTP_ADDR="+addr, "SIDECAR_NATS_URL=none",
			"SIDECAR_POLL_INTERVAL=300ms", "SIDECAR_HEARTBEAT_PERIOD=200ms", "SIDECAR_DATA_DIR="+t.TempDir(),
			"SIDECAR_EXPECTED_REPLICAS=127.0.0.1:1", "SIDECAR_LOG_LEVEL=warn")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if scrapeErr = cmd.Start(); scrapeErr != nil {
			return
		}
		defer func() { cancel(); cmd.Wait() }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			scraped, scrapeErr = readMetrics("http://" + addr + "/metrics")
			if scrapeErr == nil && scraped.value("binlog_sidecar_stream_connected") && scraped.complete() {
				return
			}
			if time.Now().After(deadline) {
				scrapeErr = fmt.Errorf("no scrape with the stream connected within 60 s (last error %v); sidecar output:\n%s", scrapeErr, out.String())
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	return scraped
}

// complete is true once the figures that have no sample until they are
// known (the poll's, lag, the server's binlog end) are all there.
func (s scrape) complete() bool {
	for _, name := range []string{"binlog_sidecar_health_status", "binlog_sidecar_poll_duration_seconds_count",
		"binlog_sidecar_stream_lag_seconds", "binlog_sidecar_stream_behind_bytes"} {
		if !s.samples[name] {
			return false
		}
	}
	return true
}

// value is true when the family has a sample of 1 (a connected flag).
func (s scrape) value(name string) bool { return s.samples[name+"=1"] }

func readMetrics(url string) (scrape, error) {
	resp, err := http.Get(url)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return scrape{}, err
	}
	s := scrape{families: map[string]dto.MetricType{}, samples: map[string]bool{}}
	for name, f := range fams {
		s.families[name] = f.GetType()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				s.samples[name+suffix] = true
			}
		case dto.MetricType_SUMMARY:
			s.samples[name], s.samples[name+"_sum"], s.samples[name+"_count"] = true, true, true
		default:
			s.samples[name] = true
			for _, m := range f.GetMetric() {
				if v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue(); v == 1 {
					s.samples[name+"=1"] = true
				}
			}
		}
	}
	return s, nil
}

// grafanaVars are the dashboard's variables as a query would see them.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${instance}", "x", "$instance", "x", "${job}", "x", "$job", "x")

// grafanaQueries is every PromQL expression of the dashboard, by panel
// title, and the variable queries (label_values(selector, label)).
func grafanaQueries(t *testing.T) (map[string][]string, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "binlog-sidecar.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Type    string  `json:"type"`
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/binlog-sidecar.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("grafana/binlog-sidecar.json: want a uid and a title")
	}
	exprs := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				exprs[p.Title] = append(exprs[p.Title], tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	var vars []string
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		switch q := v.Query.(type) {
		case string:
			vars = append(vars, q)
		case map[string]any:
			s, _ := q["query"].(string)
			vars = append(vars, s)
		}
	}
	return exprs, vars
}

// metricNames are the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// TestGrafanaDashboard: every expression of the Grafana dashboard parses
// with the Prometheus parser and names only metrics a real scrape of the
// sidecar has; together they cover what an operator needs on one screen.
func TestGrafanaDashboard(t *testing.T) {
	exprs, vars := grafanaQueries(t)
	p := parser.NewParser(parser.Options{})
	used := map[string][]string{} // metric -> panels
	for title, list := range exprs {
		for _, e := range list {
			ast, err := p.ParseExpr(grafanaVars.Replace(e))
			if err != nil {
				t.Errorf("panel %q: %q does not parse: %v", title, e, err)
				continue
			}
			for _, n := range metricNames(ast) {
				used[n] = append(used[n], title)
			}
		}
	}
	for _, v := range vars {
		m := labelValues.FindStringSubmatch(v)
		if m == nil {
			t.Errorf("variable query %q: want label_values(selector, label)", v)
			continue
		}
		ast, err := p.ParseExpr(grafanaVars.Replace(m[1]))
		if err != nil {
			t.Errorf("variable query %q: %v", v, err)
			continue
		}
		for _, n := range metricNames(ast) {
			used[n] = append(used[n], "variable "+v)
		}
	}
	if len(used) == 0 {
		t.Fatal("the dashboard queries no metric")
	}

	s := realScrape(t)
	for _, name := range sortedKeys(used) {
		if !s.samples[name] {
			t.Errorf("%s (in %v) is not in a real scrape of the sidecar", name, used[name])
		}
	}
	for _, want := range dashboardNeeds {
		if !slices.ContainsFunc(sortedKeys(used), func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("no panel shows %s*", want)
		}
	}
	t.Logf("%d panels query %d metrics", len(exprs), len(used))
}

// dashboardNeeds are the figures each dashboard must show (as prefixes
// of the exposed names).
var dashboardNeeds = []string{
	"binlog_sidecar_health_status", "binlog_sidecar_problem_active", "binlog_sidecar_replicas",
	"binlog_sidecar_stream_events", "binlog_sidecar_stream_bytes", "binlog_sidecar_stream_rows",
	"binlog_sidecar_stream_transactions", "binlog_sidecar_stream_lag_seconds",
	"binlog_sidecar_semisync_clients", "binlog_sidecar_semisync_waiting_sessions",
	"binlog_sidecar_events_pending", "binlog_sidecar_events_dropped", "binlog_sidecar_poll_duration_seconds",
	"process_cpu_seconds", "process_resident_memory_bytes",
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// datadogQuery is one metric query: aggregator:metric{scope} [by {tags}]
// with an optional .as_rate()/.as_count()/.rollup(...) after it.
var datadogQuery = regexp.MustCompile(`(?:avg|sum|min|max):([a-z][a-z0-9_.]*)\{[^{}]*\}(?:\s*by\s*\{[^{}]*\})?`)

// TestDatadogDashboard: every query of the Datadog dashboard names a
// metric the OpenMetrics check (conf.yaml) produces from a real scrape of
// the sidecar, and the dashboard shows the same figures as Grafana's.
func TestDatadogDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("datadog", "dashboards", "binlog-sidecar.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("datadog/dashboards/binlog-sidecar.json: %v", err)
	}
	if dash["title"] == nil || dash["layout_type"] == nil || dash["widgets"] == nil {
		t.Fatal("datadog dashboard: want title, layout_type and widgets")
	}
	var queries []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "query" || k == "q") {
					queries = append(queries, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(dash["widgets"])
	if len(queries) == 0 {
		t.Fatal("the Datadog dashboard has no query")
	}

	s := realScrape(t)
	mapping := datadogMetrics(t)
	produced := map[string]string{} // Datadog name -> exposed family
	for fam, typ := range s.families {
		dd, ok := datadogName(mapping, fam) // as the Agent names it (manifests_test.go)
		if !ok {
			continue
		}
		dd = "binlog_sidecar." + dd
		switch typ {
		case dto.MetricType_COUNTER:
			produced[dd+".count"] = fam
		case dto.MetricType_HISTOGRAM:
			produced[dd+".bucket"], produced[dd+".sum"], produced[dd+".count"] = fam, fam, fam
		default:
			produced[dd] = fam
		}
	}
	covered := map[string]bool{}
	for _, q := range queries {
		ms := datadogQuery.FindAllStringSubmatch(q, -1)
		if len(ms) == 0 {
			t.Errorf("query %q: want aggregator:metric{scope}", q)
		}
		for _, m := range ms {
			exposed, ok := produced[m[1]]
			if !ok {
				t.Errorf("query %q uses %s, which the OpenMetrics check does not produce from conf.yaml", q, m[1])
				continue
			}
			covered[exposed] = true
		}
	}
	for _, want := range dashboardNeeds {
		if !slices.ContainsFunc(sortedKeys(covered), func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("no widget shows %s* (mapped in conf.yaml?)", want)
		}
	}
	t.Logf("%d queries over %d exposed families", len(queries), len(covered))
}
