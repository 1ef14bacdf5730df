package api

import (
	"context"
	"encoding/json"
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/canary"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Sources are the snapshot functions the endpoints render. Each must be
// cheap and safe to call from any goroutine.
type Sources struct {
	Stream func() stream.Snapshot
	Health func() health.Report
	Bus    func() events.Stats
	// Live returns nil while the sidecar's own loops run. It never depends
	// on MySQL or NATS, so a database failover does not make Kubernetes
	// restart the sidecar.
	Live func() error
	// History feeds the status page's charts and timeline; nil: none.
	History func() HistoryView
	// Name titles the status page, e.g. "prod/db-1".
	Name string
	// Build labels binlog_sidecar_build_info.
	Build BuildInfo
	// Canary is the commit-latency canary; nil when it is off.
	Canary func() canary.Status
}

// Server serves /livez, /readyz, /metrics, /status and the status page (/).
type Server struct {
	src       Sources
	srv       *http.Server
	log       zerolog.Logger
	limits    Limits
	webConfig string
	handler   http.Handler
	conns     *connCount
}

// Option adjusts a Server.
type Option func(*Server)

// WithLimits replaces DefaultLimits (tests use small ones).
func WithLimits(l Limits) Option { return func(s *Server) { s.limits = l } }

// WithWebConfig serves with the TLS and basic auth of an exporter-toolkit
// web configuration file (SIDECAR_WEB_CONFIG_FILE); check it first with
// ValidateWebConfig. Empty: plain HTTP without auth.
func WithWebConfig(path string) Option { return func(s *Server) { s.webConfig = path } }

// WithHandler serves h instead of the sidecar's own endpoints, so another
// command's pages (sidecar fleet --http) get the same limits, TLS and
// basic auth; the Sources are then unused.
func WithHandler(h http.Handler) Option { return func(s *Server) { s.handler = h } }

// New builds the server for addr.
func New(addr string, src Sources, log zerolog.Logger, opts ...Option) *Server {
	s := &Server{src: src, log: log.With().Str("component", "http").Logger(), limits: DefaultLimits()}
	for _, o := range opts {
		o(s)
	}
	s.conns = &connCount{limit: s.limits.MaxConns, log: s.log, warn: lograte.Limiter{Every: time.Minute}}
	var h http.Handler = s.handler
	if h == nil {
		h = s.routes()
	}
	s.srv = &http.Server{Addr: addr, Handler: onlyGetHead(h),
		ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	s.limits.apply(s.srv)
	return s
}

// routes is the one place every path is registered.
func (s *Server) routes() *http.ServeMux {
	reg := newRegistry(newStreamCollector(s.src.Stream), newHealthCollector(s.src.Health), newBusCollector(s.src.Bus),
		buildInfoCollector(s.src.Build), newCanaryCollector(s.src.Canary))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	return mux
}

// Handler exposes the routes, for tests.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Run listens until ctx ends, then shuts down within a short deadline.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// shutdownGrace is how long requests in flight get at shutdown; then the
// remaining connections (a slow client, a stuck scrape) are cut.
const shutdownGrace = 2 * time.Second

// Serve is Run on a listener the caller opened (tests use port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln = s.conns.listener(s.limits.listener(ln))
	s.log.Info().Str("addr", ln.Addr().String()).Bool("web_config", s.webConfig != "").
		Int("max_conns", s.limits.MaxConns).Msg("http listening")
	errc := make(chan error, 1)
	go func() {
		if s.webConfig == "" {
			errc <- s.srv.Serve(ln)
			return
		}
		errc <- serveWeb(ln, s.srv, s.webConfig, s.log)
	}()
	select {
	case err := <-errc:
		ln.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		open, _ := s.conns.stats()
		s.log.Warn().Err(err).Int("open_conns", open).Msg("http shutdown grace over; closing the remaining connections")
		s.srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// httpErrorLog sends net/http's own messages (TLS handshake errors, a
// panicking handler) to the structured log instead of stderr.
type httpErrorLog struct{ log zerolog.Logger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	h.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	if err := s.src.Live(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"live": false, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"live": true})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	ready, reasons := Readiness(s.src.Stream())
	reasons = append(reasons, BlindReasons(s.src.Health())...)
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	if reasons == nil {
		reasons = []string{}
	}
	writeJSON(w, code, map[string]any{"ready": ready, "reasons": reasons})
}

// status is the contract's /status document: the health report with the
// live stream snapshot and the bus figures.
func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.statusDoc())
}

// statusDoc is the /status document; the status page renders the same.
type statusDoc struct {
	health.Report
	Bus    events.Stats   `json:"bus"`
	Canary *canary.Status `json:"canary,omitempty"`
}

func (s *Server) statusDoc() statusDoc {
	rep := s.src.Health()
	snap := s.src.Stream()
	rep.Stream = &snap
	doc := statusDoc{Report: rep, Bus: s.src.Bus()}
	if s.src.Canary != nil {
		c := s.src.Canary()
		doc.Canary = &c
	}
	return doc
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // people read it: <basename> stays <basename>
	_ = enc.Encode(v)        // the client went away; nothing to do
}
