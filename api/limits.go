package api

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/netutil"

	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
)

// Limits bound what clients can hold of the server, so that neither idle
// keep-alive connections, slow or huge request headers, nor slow readers can
// exhaust the process's descriptors or memory (the spool and the stream
// share both).
type Limits struct {
	// ReadHeaderTimeout cuts a client that sends its request headers too
	// slowly (slowloris); it also bounds a TLS handshake.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request; the endpoints take no body.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response to a slow reader. A handler
	// that streams must extend its own deadline (http.ResponseController).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes is the most a request line and its headers may take;
	// more is answered 431.
	MaxHeaderBytes int
	// MaxConns caps connections open at once. Beyond it new connections
	// wait in the kernel's accept queue until one closes, which the timeouts
	// above guarantee happens.
	MaxConns int
}

// DefaultLimits are generous for Prometheus, Datadog, kubelet probes and a
// few people, and small next to the process's descriptor limit.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		MaxConns:          128,
	}
}

// headerSlop is what net/http reads beyond http.Server.MaxHeaderBytes
// before answering 431 (its bufio slop); subtracted so that the limit is the
// one documented.
const headerSlop = 4096

// apply sets the limits on srv.
func (l Limits) apply(srv *http.Server) {
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.ReadTimeout = l.ReadTimeout
	srv.WriteTimeout = l.WriteTimeout
	srv.IdleTimeout = l.IdleTimeout
	srv.MaxHeaderBytes = max(l.MaxHeaderBytes-headerSlop, 1024)
}

// listener caps ln at MaxConns connections open at once. The cap's Accept
// returns as soon as ln is closed, so a full cap never holds up shutdown.
func (l Limits) listener(ln net.Listener) net.Listener {
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}

// onlyGetHead answers every method but GET and HEAD with 405, on every path,
// known or not: the endpoints only read.
func onlyGetHead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// connCount follows the connections open at once, to say in the log when
// the cap is reached (the symptom an operator sees is a probe that waits).
type connCount struct {
	limit int
	log   zerolog.Logger

	warn lograte.Limiter // the cap-reached line, once a minute

	mu   sync.Mutex
	open int
	peak int
}

// listener counts the connections ln accepts until each is closed. It wraps
// the capped listener: a connection is counted once it holds a slot and
// uncounted before it gives the slot back, so the count never exceeds the cap.
func (c *connCount) listener(ln net.Listener) net.Listener { return &countingListener{ln, c} }

type countingListener struct {
	net.Listener
	c *connCount
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.opened()
	return &countedConn{Conn: conn, c: l.c}, nil
}

type countedConn struct {
	net.Conn
	c    *connCount
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(cc.c.closed)
	return cc.Conn.Close()
}

func (c *connCount) opened() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open++
	c.peak = max(c.peak, c.open)
	if c.limit > 0 && c.open >= c.limit && c.warn.Allow() {
		c.log.Warn().Int("max_conns", c.limit).Msg("http connection cap reached; new connections wait until one closes")
	}
}

func (c *connCount) closed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
}

// stats returns the connections open now and the most ever open at once.
func (c *connCount) stats() (open, peak int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.peak
}
