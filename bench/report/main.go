// Command report turns the run records of bench/run.sh into the tables,
// ratios and PASS/MISS lines of `make bench`, and writes them as JSON.
// See bench/README.md.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets: the sidecar against the floor (the framing-only reader) on the
// same bytes, and against a real replica's IO thread on the same primary,
// in the same run.
const (
	TargetMBpsRatio    = 0.75 // replay: sidecar MB/s ÷ framing MB/s, at least
	TargetCPURatio     = 2.5  // replay: sidecar CPU s ÷ framing CPU s, at most
	TargetRSSMiB       = 32   // replay: sidecar peak RSS, at most
	TargetLiveCPURatio = 0.5  // live: sidecar CPU s ÷ replica IO thread's, at most
	TargetLiveTPSRatio = 1.0  // live: primary tps with sidecar ÷ with replica attached, at least
	TargetLatencyP99Ms = 100  // live: sidecar event-to-counted p99, at most
)

type readerResult struct {
	Mode   string  `json:"mode"`
	File   string  `json:"file"`
	Start  uint32  `json:"start"`
	End    uint32  `json:"end"`
	Events uint64  `json:"events"`
	Bytes  uint64  `json:"bytes"`
	Rows   uint64  `json:"rows"`
	Wall   float64 `json:"wall_s"`
	// Latency is the sidecar's probe: event-to-counted times of one run.
	Latency *struct {
		Samples int     `json:"samples"`
		P50Ms   float64 `json:"p50_ms"`
		P99Ms   float64 `json:"p99_ms"`
		MaxMs   float64 `json:"max_ms"`
	} `json:"latency"`
}

// record is one line of records.jsonl, written by run.sh.
type record struct {
	Phase      string        `json:"phase"`
	Reader     string        `json:"reader"`
	Round      int           `json:"round"`
	Wall       float64       `json:"wall_s"`
	User       float64       `json:"user_s"`
	Sys        float64       `json:"sys_s"`
	RSSKiB     float64       `json:"rss_kib"`
	PrimaryCPU float64       `json:"primary_cpu_s"`
	LoadAvg    float64       `json:"loadavg"`
	TPS        float64       `json:"tps,omitempty"`
	SBWall     float64       `json:"sysbench_wall_s,omitempty"`
	Result     *readerResult `json:"result"`
}

// ReplayRow is one reader's medians over its replay runs.
type ReplayRow struct {
	Reader        string    `json:"reader"`
	Runs          int       `json:"runs"`
	Walls         []float64 `json:"walls_s"`
	Wall          float64   `json:"wall_s"`
	MBps          float64   `json:"mb_per_s"`
	EventsPerSec  float64   `json:"events_per_s"`
	User          float64   `json:"user_s"`
	Sys           float64   `json:"sys_s"`
	CPU           float64   `json:"cpu_s"`
	RSSMiB        float64   `json:"peak_rss_mib"`
	MaxRSSMiB     float64   `json:"max_peak_rss_mib"`
	PrimaryCPU    float64   `json:"primary_cpu_s"`
	EventsHanded  uint64    `json:"events_handed"`
	Rows          uint64    `json:"rows"`
	CPUPerMEvents float64   `json:"cpu_s_per_1m_events"`
}

// LiveRow is one reader's medians over its live-cost runs.
type LiveRow struct {
	Reader        string    `json:"reader"`
	Runs          int       `json:"runs"`
	TPSs          []float64 `json:"tps_runs"`
	TPS           float64   `json:"tps"`
	SysbenchWall  float64   `json:"sysbench_wall_s"`
	PrimaryCPU    float64   `json:"primary_cpu_s"`
	User          float64   `json:"user_s"`
	Sys           float64   `json:"sys_s"`
	CPU           float64   `json:"cpu_s"`
	RSSMiB        float64   `json:"peak_rss_mib"`
	Events        uint64    `json:"events"`
	CPUPerMEvents float64   `json:"cpu_s_per_1m_events"`
	// TPSVsNone is TPS ÷ the median tps with nothing attached.
	TPSVsNone float64 `json:"tps_vs_none"`
	// Latency: medians over the runs of each run's p50 and p99 (ms), and
	// the samples of all runs.
	LatencyP50Ms   float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99Ms   float64 `json:"latency_p99_ms,omitempty"`
	LatencySamples int     `json:"latency_samples,omitempty"`
}

// Check is one target, PASS or MISS.
type Check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Op     string  `json:"op"`
	Target float64 `json:"target"`
	Pass   bool    `json:"pass"`
}

// Ratio is an informational comparison without a target.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Results is the JSON file of one run.
type Results struct {
	Date             time.Time   `json:"date"`
	Quick            bool        `json:"quick"`
	Host             Host        `json:"host"`
	File             string      `json:"file"`
	Size             int64       `json:"size_bytes"`
	FileEvents       uint64      `json:"file_events"`
	Transactions     int         `json:"transactions"`
	BuildTPS         float64     `json:"build_tps"`
	LiveTransactions int         `json:"live_transactions"`
	Replay           []ReplayRow `json:"replay"`
	Live             []LiveRow   `json:"live"`
	Checks           []Check     `json:"checks"`
	Ratios           []Ratio     `json:"ratios"`
	Records          []record    `json:"records"`
}

// Host says where the numbers come from; they only compare within a run.
type Host struct {
	CPUs      int     `json:"cpus"`
	GoVersion string  `json:"go"`
	MariaDB   string  `json:"mariadbd"`
	LoadMin   float64 `json:"loadavg_min"`
	LoadMax   float64 `json:"loadavg_max"`
}

func main() {
	var (
		recordsPath, out, file, mariadbd string
		size                             int64
		tx, liveTx                       int
		buildTPS                         float64
		quick                            bool
	)
	flag.StringVar(&recordsPath, "records", "", "records.jsonl written by run.sh")
	flag.StringVar(&out, "out", "", "write the results JSON here")
	flag.StringVar(&file, "file", "", "binlog file replayed")
	flag.Int64Var(&size, "size", 0, "its size in bytes")
	flag.IntVar(&tx, "transactions", 0, "sysbench transactions in it")
	flag.Float64Var(&buildTPS, "build-tps", 0, "sysbench tps while it was written")
	flag.IntVar(&liveTx, "live-transactions", 0, "sysbench transactions per live run")
	flag.StringVar(&mariadbd, "mariadbd", "", "mariadbd --version")
	flag.BoolVar(&quick, "quick", false, "BENCH_QUICK run")
	flag.Parse()

	recs, err := readRecords(recordsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	res := Results{
		Date: time.Now().UTC().Truncate(time.Second), Quick: quick,
		Host: Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), MariaDB: strings.TrimSpace(mariadbd)},
		File: file, Size: size, Transactions: tx, BuildTPS: buildTPS, LiveTransactions: liveTx,
		Records: recs,
	}
	evaluate(&res)
	render(os.Stdout, &res)
	if out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

func readRecords(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open records: %w", err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("parse record %q: %w", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// order lists readers in the order of their first record.
func order(recs []record, phase string) []string {
	var names []string
	for _, r := range recs {
		if r.Phase == phase && !slices.Contains(names, r.Reader) {
			names = append(names, r.Reader)
		}
	}
	return names
}

func pick(recs []record, phase, reader string, f func(record) float64) []float64 {
	var xs []float64
	for _, r := range recs {
		if r.Phase == phase && r.Reader == reader {
			xs = append(xs, f(r))
		}
	}
	return xs
}

// evaluate fills in what the records say: the load range, the file's event
// count, one row per reader and phase, then the targets and the ratios.
func evaluate(res *Results) {
	res.loadRange()
	res.countFileEvents()
	replay := res.replayRows()
	live := res.liveRows()
	res.checkTargets(replay, live)
	res.compareReaders(replay, live)
}

// loadRange is the lowest and highest load average of the runs.
func (res *Results) loadRange() {
	for i, r := range res.Records {
		if i == 0 || r.LoadAvg < res.Host.LoadMin {
			res.Host.LoadMin = r.LoadAvg
		}
		res.Host.LoadMax = max(res.Host.LoadMax, r.LoadAvg)
	}
}

// countFileEvents is the file's event count: what a reader that sees every
// event counted, from the first of those readers that ran.
func (res *Results) countFileEvents() {
	for _, name := range []string{"framing", "raw", "full", "sidecar"} {
		for _, r := range res.Records {
			if r.Phase == "replay" && r.Reader == name && r.Result != nil && r.Result.Events > 0 {
				res.FileEvents = r.Result.Events
				return
			}
		}
	}
}

// replayRows appends each replay reader's medians to res.Replay and
// returns them by reader.
func (res *Results) replayRows() map[string]ReplayRow {
	rows := map[string]ReplayRow{}
	for _, name := range order(res.Records, "replay") {
		row := res.replayRow(name)
		rows[name] = row
		res.Replay = append(res.Replay, row)
	}
	return rows
}

// usage is what every reader costs, as medians over its runs of one phase.
type usage struct{ user, sys, cpu, rssMiB, primaryCPU float64 }

// medianUsage is the usage of reader name in phase.
func medianUsage(recs []record, phase, name string) usage {
	get := func(f func(record) float64) []float64 { return pick(recs, phase, name, f) }
	return usage{
		user:       median(get(func(r record) float64 { return r.User })),
		sys:        median(get(func(r record) float64 { return r.Sys })),
		cpu:        median(get(func(r record) float64 { return r.User + r.Sys })),
		rssMiB:     median(get(func(r record) float64 { return r.RSSKiB / 1024 })),
		primaryCPU: median(get(func(r record) float64 { return r.PrimaryCPU })),
	}
}

// replayRow is one replay reader's medians, its rates over the file and
// its CPU per million of the file's events.
func (res *Results) replayRow(name string) ReplayRow {
	recs := res.Records
	walls := pick(recs, "replay", name, func(r record) float64 { return r.Wall })
	u := medianUsage(recs, "replay", name)
	row := ReplayRow{
		Reader: name, Runs: len(walls), Walls: walls, Wall: median(walls),
		User: u.user, Sys: u.sys, CPU: u.cpu, RSSMiB: u.rssMiB, PrimaryCPU: u.primaryCPU,
		MaxRSSMiB: slices.Max(pick(recs, "replay", name, func(r record) float64 { return r.RSSKiB / 1024 })),
	}
	for _, r := range recs {
		if r.Phase == "replay" && r.Reader == name && r.Result != nil {
			row.EventsHanded, row.Rows = r.Result.Events, r.Result.Rows
		}
	}
	if row.Wall > 0 {
		row.MBps = float64(res.Size) / 1e6 / row.Wall
		row.EventsPerSec = float64(res.FileEvents) / row.Wall
	}
	if res.FileEvents > 0 {
		row.CPUPerMEvents = row.CPU / float64(res.FileEvents) * 1e6
	}
	return row
}

// liveRows appends each live reader's medians to res.Live, each with its
// tps against the run with nothing attached, and returns them by reader.
func (res *Results) liveRows() map[string]LiveRow {
	live := map[string]LiveRow{}
	for _, name := range order(res.Records, "live") {
		row := liveRow(res.Records, name)
		live[name] = row
		res.Live = append(res.Live, row)
	}
	for name, row := range live {
		if n, ok := live["none"]; ok && n.TPS > 0 {
			row.TPSVsNone = row.TPS / n.TPS
			live[name] = row
		}
	}
	for i := range res.Live {
		res.Live[i] = live[res.Live[i].Reader]
	}
	return live
}

// liveRow is one live reader's medians; "none" (nothing attached) reads
// no events, so it has no per-event cost and no latency.
func liveRow(recs []record, name string) LiveRow {
	get := func(f func(record) float64) []float64 { return pick(recs, "live", name, f) }
	tps := get(func(r record) float64 { return r.TPS })
	u := medianUsage(recs, "live", name)
	row := LiveRow{
		Reader: name, Runs: len(tps), TPSs: tps, TPS: median(tps),
		SysbenchWall: median(get(func(r record) float64 { return r.SBWall })),
		User:         u.user, Sys: u.sys, CPU: u.cpu, RSSMiB: u.rssMiB, PrimaryCPU: u.primaryCPU,
	}
	if name == "none" {
		return row
	}
	row.CPUPerMEvents = median(get(func(r record) float64 {
		if r.Result == nil || r.Result.Events == 0 {
			return 0
		}
		return (r.User + r.Sys) / float64(r.Result.Events) * 1e6
	}))
	var p50, p99 []float64
	for _, r := range recs {
		if r.Phase == "live" && r.Reader == name && r.Result != nil {
			row.Events = r.Result.Events
			if l := r.Result.Latency; l != nil {
				p50, p99 = append(p50, l.P50Ms), append(p99, l.P99Ms)
				row.LatencySamples += l.Samples
			}
		}
	}
	row.LatencyP50Ms, row.LatencyP99Ms = median(p50), median(p99)
	return row
}

// checkTargets appends a PASS/MISS check for each target whose readers ran.
func (res *Results) checkTargets(replay map[string]ReplayRow, live map[string]LiveRow) {
	sc, okS := replay["sidecar"]
	fr, okF := replay["framing"]
	if okS && okF {
		res.Checks = append(res.Checks,
			check("replay MB/s sidecar ÷ framing", fr.Wall/sc.Wall, ">=", TargetMBpsRatio),
			check("replay CPU s sidecar ÷ framing", sc.CPU/fr.CPU, "<=", TargetCPURatio),
		)
	}
	if okS {
		res.Checks = append(res.Checks, check("replay peak RSS MiB sidecar (max of runs)", sc.MaxRSSMiB, "<=", TargetRSSMiB))
	}
	ls, okLS := live["sidecar"]
	lrep, okRep := live["replica"]
	if okLS && okRep {
		res.Checks = append(res.Checks,
			check("live reader CPU s sidecar ÷ replica IO thread", ls.CPU/lrep.CPU, "<=", TargetLiveCPURatio),
			check("live primary tps sidecar ÷ replica", ls.TPS/lrep.TPS, ">=", TargetLiveTPSRatio),
		)
	}
	if okLS && ls.LatencySamples > 0 {
		res.Checks = append(res.Checks, check("live event-to-counted p99 ms sidecar", ls.LatencyP99Ms, "<=", TargetLatencyP99Ms))
	}
}

// compareReaders appends the sidecar's ratios to each other reader that ran.
func (res *Results) compareReaders(replay map[string]ReplayRow, live map[string]LiveRow) {
	sc, okS := replay["sidecar"]
	for _, other := range []string{"raw", "mariadb-binlog", "canal", "full"} {
		if o, ok := replay[other]; ok && okS {
			res.Ratios = append(res.Ratios,
				Ratio{"replay MB/s sidecar ÷ " + other, o.Wall / sc.Wall},
				Ratio{"replay CPU s sidecar ÷ " + other, sc.CPU / o.CPU},
			)
		}
	}
	ls, okLS := live["sidecar"]
	for _, other := range []string{"framing", "raw", "replica"} {
		if o, ok := live[other]; ok && okLS && o.CPU > 0 {
			res.Ratios = append(res.Ratios,
				Ratio{"live reader CPU s sidecar ÷ " + other, ls.CPU / o.CPU},
				Ratio{"live primary tps sidecar ÷ " + other, ls.TPS / o.TPS},
			)
		}
	}
}

func check(name string, v float64, op string, target float64) Check {
	pass := v >= target
	if op == "<=" {
		pass = v <= target
	}
	return Check{Name: name, Value: v, Op: op, Target: target, Pass: pass}
}

func render(w io.Writer, res *Results) {
	fmt.Fprintf(w, "\n== binlog replay: %s, %d bytes (%.1f MB), %d events, %d sysbench tx\n",
		res.File, res.Size, float64(res.Size)/1e6, res.FileEvents, res.Transactions)
	fmt.Fprintf(w, "   %d CPUs, %s, %s; load average %.2f–%.2f during the runs; medians of %s\n\n",
		res.Host.CPUs, res.Host.MariaDB, res.Host.GoVersion, res.Host.LoadMin, res.Host.LoadMax, runsOf(res))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\twalls s\twall s\tMB/s\tevents/s\tuser s\tsys s\tCPU s\tCPU s/1M ev\tRSS MiB\tprimary CPU s\t")
	for _, r := range res.Replay {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t\n",
			r.Reader, joinF(r.Walls), r.Wall, r.MBps, r.EventsPerSec, r.User, r.Sys, r.CPU, r.CPUPerMEvents, r.RSSMiB, r.PrimaryCPU)
	}
	tw.Flush()
	if len(res.Live) > 0 {
		fmt.Fprintf(w, "\n== live cost: reader attached at the end while sysbench writes %d tx (--threads=2)\n\n", res.LiveTransactions)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "reader\ttps runs\ttps\t× none\tsysbench s\tprimary CPU s\treader user s\treader sys s\treader CPU s\tRSS MiB\tCPU s/1M ev\tp50 ms\tp99 ms\t")
		for _, r := range res.Live {
			if r.Reader == "none" {
				fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t–\t–\t–\t–\t–\t–\t–\t\n",
					r.Reader, joinF0(r.TPSs), r.TPS, r.TPSVsNone, r.SysbenchWall, r.PrimaryCPU)
				continue
			}
			perM, p50, p99 := "–", "–", "–"
			if r.CPUPerMEvents > 0 {
				perM = fmt.Sprintf("%.2f", r.CPUPerMEvents)
			}
			if r.LatencySamples > 0 {
				p50, p99 = fmt.Sprintf("%.1f", r.LatencyP50Ms), fmt.Sprintf("%.1f", r.LatencyP99Ms)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%s\t\n",
				r.Reader, joinF0(r.TPSs), r.TPS, r.TPSVsNone, r.SysbenchWall, r.PrimaryCPU, r.User, r.Sys, r.CPU, r.RSSMiB, perM, p50, p99)
		}
		tw.Flush()
	}
	if len(res.Ratios) > 0 {
		fmt.Fprintf(w, "\n== ratios (information)\n")
		for _, r := range res.Ratios {
			fmt.Fprintf(w, "   %-48s %.3f\n", r.Name, r.Value)
		}
	}
	fmt.Fprintf(w, "\n== targets (report only; a shared machine makes single runs noisy)\n")
	if len(res.Checks) == 0 {
		fmt.Fprintln(w, "   none evaluated: the sidecar, framing or replica reader did not run")
	}
	for _, c := range res.Checks {
		verdict := "MISS"
		if c.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "   %s  %-44s %8.3f  (target %s %g)\n", verdict, c.Name, c.Value, c.Op, c.Target)
	}
	fmt.Fprintln(w)
}

func runsOf(res *Results) string {
	n := 0
	for _, r := range res.Replay {
		n = max(n, r.Runs)
	}
	for _, r := range res.Live {
		n = max(n, r.Runs)
	}
	return fmt.Sprintf("%d runs per reader, round-robin", n)
}

func joinF(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, "/")
}

func joinF0(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, "/")
}
