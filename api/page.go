package api

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// The status page is one HTML document with its style and script inline,
// so it makes no request but to itself; the Content-Security-Policy allows
// exactly these two inline blocks (by hash) and connections to the sidecar.
var (
	//go:embed page/page.html
	pageHTML string
	//go:embed page/page.css
	pageCSS string
	//go:embed page/page.js
	pageJS string

	pageTmpl = template.Must(template.New("page").Funcs(pageFuncs).Parse(pageHTML))
	pageCSP  = "default-src 'none'; style-src '" + cspHash(pageCSS) + "'; script-src '" + cspHash(pageJS) +
		"'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// page renders GET /: the same snapshot /status serves, for people.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	doc := s.statusDoc()
	var hist HistoryView
	if s.src.History != nil {
		hist = s.src.History()
	}
	var buf bytes.Buffer
	v := buildPage(s.src.Name, doc.Report, doc.Bus, hist, time.Now())
	v.Canary = canaryPage(doc.Canary)
	if err := pageTmpl.Execute(&buf, v); err != nil {
		s.log.Error().Err(err).Msg("render status page")
		http.Error(w, "rendering the status page failed; /status has the same figures", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

// pageView is what the template shows.
type pageView struct {
	Name         string
	Health       string
	At, PollAt   time.Time
	Server       health.Server
	Problems     []problemView
	Blind        []checkView
	ReplicaCount []countView
	Replicas     []health.ReplicaInfo
	DumpThreads  []health.DumpThreadInfo
	Inventory    health.InventoryInfo
	SemiSync     health.SemiSyncInfo
	Stream       stream.Snapshot
	StreamState  string
	StreamSev    string
	Sparks       []sparkView
	HaveRates    bool
	Span         string // what the charts cover, e.g. "15m0s"
	Step         time.Duration
	Timeline     []timelineView
	TimelineMax  int
	Bus          events.Stats
	Canary       canaryView
	CSS          template.CSS
	JS           template.JS
}

type problemView struct {
	health.Problem
	For          string
	EvidenceJSON string
}

type checkView struct{ Name, State, Reason string }

type countView struct {
	Name string
	N    int
}

// canaryView is the commit-latency canary's card: its state in words and
// its latencies as /status carries them (the last 60 samples).
type canaryView struct {
	On         bool   // SIDECAR_CANARY is on
	State      string // the canary's state, as in /status
	Label      string // the state in words: running, skipped, ...
	Sev        string // the state's colour and icon
	Reason     string
	Commit     latencyView
	Delivery   latencyView
	InFlight   string // how long the write in flight has waited; "" when none
	Writes     uint64
	Timeouts   uint64
	Killed     uint64
	IntervalMS float64
	SlowMS     float64
}

// latencyView is one latency: p50 and p99 of the recent samples and the
// latest; Have is false before the first sample.
type latencyView struct {
	Have           bool
	P50, P99, Last string
}

// canaryStates are the canary's states as the page names and colours
// them: a canary that writes is running; one that skips on a read-only
// server does what it should.
var canaryStates = map[string][2]string{
	canary.StateStarting:    {"starting", "muted"},
	canary.StateWriting:     {"running", "ok"},
	canary.StateSkipped:     {"skipped", "info"},
	canary.StateUnavailable: {"unavailable", "warning"},
	canary.StateFailing:     {"failing", "warning"},
}

// canaryPage turns the canary's status into its card; off when nil.
func canaryPage(st *canary.Status) canaryView {
	if st == nil {
		return canaryView{}
	}
	v := canaryView{On: true, State: st.State, Label: st.State, Sev: "muted", Reason: st.Reason,
		Commit: latency(st.CommitMS, st.LastCommitMS), Delivery: latency(st.DeliveryMS, st.LastDeliveryMS),
		Writes: st.Writes, Timeouts: st.Timeouts, Killed: st.Killed, IntervalMS: st.IntervalMS, SlowMS: st.SlowMS}
	if ls, ok := canaryStates[st.State]; ok {
		v.Label, v.Sev = ls[0], ls[1]
	}
	if st.InFlightMS != nil {
		v.InFlight = millis(*st.InFlightMS)
	}
	return v
}

func latency(sum *stream.LatencySummary, last *float64) latencyView {
	if sum == nil || last == nil {
		return latencyView{}
	}
	return latencyView{Have: true, P50: millis(sum.P50), P99: millis(sum.P99), Last: millis(*last)}
}

// millis renders a latency in milliseconds with three significant
// figures, in seconds from 10 s on.
func millis(ms float64) string {
	switch {
	case ms >= 10_000:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
}

type timelineView struct {
	TimelineEntry
	Sev string // the icon and colour: the severity when fired, ok when resolved
}

// buildPage turns the /status document and the history into the page.
func buildPage(name string, rep health.Report, bus events.Stats, hist HistoryView, now time.Time) pageView {
	v := pageView{Name: name, Health: rep.Health.String(), At: now, PollAt: rep.At, Server: rep.Server,
		Replicas: rep.Replicas, DumpThreads: rep.DumpThreads, Inventory: rep.Inventory, SemiSync: rep.SemiSync,
		Step: HistoryStep, TimelineMax: HistoryEvents, Bus: bus, CSS: template.CSS(pageCSS), JS: template.JS(pageJS)}
	if v.Name == "" {
		v.Name = "binlog-sidecar"
	}
	if rep.Stream != nil {
		v.Stream = *rep.Stream
	}
	v.StreamState, v.StreamSev = streamState(v.Stream)

	v.Problems = problemsBySeverity(rep.Problems, now)
	for name, c := range rep.Checks {
		if c.State == health.CheckUnknown || c.State == health.CheckUnavailable {
			v.Blind = append(v.Blind, checkView{Name: name, State: c.State, Reason: c.Reason})
		}
	}
	slices.SortFunc(v.Blind, func(a, b checkView) int { return strings.Compare(a.Name, b.Name) })
	for _, st := range health.ReplicaStatuses() {
		v.ReplicaCount = append(v.ReplicaCount, countView{Name: st, N: rep.Counts.Replicas[st]})
	}

	var span time.Duration
	v.Sparks, span = sparks(hist.Rates, now)
	v.HaveRates, v.Span = span > 0, humanDuration(span)
	for _, e := range hist.Timeline {
		sev := string(e.Severity)
		if e.State == health.StateResolved {
			sev = "ok"
		}
		v.Timeline = append(v.Timeline, timelineView{TimelineEntry: e, Sev: sev})
	}
	return v
}

// problemsBySeverity orders problems critical first, then by how long
// they have been firing (oldest first), with their evidence as JSON.
func problemsBySeverity(ps []health.Problem, now time.Time) []problemView {
	rank := map[health.Severity]int{health.SeverityCritical: 0, health.SeverityWarning: 1, health.SeverityInfo: 2}
	out := make([]problemView, 0, len(ps))
	for _, p := range ps {
		ev, err := json.MarshalIndent(p.Evidence, "", "  ")
		if err != nil {
			ev = []byte(fmt.Sprintf("evidence not encodable: %v", err))
		}
		out = append(out, problemView{Problem: p, For: "for " + humanDuration(now.Sub(p.Since)), EvidenceJSON: string(ev)})
	}
	slices.SortStableFunc(out, func(a, b problemView) int {
		ra, oka := rank[a.Severity]
		rb, okb := rank[b.Severity]
		if !oka {
			ra = 3
		}
		if !okb {
			rb = 3
		}
		return cmp.Or(cmp.Compare(ra, rb), a.Since.Compare(b.Since), strings.Compare(a.Type, b.Type),
			strings.Compare(a.Subject, b.Subject))
	})
	return out
}

// streamState names the stream's state and its icon.
func streamState(s stream.Snapshot) (state, sev string) {
	switch {
	case s.At.IsZero():
		return "not started", "muted"
	case !s.Connected:
		return "down", "critical"
	case s.Stalled():
		return "stalled: nothing received for " + humanDuration(s.At.Sub(s.QuietSince())), "warning"
	case s.CaughtUp:
		return "connected, caught up", "ok"
	}
	return "connected", "ok"
}

// sparkView is one rate chart: an SVG polyline in a W×H box.
type sparkView struct {
	Name, Now, Max string
	W, H           int
	Points         string
}

const sparkW, sparkH = 300, 40

// sparks builds the four rate charts ending at now. They cover the
// HistoryWindow, or less while the history is younger (at least a minute),
// so that a sidecar started a minute ago shows a chart, not a dot; the span
// is returned (0 without points).
func sparks(rates []RatePoint, now time.Time) ([]sparkView, time.Duration) {
	from := now.Add(-HistoryWindow)
	var in []RatePoint
	for _, p := range rates {
		if !p.At.Before(from) && !p.At.After(now) {
			in = append(in, p)
		}
	}
	span := time.Duration(0)
	if len(in) > 0 {
		// Each point stands for the step before it.
		span = min(HistoryWindow, max(time.Minute, now.Sub(in[0].At)+HistoryStep))
		from = now.Add(-span)
	}
	series := []struct {
		name, unit string
		get        func(RatePoint) float64
	}{
		{"events/s", "", func(p RatePoint) float64 { return p.Events }},
		{"bytes/s", "B", func(p RatePoint) float64 { return p.Bytes }},
		{"rows/s", "", func(p RatePoint) float64 { return p.Rows }},
		{"transactions/s", "", func(p RatePoint) float64 { return p.Transactions }},
	}
	out := make([]sparkView, 0, len(series))
	for _, s := range series {
		ts := make([]time.Time, len(in))
		vs := make([]float64, len(in))
		for i, p := range in {
			ts[i], vs[i] = p.At, s.get(p)
		}
		sv := sparkView{Name: s.name, W: sparkW, H: sparkH, Now: "—", Max: "—",
			Points: sparkPoints(ts, vs, from, span, sparkW, sparkH)}
		if len(vs) > 0 {
			sv.Now, sv.Max = human(vs[len(vs)-1], s.unit), human(slices.Max(vs), s.unit)
		}
		out = append(out, sv)
	}
	return out, span
}

// sparkPoints places each value at its time within [from, from+window] on
// the x axis and scales the values to the box's height, the largest at the
// top; all zero is a line along the bottom. A single point is drawn as a
// short flat segment so that it is visible.
func sparkPoints(ts []time.Time, vs []float64, from time.Time, window time.Duration, w, h int) string {
	if len(vs) == 0 || window <= 0 {
		return ""
	}
	top := slices.Max(vs)
	y := func(v float64) string {
		if top <= 0 || v <= 0 || math.IsNaN(v) {
			return strconv.Itoa(h)
		}
		return strconv.FormatFloat(float64(h)-v/top*float64(h), 'f', 1, 64)
	}
	x := func(t time.Time) float64 {
		return math.Max(0, math.Min(float64(w), float64(t.Sub(from))/float64(window)*float64(w)))
	}
	var b strings.Builder
	for i := range vs {
		xi := x(ts[i])
		if len(vs) == 1 {
			fmt.Fprintf(&b, "%s,%s ", strconv.FormatFloat(math.Max(0, xi-4), 'f', 1, 64), y(vs[i]))
		}
		fmt.Fprintf(&b, "%s,%s ", strconv.FormatFloat(xi, 'f', 1, 64), y(vs[i]))
	}
	return strings.TrimSpace(b.String())
}

// human writes v with three significant figures and an SI prefix.
func human(v float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T"}
	i := 0
	for math.Abs(v) >= 999.5 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	var s string
	switch {
	case v == 0:
		s = "0"
	case math.Abs(v) >= 99.95:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 9.995:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if p := prefixes[i] + unit; p != "" {
		s += " " + p
	}
	return s
}

// humanDuration is d to the second, at most two units ("3m12s", "2h5m").
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return d.String()
}

var pageFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("15:04:05") + " UTC"
	},
	"ms":    func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" },
	"join":  func(s []string) string { return strings.Join(s, ", ") },
	"bytes": func(n any) string { return human(toFloat(n), "B") },
	"float": toFloat,
	// icon names the shape that goes with a health, severity or state:
	// a check, a triangle, an octagon, a circled i or a dashed circle.
	"icon": func(v any) string {
		switch fmt.Sprint(v) {
		case "ok":
			return "ok"
		case "degraded", "warning":
			return "warning"
		case "critical":
			return "critical"
		case "info":
			return "info"
		}
		return "muted"
	},
	// replicaSev is how bad a replica status is.
	"replicaSev": func(status string) string {
		switch status {
		case health.ReplicaConnected:
			return "ok"
		case health.ReplicaZombie:
			return "critical"
		case health.ReplicaMissing, health.ReplicaUnknown:
			return "warning"
		}
		return "muted"
	},
}

func toFloat(n any) float64 {
	switch x := n.(type) {
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	case *int64: // an optional figure, known when given
		return float64(*x)
	case *float64:
		return *x
	}
	return math.NaN()
}
