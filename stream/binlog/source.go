package binlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// errorLogInterval rate-limits the log line of a failure that repeats.
const errorLogInterval = time.Minute

// Source tails a server's binlog as a pseudo-replica and feeds a
// stream.Meter. It connects, checks the server, streams, and on any failure
// records the error (with its fix) in the meter and reconnects with capped
// backoff, resuming after the last complete transaction.
type Source struct {
	cfg   Config
	meter *stream.Meter
	log   zerolog.Logger
	t     *translator

	// resume is where the next session starts; empty until the first
	// session resolved Config.Start to a file and position.
	resume stream.Position
	// resumeIsUser is set while resume is the operator's SIDECAR_START
	// position and no session has committed from it yet: a position the
	// server does not have is then the operator's mistake and fails loudly.
	// Once the stream itself produced resume, a missing position means the
	// server lost it (RESET MASTER, a crash that lost the binlog tail), and
	// the stream skips to the server's binlog end and records a gap.
	resumeIsUser bool
	// resumeLost is set when the server refused the stream's own resume
	// position; the next session restarts at the binlog end.
	resumeLost bool

	// tls is the TLS setting of the current session: cfg.TLS, or nil when
	// TLS is only preferred and the server offers none.
	tls *tls.Config
	// threadID is the connection id of the running dump, 0 between dumps.
	threadID atomic.Uint64
	// dumped is set once a dump was accepted: a server_id conflict found
	// before that is a configuration error, after it a fault to wait out.
	dumped bool

	errMu   sync.Mutex
	lastErr error

	failures int // consecutive failed sessions without progress
	failLog  lograte.Limiter
	warned   map[string]bool
}

// New returns a Source; nothing connects until Run.
func New(cfg Config, meter *stream.Meter, log zerolog.Logger) *Source {
	cfg = cfg.withDefaults()
	log = log.With().Str("component", "binlog").Logger()
	s := &Source{
		cfg:    cfg,
		meter:  meter,
		log:    log,
		t:      newTranslator(meter, log, cfg.StopAt),
		warned: make(map[string]bool),
	}
	s.failLog.Every = errorLogInterval
	s.t.onFirstEvent = s.connected
	s.t.onCommit = cfg.OnCommit
	s.t.onCanary = cfg.OnCanary
	if q := cfg.HeartbeatPeriod / 4; q > 0 && q < s.t.touchInterval {
		s.t.touchInterval = q
	}
	return s
}

// Run streams until ctx is done, reconnecting after every failure, and
// returns nil then. It returns early only for an invalid Config (wrapping
// ErrConfig) or, with Config.StopAt, nil once the position reached it.
// A server_id that the server or a registered replica uses is an invalid
// Config too when found before the first dump was accepted; found later
// (a replica registered with the sidecar's id), it is reported like any
// fault, and each retry checks again before registering, so the stream
// never evicts the replica in a loop.
// Server-side problems (binlog off, wrong format, missing privileges) are
// not returned: they go to the meter with a hint and are retried, so the
// sidecar never crash-loops while an operator fixes the server.
func (s *Source) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	bo := stream.Backoff{Min: s.cfg.BackoffMin, Max: s.cfg.BackoffMax}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.meter.Reconnecting()
		}
		err := s.session(ctx)
		if ctx.Err() != nil {
			s.meter.Disconnected(nil, "")
			return nil
		}
		if errors.Is(err, errStopReached) {
			s.meter.Disconnected(nil, "")
			return nil
		}
		if s.t.progressed {
			bo.Reset()
			s.failures = 0
		}
		if errors.Is(err, ErrBadPosition) && s.resume.File != "" && !s.resumeIsUser {
			// ERROR 1236 "impossible position": the stream's own position
			// is gone (binlog tail lost in a crash, or RESET MASTER).
			s.resumeLost = true
			var e *Error
			if errors.As(err, &e) {
				e.Fix = lostPositionFix
			}
		}
		s.failures++
		s.setLastError(err)
		s.meter.Disconnected(err, Hint(err))
		if !s.dumped && (errors.Is(err, ErrDuplicateReplica) || errors.Is(err, ErrServerIDConflict)) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		wait := bo.Next()
		s.logFailure(err, wait)
		if stream.SleepContext(ctx, wait) != nil {
			return nil
		}
	}
}

// ThreadID returns the server's connection id of the sidecar's own dump
// thread while a dump runs, 0 otherwise. The health monitor uses it to
// leave the sidecar out of the replicas exactly.
func (s *Source) ThreadID() uint64 { return s.threadID.Load() }

// LastError returns the error that ended the most recent failed session,
// typed so callers can branch with errors.Is on the package's sentinels
// (the meter holds its text and hint).
func (s *Source) LastError() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.lastErr
}

func (s *Source) setLastError(err error) {
	s.errMu.Lock()
	s.lastErr = err
	s.errMu.Unlock()
}

// session runs one connection: preflight, then the dump until it fails.
// Everything it dials is tied to a session context, cancelled when the
// session ends or the watchdog finds the stream silent.
func (s *Source) session(ctx context.Context) error {
	s.t.progressed = false // a session that fails before streaming made none
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dial := closingDialer(sctx, s.cfg.DialTimeout)
	info, err := s.check(sctx, dial)
	if err != nil {
		return err
	}
	s.meter.SetServerEnd(info.end)

	pos, gset, err := s.startPoint(info)
	if err != nil {
		return classify("preflight", err, s.cfg.User, s.cfg.Addr, s.cfg.ServerID)
	}
	s.t.startSession(pos)
	if pos.File != "" {
		s.resume = pos
		s.meter.SetPosition(pos)
	}

	go s.watch(sctx, cancel)
	d, err := s.openDump(sctx, dial, dumpRequest{
		flavor: info.flavor, serverID: s.cfg.ServerID, user: s.cfg.User,
		heartbeat: s.cfg.HeartbeatPeriod.Nanoseconds(), uuid: s.cfg.ReplicaUUID,
		port: registerPort(s.cfg.Addr), pos: pos, gset: gset,
	})
	defer func() {
		// Cancel first: the connection closes and the server ends the
		// dump thread at its next write (or when the sidecar registers
		// again with the same server_id and UUID).
		cancel(nil)
		if d != nil {
			_ = d.Close()
		}
		if s.t.committed.File != "" {
			s.resume = s.t.committed
		}
		if s.t.progressed {
			s.resumeIsUser = false // the server streamed from it
		}
	}()
	if err != nil {
		return classify("dump", s.cause(sctx, err), s.cfg.User, s.cfg.Addr, s.cfg.ServerID)
	}
	s.dumped = true
	s.threadID.Store(uint64(d.cli.ConnectionID()))
	defer s.threadID.Store(0)
	if err := s.read(d); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return classify("stream", s.cause(sctx, err), s.cfg.User, s.cfg.Addr, s.cfg.ServerID)
	}
	return nil
}

// read hands every event of the dump to the translator, on this goroutine,
// until the stream fails or the translator stops it.
func (s *Source) read(d *dumpConn) error {
	br, err := newBatchReader(d.conn, d.tcp, s.cfg.MaxDelay)
	if err != nil {
		return err
	}
	r := newPacketReader(br)
	for {
		raw, err := r.next()
		if err != nil {
			return err
		}
		if err := s.t.handle(raw); err != nil {
			return err
		}
	}
}

// cause prefers the watchdog's verdict to the read error it provoked.
func (s *Source) cause(sctx context.Context, err error) error {
	if c := context.Cause(sctx); errors.Is(c, ErrReadTimeout) {
		return c
	}
	return err
}

// watch ends the session when nothing, not even a heartbeat, arrived for
// ReadTimeout (plus DialTimeout before the first event). It replaces
// go-mysql's ReadTimeout, which re-arms a socket deadline on every packet
// and cost about a quarter of the stream's CPU in BenchmarkReplay.
func (s *Source) watch(ctx context.Context, cancel context.CancelCauseFunc) {
	limit := s.cfg.ReadTimeout
	tick := time.NewTicker(max(limit/4, 10*time.Millisecond))
	defer tick.Stop()
	last := s.t.received.Load()
	since := time.Now().Add(s.cfg.DialTimeout)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := s.t.received.Load(); n != last {
				last, since = n, now
				continue
			}
			if now.Sub(since) >= limit {
				cancel(fmt.Errorf("%w (%v)", ErrReadTimeout, limit))
				return
			}
		}
	}
}

// check connects on a short-lived connection and runs the preflight.
func (s *Source) check(ctx context.Context, dial dialFunc) (serverInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	c, err := client.Connect(cctx, client.Target{Addr: s.cfg.Addr, User: s.cfg.User, Password: s.cfg.Password,
		TLS: s.cfg.TLS, TLSPreferred: s.cfg.TLSPreferred, Dial: dial, IOTimeout: s.cfg.ReadTimeout},
		time.Now().Add(s.cfg.DialTimeout))
	if err != nil {
		return serverInfo{}, classify("connect", err, s.cfg.User, s.cfg.Addr, s.cfg.ServerID)
	}
	// The dump uses the TLS setting that worked here.
	s.tls = s.cfg.TLS
	if !c.TLS() {
		s.tls = nil
	}
	info, err := preflight(c, s.cfg.Flavor, s.cfg.ServerID)
	_ = c.Quit() // COM_QUIT, so the server logs no aborted connection
	if err != nil {
		return info, classify("preflight", err, s.cfg.User, s.cfg.Addr, s.cfg.ServerID)
	}
	for _, w := range info.warnings {
		if !s.warned[w] {
			s.warned[w] = true
			s.log.Warn().Str("warning", w).Msg("server setting not as recommended")
		}
	}
	return info, nil
}

// startPoint resolves where this session's dump begins: a file position, or
// a GTID set before the first session has seen a position.
func (s *Source) startPoint(info serverInfo) (stream.Position, mysql.GTIDSet, error) {
	if s.resume.File == "" {
		start, err := ParseStart(s.cfg.Start)
		if err != nil {
			return stream.Position{}, nil, err
		}
		switch start.Kind {
		case StartEnd:
			return info.end, nil, nil
		case StartEarliest:
			return stream.Position{File: info.files[0], Pos: 4}, nil, nil
		case StartGTID:
			var set mysql.GTIDSet
			if info.flavor == mysqlserver.FlavorMariaDB {
				set, err = mysql.ParseMariadbGTIDSet(start.GTIDSet)
			} else {
				set, err = mysql.ParseMysqlGTIDSet(start.GTIDSet)
			}
			if err != nil {
				return stream.Position{}, nil, fmt.Errorf("%w: start GTID set %q: %v", ErrConfig, start.GTIDSet, err)
			}
			return stream.Position{}, set, nil
		case StartPosition:
			s.resume = start.Position
			s.resumeIsUser = true
		}
	}
	if s.resumeLost {
		s.resumeLost = false
		s.recordGap(info.end, lostPositionReason)
		return info.end, nil, nil
	}
	pos, gap, err := resumePoint(s.resume, info.files)
	if err != nil {
		if errors.Is(err, ErrBadPosition) && !s.resumeIsUser {
			// The stream's own file is gone but sorts after the oldest
			// left: the server's binlog restarted (RESET MASTER). Older
			// files are not re-read, which would count them twice.
			s.recordGap(info.end, lostPositionReason)
			return info.end, nil, nil
		}
		return stream.Position{}, nil, err
	}
	if gap {
		s.recordGap(pos, fmt.Sprintf("binlog %s was purged before the stream read it; resumed at the oldest file left", s.resume.File))
	}
	return pos, nil, nil
}

const (
	lostPositionReason = "binlog position no longer exists on the server (RESET MASTER or a lost binlog tail); resumed at the binlog end"
	lostPositionFix    = "the stream's saved binlog position no longer exists on the server (RESET MASTER or a binlog tail lost in a crash); the stream restarts at the server's binlog end and records a gap"
)

// recordGap records that the stream skips from s.resume to to.
func (s *Source) recordGap(to stream.Position, reason string) {
	g := stream.Gap{From: s.resume, To: to, Reason: reason}
	s.meter.RecordGap(g)
	s.log.Warn().Str("from", g.From.String()).Str("to", g.To.String()).Str("reason", g.Reason).Msg("binlog gap")
}

// connected runs at the first event of a session.
func (s *Source) connected() {
	s.meter.Connected()
	ev := s.log.Info().Str("position", s.t.committed.String()).Uint32("server_id", s.cfg.ServerID)
	if s.failures > 0 {
		ev.Int("failed_attempts", s.failures).Msg("binlog stream recovered")
		return
	}
	ev.Msg("binlog stream connected")
}

// logFailure logs a failed session: the first of a streak, a changed
// error, and then at most once per errorLogInterval.
func (s *Source) logFailure(err error, wait time.Duration) {
	if s.failures == 1 {
		s.failLog.Reset() // the first failure of a streak is always news
	}
	if !s.failLog.AllowKey(err.Error()) {
		return
	}
	s.log.Warn().Err(err).Str("hint", Hint(err)).Int("attempt", s.failures).
		Dur("retry_in", wait).Msg("binlog stream failed")
}

// registerPort is the port COM_REGISTER_SLAVE carries: the one dialled, 0
// on a unix socket.
func registerPort(addr string) uint16 {
	_, port := splitAddr(addr)
	return port
}

// splitAddr turns Addr into go-mysql's host and port; a unix socket path
// goes in Host with port 0.
func splitAddr(addr string) (string, uint16) {
	if strings.HasPrefix(addr, "/") {
		return addr, 0
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 3306
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, 3306
	}
	return host, uint16(port)
}

// dialFunc opens a connection's transport (client.Target.Dial).
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// closingDialer dials with a timeout and ties each connection to ctx: when
// ctx is done the connection is closed, which unblocks the dump's read or
// a handshake in go-mysql at once (its handshake ignores contexts), also
// on a frozen server.
func closingDialer(ctx context.Context, timeout time.Duration) dialFunc {
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &ctxConn{Conn: c}
		cc.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		return cc, nil
	}
}

type ctxConn struct {
	net.Conn
	once sync.Once
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.once.Do(func() { c.stop() })
	return c.Conn.Close()
}
