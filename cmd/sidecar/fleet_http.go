package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
)

// fleetServe reads the bucket every second, as the live view does, and
// serves the latest view on f.http until ctx ends: / is a page that
// reloads itself every 2 s, /fleet.json the view as `--once --format
// json` prints it. Both answer 503 until the first read succeeded. It is
// the daemon's HTTP server (api.Server): the same connection and time
// limits, and the TLS and basic auth of SIDECAR_WEB_CONFIG_FILE.
func fleetServe(ctx context.Context, js jetstream.JetStream, f fleetFlags, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: --http %s: %v\n", f.http, err)
		return exitConfig
	}
	var latest atomic.Pointer[fleet.View]
	log := zerolog.New(stderr).With().Timestamp().Str("command", "fleet").Logger()
	srv := api.New(f.http, api.Sources{}, log, api.WithHandler(fleetHandler(&latest)), api.WithWebConfig(f.webConfig))
	// The server and the reads end together: ctx ending stops both, and a
	// server that fails (a certificate gone unreadable) stops the reads.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln); stop() }()
	auth := "plain HTTP, no authentication"
	if f.webConfig != "" {
		auth = "TLS and basic auth as SIDECAR_WEB_CONFIG_FILE sets them"
	}
	fmt.Fprintf(stdout, "sidecar fleet: serving / and /fleet.json on %s (%s)\n", ln.Addr(), auth)
	code := watchFleet(sctx, js, f, stderr, nil, nil, func(v fleet.View) { latest.Store(&v) })
	stop()
	if err := <-served; err != nil {
		fmt.Fprintf(stderr, "sidecar fleet: --http %s: %v\n", f.http, err)
		return exitFatal
	}
	return code
}

// fleetHandler renders the latest view; handlers only render.
func fleetHandler(latest *atomic.Pointer[fleet.View]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fleet.json", func(w http.ResponseWriter, _ *http.Request) {
		v := latest.Load()
		w.Header().Set("Content-Type", "application/json")
		if v == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "the bucket has not been read yet"})
			return
		}
		_ = writeView(w, *v, "json")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		v := latest.Load()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if v == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			v = &fleet.View{}
		}
		_ = fleetPage.Execute(w, pageOf(v))
	})
	return mux
}

// page is what the HTML page shows: the view with each primary's cells
// as the text view prints them.
type page struct {
	View      *fleet.View
	Read      bool
	Columns   []string
	Primaries []pageRow
}

type pageRow struct {
	Cells []string
	Class string // ok, degraded, critical or stale
}

func pageOf(v *fleet.View) page {
	p := page{View: v, Read: !v.At.IsZero(), Columns: fleet.PrimaryColumns}
	for _, pr := range v.Primaries {
		class := pr.Health
		if pr.Stale {
			class = "stale"
		}
		p.Primaries = append(p.Primaries, pageRow{Cells: fleet.PrimaryCells(pr), Class: class})
	}
	return p
}

// fleetPage is the page; html/template escapes every value.
var fleetPage = template.Must(template.New("fleet").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>binlog-sidecar fleet</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}
th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #ddd}th{background:#f4f4f4}
.ok td:nth-child(2){color:#176f2c}.degraded td:nth-child(2){color:#9a6700}.critical td:nth-child(2){color:#b42318;font-weight:bold}
.stale{color:#888}
</style></head><body>
<h1>binlog-sidecar fleet</h1>
{{if .Read}}<p>fleet at {{.View.At.UTC.Format "2006-01-02T15:04:05Z07:00"}}: {{len .View.Primaries}} primaries, {{len .View.Findings}} findings
(<a href="fleet.json">fleet.json</a>; this page reloads every 2 s)</p>
{{if .Primaries}}<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Primaries}}<tr class="{{.Class}}">{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .View.Findings}}<table><tr><th>FINDING</th><th>SEVERITY</th><th>SUBJECT</th><th>SUMMARY</th></tr>
{{range .View.Findings}}<tr><td>{{.Type}}</td><td>{{.Severity}}</td><td>{{.Subject}}</td><td>{{.Summary}}</td></tr>
{{end}}</table>{{end}}
{{else}}<p>The bucket has not been read yet.</p>{{end}}
</body></html>
`))
