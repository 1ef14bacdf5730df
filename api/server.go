package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
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
}

// Server serves /livez, /readyz, /metrics, /status and the status page (/).
type Server struct {
	src Sources
	srv *http.Server
	log zerolog.Logger
}

// New builds the server for addr.
func New(addr string, src Sources, log zerolog.Logger) *Server {
	s := &Server{src: src, log: log.With().Str("component", "http").Logger()}
	reg := newRegistry(newStreamCollector(src.Stream), newHealthCollector(src.Health), newBusCollector(src.Bus),
		buildInfoCollector(src.Build))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	s.srv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
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

// Serve is Run on a listener the caller opened (tests use port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info().Str("addr", ln.Addr().String()).Msg("http listening")
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
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
	Bus events.Stats `json:"bus"`
}

func (s *Server) statusDoc() statusDoc {
	rep := s.src.Health()
	snap := s.src.Stream()
	rep.Stream = &snap
	return statusDoc{rep, s.src.Bus()}
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
