package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
)

const fleetUsage = `usage: sidecar fleet [--once] [--format text|json] [--cluster NAME] [--publish] [--http ADDR]

Connects to the bus named by SIDECAR_NATS_URL (embedded: the embedded server at
SIDECAR_NATS_EMBEDDED_ADDR; several URLs for a cluster), with SIDECAR_NATS_CREDS and
SIDECAR_NATS_TLS_CA, reads every sidecar's status from the key-value bucket
SIDECAR_NATS_KV_BUCKET and shows the fleet: one line per primary (health, stream
rate, lag, replicas by status, active problems) and the findings across primaries
(fleet.replica_misdirected, fleet.replica_shared, fleet.sidecar_silent,
fleet.server_id_conflict). A status not updated for 3 periods of
SIDECAR_NATS_KV_EVERY is stale.

  --once           print the fleet once and exit (default: a live view that
                   redraws on every change, with the latest events under it)
  --format F       text (default) or json (with --once)
  --cluster NAME   only the primaries of cluster NAME
  --publish        run as a daemon that publishes the findings as problem events
                   (firing, resolved) on <SIDECAR_NATS_SUBJECT_PREFIX>.fleet.<type>;
                   several may run, each transition is stored once. Needs a
                   connection that may publish and write the bucket
                   <SIDECAR_NATS_KV_BUCKET>_PROBLEMS (not the embedded server's
                   anonymous one)
  --http ADDR      serve the view over HTTP on ADDR (e.g. 127.0.0.1:9107) instead
                   of the terminal: / a page that reloads every 2 s, /fleet.json
                   the view as --once --format json prints it; with the TLS
                   and basic auth of SIDECAR_WEB_CONFIG_FILE and the daemon's
                   HTTP limits (without that file: plain HTTP, no
                   authentication: bind it where only its readers reach it)

Exit 0; 2 on a bad flag or when the bus cannot be reached.
`

// fleetConnectTimeout bounds the first connect and each read of --once.
const fleetConnectTimeout = 10 * time.Second

// fleetFeedLines is how many recent events the live view shows.
const fleetFeedLines = 10

type fleetFlags struct {
	once, publish  bool
	format         string
	http           string
	webConfig      string
	cluster        string
	bucket, prefix string
	every          time.Duration
}

// fleetCommand implements `sidecar fleet`.
func fleetCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	f, nc, err := fleetSetup(args, environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: %v\n", err)
		return exitConfig
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: %v\n", err)
		return exitConfig
	}
	switch {
	case f.once:
		return fleetOnce(ctx, js, f, stdout, stderr)
	case f.publish:
		return fleetPublish(ctx, nc, js, f, stdout, stderr)
	case f.http != "":
		return fleetServe(ctx, js, f, stdout, stderr)
	}
	return fleetLive(ctx, nc, js, f, stdout, stderr)
}

// fleetSetup parses the flags and the bus variables and connects.
func fleetSetup(args, environ []string) (fleetFlags, *nats.Conn, error) {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f fleetFlags
	fs.BoolVar(&f.once, "once", false, "")
	fs.StringVar(&f.format, "format", "text", "")
	fs.StringVar(&f.cluster, "cluster", "", "")
	fs.BoolVar(&f.publish, "publish", false, "")
	fs.StringVar(&f.http, "http", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (f.format != "text" && f.format != "json") || modes(f) > 1 {
		return f, nil, fmt.Errorf("bad arguments %q\n%s", args, fleetUsage)
	}
	cfg, err := loadConfig(environ)
	var cerr *ConfigError
	if err != nil && (!errors.As(err, &cerr) || hasProblem(cerr, envPrefix+"NATS_") ||
		f.http != "" && hasProblem(cerr, envPrefix+"WEB_CONFIG_FILE")) {
		return f, nil, err
	}
	f.webConfig = cfg.WebConfigFile
	if cfg.NATS.KVBucket == "" {
		return f, nil, errors.New("SIDECAR_NATS_KV_BUCKET is empty: there is no fleet status to read")
	}
	f.bucket, f.prefix, f.every = cfg.NATS.KVBucket, cfg.NATS.SubjectPrefix, cfg.NATS.KVEvery
	var urls []string
	switch cfg.NATS.URL {
	case NATSNone:
		return f, nil, errors.New("SIDECAR_NATS_URL=none: there is no bus to read the fleet from")
	case NATSEmbedded:
		urls = []string{"nats://" + cfg.NATS.EmbeddedAddr}
	default:
		urls = cfg.NATSURLs()
	}
	opts := append([]nats.Option{
		nats.Name("binlog-sidecar fleet"), nats.Timeout(fleetConnectTimeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}, events.AuthOptions(cfg.NATS.Creds, cfg.NATS.TLSCA)...)
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return f, nil, fmt.Errorf("connect to %s: %w", events.RedactURLs(strings.Join(urls, ",")), err)
	}
	return f, nc, nil
}

// modes counts the modes asked for: --once, --publish and --http exclude
// each other.
func modes(f fleetFlags) int {
	n := 0
	for _, on := range []bool{f.once, f.publish, f.http != ""} {
		if on {
			n++
		}
	}
	return n
}

// fleetOnce reads the bucket once and prints the view.
func fleetOnce(ctx context.Context, js jetstream.JetStream, f fleetFlags, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, fleetConnectTimeout)
	defer cancel()
	entries, bad, err := kv.Read(ctx, js, f.bucket)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		// No sidecar has written yet: an empty fleet.
	case err != nil:
		fmt.Fprintf(stderr, "sidecar fleet: %v\n", err)
		return exitConfig
	case bad > 0:
		fmt.Fprintf(stderr, "sidecar fleet: %d values in bucket %s are not status documents; left out\n", bad, f.bucket)
	}
	v := fleet.Compute(fleet.Filter(entries, f.cluster, events.Token(f.cluster)), time.Now(), f.every)
	if err := writeView(stdout, v, f.format); err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: %v\n", err)
		return exitFatal
	}
	return exitOK
}

func writeView(w io.Writer, v fleet.View, format string) error {
	if format == "text" {
		return fleet.WriteText(w, v)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// fleetLive shows the view every second from a fresh read of the bucket
// (staleness moves with the clock), with the latest events (all but
// stream.stats), until ctx ends. On a terminal it redraws the screen; into
// a pipe or a file it appends instead: each event as it arrives, and the
// view whenever it changed (fleet.SameView), so a log or a demo's
// narration between the lines stays readable. The connection reconnects
// on its own, so the view outlives a server's loss.
func fleetLive(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, f fleetFlags, stdout, stderr io.Writer) int {
	feed := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(f.prefix+".>", feed)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: subscribe %s.>: %v\n", f.prefix, err)
		return exitConfig
	}
	defer sub.Unsubscribe()
	if !terminal(stdout) {
		return appendFleet(ctx, nc, js, f, stdout, stderr, feed)
	}
	var lines []string
	return watchFleet(ctx, js, f, stderr, feed, func(m *nats.Msg) {
		if line, ok := feedLine(m.Data); ok {
			lines = append(lines, line)
			if len(lines) > fleetFeedLines {
				lines = lines[len(lines)-fleetFeedLines:]
			}
		}
	}, func(v fleet.View) {
		var out strings.Builder
		out.WriteString("\x1b[H\x1b[2J")
		_ = fleet.WriteText(&out, v)
		fmt.Fprintf(&out, "\nevents (latest %d, stream.stats left out):\n", fleetFeedLines)
		for _, l := range lines {
			out.WriteString("  " + l + "\n")
		}
		if !nc.IsConnected() {
			out.WriteString("\n(bus disconnected, reconnecting)\n")
		}
		io.WriteString(stdout, out.String())
	})
}

// appendFleet is the live view into a pipe or a file: events one line
// each as they arrive, the view when it changed, and the bus's loss and
// return once each.
func appendFleet(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, f fleetFlags, stdout, stderr io.Writer, feed <-chan *nats.Msg) int {
	var last *fleet.View
	connected := true
	return watchFleet(ctx, js, f, stderr, feed, func(m *nats.Msg) {
		if line, ok := feedLine(m.Data); ok {
			fmt.Fprintf(stdout, "event %s\n", line)
		}
	}, func(v fleet.View) {
		if now := nc.IsConnected(); now != connected {
			connected = now
			state := "disconnected, reconnecting"
			if now {
				state = "reconnected"
			}
			fmt.Fprintf(stdout, "%s bus %s\n", time.Now().UTC().Format("15:04:05"), state)
		}
		if last != nil && fleet.SameView(*last, v) {
			return
		}
		last = &v
		var out strings.Builder
		out.WriteString("\n")
		_ = fleet.WriteText(&out, v)
		io.WriteString(stdout, out.String())
	})
}

// terminal is isTerminal; tests replace it to draw into a buffer.
var terminal = isTerminal

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fleetPublish publishes the findings' transitions, one line each on
// stdout, until ctx ends. A transition that fails (the bus is away) is
// tried again at the next second.
func fleetPublish(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, f fleetFlags, stdout, stderr io.Writer) int {
	var a *kv.Announcer
	var lastErr string
	return watchFleet(ctx, js, f, stderr, nil, nil, func(v fleet.View) {
		if a == nil {
			rctx, cancel := context.WithTimeout(ctx, fleetConnectTimeout)
			defer cancel()
			records, err := kv.OpenProblems(rctx, js, f.bucket)
			if err == nil {
				b := events.NewBuilder("fleet", nc.Opts.Name)
				a = &kv.Announcer{JS: js, Records: records, Builder: b, Prefix: f.prefix}
				err = a.Load(rctx)
			}
			if err != nil {
				a = nil
				if err.Error() != lastErr {
					fmt.Fprintf(stderr, "sidecar fleet: %v\n", err)
					lastErr = err.Error()
				}
				return
			}
		}
		sctx, cancel := context.WithTimeout(ctx, fleetConnectTimeout)
		defer cancel()
		sent, err := a.Sync(sctx, v.Findings)
		for _, t := range sent {
			dup := ""
			if t.Duplicate {
				dup = " (already published by another)"
			}
			fmt.Fprintf(stdout, "%s %s %s %s%s\n", time.Now().UTC().Format(time.RFC3339), t.Finding.Type, t.State, t.Finding.Subject, dup)
		}
		if err != nil && err.Error() != lastErr {
			fmt.Fprintf(stderr, "sidecar fleet: %v (retrying)\n", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
	})
}

// watchFleet reads the bucket every second (a kv.Follower: what changed,
// by direct reads, no consumer) and calls show with the view, and onFeed
// with each message of feed (nil: none), until ctx ends. Polling rather
// than a key-value watcher: on a cluster that lost a node a watcher could
// stall for minutes (nats-server 2.9), while direct reads go on; a change
// shows within a second.
func watchFleet(ctx context.Context, js jetstream.JetStream, f fleetFlags, stderr io.Writer,
	feed <-chan *nats.Msg, onFeed func(*nats.Msg), show func(fleet.View)) int {
	follower := &kv.Follower{JS: js, Bucket: f.bucket}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case m := <-feed:
			onFeed(m)
			continue // the next tick redraws
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, fleetConnectTimeout)
		entries, err := follower.Entries(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			if err.Error() != lastErr {
				fmt.Fprintf(stderr, "sidecar fleet: %v (retrying)\n", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		show(fleet.Compute(fleet.Filter(entries, f.cluster, events.Token(f.cluster)), time.Now(), f.every))
	}
}

// feedLine is one event as the live view lists it; stream.stats and what
// is not an event are left out.
func feedLine(data []byte) (string, bool) {
	var e struct {
		Type string    `json:"type"`
		Time time.Time `json:"time"`
		Data struct {
			Cluster  string `json:"cluster"`
			Instance string `json:"instance"`
			State    string `json:"state"`
			Summary  string `json:"summary"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &e) != nil || e.Type == "" {
		return "", false
	}
	typ := strings.TrimPrefix(e.Type, events.TypePrefix)
	if typ == events.TypeStreamStats {
		return "", false
	}
	line := fmt.Sprintf("%s %s/%s %s", e.Time.UTC().Format("15:04:05"), e.Data.Cluster, e.Data.Instance, typ)
	if e.Data.State != "" {
		line += " " + e.Data.State
	}
	if e.Data.Summary != "" {
		line += ": " + e.Data.Summary
	}
	return line, true
}
