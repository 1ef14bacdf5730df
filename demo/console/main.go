// Command console is the demo's screen: it reads the sidecar's events from
// NATS, as any consumer would, and its /status, and prints both in a form a
// person can follow live. It is a consumer of the public contract only.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type cloudEvent struct {
	Type    string    `json:"type"`
	Subject string    `json:"subject"`
	Time    time.Time `json:"time"`
	Data    struct {
		Severity    string         `json:"severity"`
		Summary     string         `json:"summary"`
		State       string         `json:"state"`
		Remediation string         `json:"remediation"`
		Evidence    map[string]any `json:"evidence"`
		PerSecond   map[string]any `json:"per_second"`
		LagSeconds  *float64       `json:"lag_seconds"`
		LagUnknown  string         `json:"lag_unknown"`
		Canary      *struct {
			CommitMS   *latency `json:"commit_ms"`
			DeliveryMS *latency `json:"delivery_ms"`
			State      string   `json:"state"`
		} `json:"canary"`
	} `json:"data"`
}

// latency is a p50/p99/max summary in milliseconds.
type latency struct{ P50, P99, Max float64 }

type status struct {
	Health string `json:"health"`
	Stream struct {
		Connected    bool                                    `json:"connected"`
		Bytes        uint64                                  `json:"bytes"`
		Transactions uint64                                  `json:"transactions"`
		LagSeconds   *float64                                `json:"lag_seconds"`
		LagUnknown   string                                  `json:"lag_unknown"`
		BehindBytes  *int64                                  `json:"behind_bytes"`
		Rows         struct{ Insert, Update, Delete uint64 } `json:"rows"`
		Position     struct {
			File string `json:"file"`
			Pos  uint32 `json:"pos"`
		} `json:"position"`
	} `json:"stream"`
	Replicas []struct {
		Address string `json:"address"`
		Status  string `json:"status"`
	} `json:"replicas"`
	Problems []struct {
		Type string `json:"type"`
	} `json:"problems"`
	// Canary is there with SIDECAR_CANARY=true.
	Canary *struct {
		State          string   `json:"state"`
		Reason         string   `json:"reason"`
		LastCommitMS   *float64 `json:"last_commit_ms"`
		LastDeliveryMS *float64 `json:"last_delivery_ms"`
		InFlightMS     *float64 `json:"in_flight_ms"`
	} `json:"canary"`
}

const (
	reset  = "\033[0m"
	bold   = "\033[1m"
	red    = "\033[31m"
	yellow = "\033[33m"
	green  = "\033[32m"
	dim    = "\033[2m"
)

func main() {
	natsURL := flag.String("nats", nats.DefaultURL, "NATS URL")
	subject := flag.String("subject", "mysql.health.>", "subject to follow")
	streamName := flag.String("stream", "MYSQL_HEALTH", "JetStream stream to replay from its start (empty: live core NATS only)")
	statusURL := flag.String("status", "http://127.0.0.1:9106/status", "the sidecar's /status")
	every := flag.Duration("every", 2*time.Second, "how often to print the status line")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *natsURL, *subject, *streamName, *statusURL, *every); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, natsURL, subject, streamName, statusURL string, every time.Duration) error {
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 256)
	stop, err := follow(ctx, nc, subject, streamName, msgs)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("%sfollowing %s on %s and %s%s\n", dim, subject, natsURL, statusURL, reset)

	tick := time.NewTicker(every)
	defer tick.Stop()
	var prev *status
	var prevAt time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			printEvent(m)
		case now := <-tick.C:
			st, err := fetch(ctx, statusURL)
			if err != nil {
				fmt.Printf("%s%s status: %v%s\n", dim, now.Format(time.TimeOnly), err, reset)
				continue
			}
			printStatus(now, st, prev, now.Sub(prevAt))
			prev, prevAt = st, now
		}
	}
}

// follow delivers the events to msgs: from the start of the JetStream
// stream where there is one, so that nothing published before the console
// started is missed, else live from core NATS.
func follow(ctx context.Context, nc *nats.Conn, subject, streamName string, msgs chan *nats.Msg) (func(), error) {
	if streamName != "" {
		js, err := jetstream.New(nc)
		if err == nil {
			var cons jetstream.Consumer
			for i := 0; i < 50; i++ { // the sidecar creates the stream at start
				cons, err = js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
					FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
				if err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err == nil {
				cc, err := cons.Consume(func(m jetstream.Msg) {
					msgs <- &nats.Msg{Subject: m.Subject(), Data: m.Data()}
				})
				if err == nil {
					return cc.Stop, nil
				}
			}
		}
		fmt.Printf("%sjetstream stream %s not readable (%v); following live messages only%s\n", dim, streamName, err, reset)
	}
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return func() { sub.Unsubscribe() }, nil
}

func fetch(ctx context.Context, url string) (*status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st status
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

func printStatus(now time.Time, st, prev *status, dt time.Duration) {
	color := green
	switch st.Health {
	case "degraded":
		color = yellow
	case "critical":
		color = red
	}
	rate := func(cur, old uint64) string {
		if prev == nil || dt <= 0 || cur < old {
			return "-"
		}
		return fmt.Sprintf("%.0f", float64(cur-old)/dt.Seconds())
	}
	var rowsNow, rowsPrev uint64
	rowsNow = st.Stream.Rows.Insert + st.Stream.Rows.Update + st.Stream.Rows.Delete
	if prev != nil {
		rowsPrev = prev.Stream.Rows.Insert + prev.Stream.Rows.Update + prev.Stream.Rows.Delete
	}
	var bps string = "-"
	if prev != nil && dt > 0 && st.Stream.Bytes >= prev.Stream.Bytes {
		bps = fmt.Sprintf("%.1f KB/s", float64(st.Stream.Bytes-prev.Stream.Bytes)/dt.Seconds()/1000)
	}
	conn := "connected"
	if !st.Stream.Connected {
		conn = red + "DOWN" + reset
	}
	var reps []string
	for _, r := range st.Replicas {
		c := green
		if r.Status != "connected" {
			c = red
		}
		reps = append(reps, fmt.Sprintf("%s %s%s%s", r.Address, c, r.Status, reset))
	}
	sort.Strings(reps)
	fmt.Printf("%s %s%-8s%s stream %s %s tx/s %s rows/s %s lag %s at %s:%d |%s replicas: %s\n",
		now.Format(time.TimeOnly), color+bold, strings.ToUpper(st.Health), reset, conn,
		rate(st.Stream.Transactions, prevTx(prev)), rate(rowsNow, rowsPrev), bps,
		lagText(st.Stream.LagSeconds, st.Stream.LagUnknown), st.Stream.Position.File, st.Stream.Position.Pos,
		commitText(st), strings.Join(reps, ", "))
}

// commitText is what an application commit costs now, as the canary
// measures it: the last write's commit latency, or how long the write in
// flight has waited (red past a second).
func commitText(st *status) string {
	c := st.Canary
	if c == nil {
		return ""
	}
	if c.State != "writing" && c.InFlightMS == nil {
		return fmt.Sprintf(" commit %s (%s) |", c.State, c.Reason)
	}
	ms, what := 0.0, "commit"
	switch {
	case c.InFlightMS != nil && (c.LastCommitMS == nil || *c.InFlightMS > *c.LastCommitMS):
		ms, what = *c.InFlightMS, "commit waiting"
	case c.LastCommitMS != nil:
		ms = *c.LastCommitMS
	}
	color := green
	if ms > 1000 {
		color = red + bold
	}
	out := fmt.Sprintf(" %s%s %s%s", color, what, msText(ms), reset)
	if c.LastDeliveryMS != nil {
		out += ", delivery " + msText(*c.LastDeliveryMS)
	}
	return out + " |"
}

// msText prints milliseconds below a second, else seconds.
func msText(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.1fs", ms/1000)
}

// lagText prints a lag, or that it is not known and why.
func lagText(lag *float64, unknown string) string {
	if lag == nil {
		return "unknown (" + unknown + ")"
	}
	return msText(*lag * 1000) // exact to the millisecond with the canary
}

func prevTx(p *status) uint64 {
	if p == nil {
		return 0
	}
	return p.Stream.Transactions
}

func printEvent(m *nats.Msg) {
	var e cloudEvent
	if err := json.Unmarshal(m.Data, &e); err != nil {
		fmt.Printf("%s%s (not JSON: %v)%s\n", dim, m.Subject, err, reset)
		return
	}
	short := strings.TrimPrefix(e.Type, "binlog_sidecar.")
	if short == "stream.stats" {
		ps := func(k string) float64 { f, _ := e.Data.PerSecond[k].(float64); return f }
		canary := ""
		if c := e.Data.Canary; c != nil && c.CommitMS != nil {
			canary = fmt.Sprintf(", commit p50 %s p99 %s", msText(c.CommitMS.P50), msText(c.CommitMS.P99))
			if c.DeliveryMS != nil {
				canary += fmt.Sprintf(", delivery p50 %s p99 %s", msText(c.DeliveryMS.P50), msText(c.DeliveryMS.P99))
			}
		}
		fmt.Printf("%s%s stats     %s: %.0f events/s, %.0f rows/s, %.0f tx/s, %.1f KB/s, lag %s%s%s\n", dim, e.Time.Local().Format(time.TimeOnly),
			m.Subject, ps("events"), ps("rows"), ps("transactions"), ps("bytes")/1000, lagText(e.Data.LagSeconds, e.Data.LagUnknown), canary, reset)
		return
	}
	color := green
	switch e.Data.Severity {
	case "critical":
		color = red
	case "warning":
		color = yellow
	}
	if e.Data.State == "resolved" {
		color = green
	}
	state := e.Data.State
	if state == "" {
		state = "event"
	}
	fmt.Printf("%s%s %-8s %-22s %-8s%s %s\n    %s\n", color+bold, e.Time.Local().Format(time.TimeOnly), strings.ToUpper(e.Data.Severity),
		short, state, reset, e.Subject, e.Data.Summary)
	if e.Data.Remediation != "" && e.Data.State != "resolved" {
		fmt.Printf("    %sfix:%s %s\n", bold, reset, e.Data.Remediation)
	}
	if len(e.Data.Evidence) > 0 && e.Data.State != "resolved" {
		keys := make([]string, 0, len(e.Data.Evidence))
		for k := range e.Data.Evidence {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			if k == "sql" || k == "queries" {
				continue
			}
			b, _ := json.Marshal(e.Data.Evidence[k])
			s := string(b)
			if len(s) > 80 {
				s = s[:77] + "..."
			}
			parts = append(parts, k+"="+s)
		}
		fmt.Printf("    %sevidence: %s%s\n", dim, strings.Join(parts, " "), reset)
	}
	fmt.Printf("    %ssubject %s%s\n", dim, m.Subject, reset)
}
