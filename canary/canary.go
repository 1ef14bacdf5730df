package canary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Defaults: SIDECAR_CANARY_INTERVAL, _TIMEOUT and _SLOW.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = 30 * time.Second
	DefaultSlow     = time.Second
)

const (
	// dialTimeout bounds a connect and each statement other than the write.
	dialTimeout = 5 * time.Second
	// recheckEvery is how many intervals pass between two read-only checks
	// while writes succeed; a write refused as read-only checks at once.
	recheckEvery = 30
	// retryAfter is the wait after a failure (no connection, privilege).
	retryAfter = 10 * time.Second
	// pendingMax bounds the writes waiting for their row event.
	pendingMax = 64
	// windowSize is how many recent samples /status summarises.
	windowSize = 60
)

// States of the canary (Status.State).
const (
	StateStarting    = "starting"
	StateWriting     = "writing"
	StateSkipped     = "skipped"     // the server is read-only or a replica
	StateUnavailable = "unavailable" // a privilege or the table is missing
	StateFailing     = "failing"     // no connection, or writes fail
)

// Config configures a Canary.
type Config struct {
	Target client.Target
	// Flavor is SIDECAR_MYSQL_FLAVOR: mysqlserver.FlavorMySQL or
	// FlavorMariaDB to skip detection; "" or FlavorAuto detects.
	Flavor   string
	Instance string // the row's key
	Interval time.Duration
	Timeout  time.Duration
	Slow     time.Duration
}

// Status is the canary in /status (`canary`).
type Status struct {
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	IntervalMS float64   `json:"interval_ms"`
	TimeoutMS  float64   `json:"timeout_ms"`
	SlowMS     float64   `json:"slow_ms"`
	Seq        uint64    `json:"seq"`
	LastWrite  time.Time `json:"last_write,omitzero"`
	// LastCommitMS and LastDeliveryMS are the latest write's latencies;
	// InFlightMS how long the write in flight has waited.
	LastCommitMS   *float64 `json:"last_commit_ms,omitempty"`
	LastDeliveryMS *float64 `json:"last_delivery_ms,omitempty"`
	InFlightMS     *float64 `json:"in_flight_ms,omitempty"`
	// CommitMS and DeliveryMS summarise the last 60 samples.
	CommitMS      *stream.LatencySummary `json:"commit_ms,omitempty"`
	DeliveryMS    *stream.LatencySummary `json:"delivery_ms,omitempty"`
	SlowIntervals int                    `json:"slow_intervals"`
	Writes        uint64                 `json:"writes"`
	Failures      uint64                 `json:"failures"`
	Timeouts      uint64                 `json:"timeouts"`
	Killed        uint64                 `json:"killed"`
	Skipped       uint64                 `json:"skipped"`

	CommitHist   stream.Seconds `json:"-"`
	DeliveryHist stream.Seconds `json:"-"`
}

// sent is a write waiting for its row event on the stream.
type sent struct {
	seq       uint64
	writtenUS int64
	at        time.Time // monotonic
	committed bool      // the write returned without error
}

// Canary writes the heartbeat row and keeps the latencies. Run drives it;
// OnRow is the stream's callback; the rest are read from any goroutine.
type Canary struct {
	cfg Config
	log zerolog.Logger

	mu         sync.Mutex
	st         Status
	streak     Streak
	worst      time.Duration // longest commit latency in the current interval
	wrote      bool          // a write completed or was in flight this interval
	inFlight   *sent
	pending    []sent
	lastDeliv  time.Time
	lastErr    error // why the state is not writing
	commitWin  window
	delivWin   window
	ivCommit   []time.Duration
	ivDelivery []time.Duration
	ivWrites   int
}

// New returns a canary; Run starts it.
func New(cfg Config, log zerolog.Logger) *Canary {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Slow <= 0 {
		cfg.Slow = DefaultSlow
	}
	c := &Canary{cfg: cfg, log: log.With().Str("component", "canary").Logger(),
		commitWin: newWindow(windowSize), delivWin: newWindow(windowSize)}
	c.st = Status{State: StateStarting, IntervalMS: ms(cfg.Interval), TimeoutMS: ms(cfg.Timeout), SlowMS: ms(cfg.Slow),
		CommitHist: stream.NewSeconds(Buckets), DeliveryHist: stream.NewSeconds(Buckets)}
	return c
}

// result is how one write ended.
type result struct {
	w      sent
	took   time.Duration
	err    error
	killed bool
}

// Run writes every Interval until ctx ends. It never fails: what goes
// wrong is the canary's state and reason, logged once, retried later.
func (c *Canary) Run(ctx context.Context) error {
	c.log.Info().Dur("interval", c.cfg.Interval).Dur("timeout", c.cfg.Timeout).Dur("slow", c.cfg.Slow).Msg("canary started")
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	done := make(chan result, 1)
	var (
		cn       *conn
		account  string
		busy     bool
		checks   int
		notUntil time.Time
		seq      = uint64(time.Now().UnixMicro()) // distinct across restarts
	)
	defer func() {
		if busy {
			<-done // the write's own deadline bounds this
		}
		if cn != nil {
			cn.close()
		}
		c.log.Info().Msg("canary stopped")
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-done:
			busy = false
			switch err := c.finish(r, account); {
			case err == nil:
			case errors.Is(err, errReadOnly):
				checks = 0 // check at once, next interval
			case errors.Is(err, ErrPrivilege):
				// A new connection picks up a GRANT.
				cn.close()
				cn, notUntil = nil, time.Now().Add(retryAfter)
			case !client.IsServerError(err):
				cn.close() // its protocol state is unknown
				cn = nil
			}
			continue
		case now := <-tick.C:
			c.judge(now)
			if busy || now.Before(notUntil) {
				continue
			}
		}
		if cn == nil {
			var err error
			if cn, err = dial(ctx, c.cfg.Target, c.cfg.Flavor, c.cfg.Timeout); err != nil {
				c.fail(StateFailing, err)
				notUntil = time.Now().Add(retryAfter)
				continue
			}
			account, checks = cn.currentUser(), 0
			if err := cn.prepare(account); err != nil {
				c.fail(stateOf(err), err)
				cn.close()
				cn, notUntil = nil, time.Now().Add(retryAfter)
				continue
			}
		}
		if checks%recheckEvery == 0 {
			if err := cn.writable(); err != nil {
				c.fail(stateOf(err), err)
				if !errors.Is(err, errReadOnly) {
					cn.close()
					cn = nil
				}
				continue // checks stays 0: check again next interval
			}
		}
		checks++
		seq++
		busy = true
		c.write(ctx, cn, seq, done)
	}
}

func stateOf(err error) string {
	switch {
	case errors.Is(err, errReadOnly):
		return StateSkipped
	case errors.Is(err, ErrPrivilege):
		return StateUnavailable
	}
	return StateFailing
}

// write sends one upsert in its own goroutine and kills it if it is still
// blocked after Timeout. The client-side deadline (Timeout plus the kill's
// own time) ends it if even the kill cannot reach the server.
func (c *Canary) write(ctx context.Context, cn *conn, seq uint64, done chan<- result) {
	now := time.Now()
	w := sent{seq: seq, writtenUS: now.UnixMicro(), at: now}
	c.mu.Lock()
	c.inFlight = &w
	c.wrote = true
	c.pending = append(c.pending, w)
	if len(c.pending) > pendingMax {
		c.pending = c.pending[len(c.pending)-pendingMax:]
	}
	c.mu.Unlock()
	sql := upsertSQL(c.cfg.Instance, seq, w.writtenUS)
	go func() {
		killed, killDone := false, make(chan struct{})
		timer := time.AfterFunc(c.cfg.Timeout, func() {
			defer close(killDone)
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
			defer cancel()
			err := killQuery(kctx, c.cfg.Target, cn.id)
			killed = err == nil
			if err != nil {
				c.log.Warn().Err(err).Uint32("connection_id", cn.id).Msg("canary write blocked past the timeout; KILL QUERY failed")
			}
		})
		// Shutdown ends a write at once: the connection is dropped after.
		stop := context.AfterFunc(ctx, func() { _ = cn.c.SetDeadline(time.Now()) })
		_, err := cn.exec(sql, c.cfg.Timeout+2*dialTimeout)
		stop()
		took := time.Since(w.at)
		if !timer.Stop() {
			// The kill started: wait for it, so it cannot hit the next write.
			<-killDone
		}
		k := killed
		done <- result{w: w, took: took, err: err, killed: k}
	}()
}

// finish books a write's outcome and returns its error, if any.
func (c *Canary) finish(r result, account string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight = nil
	c.worst = max(c.worst, r.took)
	c.st.Seq, c.st.LastWrite = r.w.seq, r.w.at
	timedOut := r.killed || r.took >= c.cfg.Timeout
	if timedOut {
		// Blocked past the timeout: itself the signal. Its latency is a
		// lower bound of what a commit pays now.
		c.st.Timeouts++
		c.observeCommit(r.took)
	}
	if r.killed {
		c.st.Killed++
	}
	if r.err != nil {
		c.st.Failures++
		c.dropPending(r.w.seq)
		my, serverErr := client.AsServerError(r.err)
		switch {
		case serverErr && mysqlserver.IsReadOnlyError(my.Code):
			c.setState(StateSkipped, fmt.Errorf("%w: %s", errReadOnly, my.Message))
			return errReadOnly
		case serverErr && mysqlserver.IsPrivilegeError(my.Code):
			err := privilegeError(r.err, "INSERT, UPDATE or SELECT", account)
			c.setState(StateUnavailable, err)
			return err
		case timedOut:
			c.setState(StateFailing, fmt.Errorf("write blocked for %s (timeout %s, killed %t): %w", r.took.Round(time.Millisecond), c.cfg.Timeout, r.killed, r.err))
		default:
			c.setState(StateFailing, fmt.Errorf("write: %w", r.err))
		}
		return r.err
	}
	c.st.Writes++
	c.ivWrites++
	if !timedOut {
		c.observeCommit(r.took)
	}
	for i := range c.pending {
		if c.pending[i].seq == r.w.seq {
			c.pending[i].committed = true
		}
	}
	c.setState(StateWriting, nil)
	return nil
}

func (c *Canary) observeCommit(d time.Duration) {
	v := ms(d)
	c.st.LastCommitMS = &v
	c.st.CommitHist.Observe(d)
	c.commitWin.add(d)
	c.ivCommit = append(c.ivCommit, d)
}

func (c *Canary) dropPending(seq uint64) {
	for i := range c.pending {
		if c.pending[i].seq == seq {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

// setState records the state, logging a change of state or reason once.
func (c *Canary) setState(state string, err error) {
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	if state != c.st.State || reason != c.st.Reason {
		ev := c.log.Info()
		if state != StateWriting {
			ev = c.log.Warn()
		}
		ev.Str("state", state).Str("reason", reason).Msg("canary state")
	}
	if state == StateSkipped {
		c.st.Skipped++
	}
	c.st.State, c.st.Reason, c.lastErr = state, reason, err
}

func (c *Canary) fail(state string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setState(state, err)
}

// judge closes an interval for the slow rule: its worst commit latency,
// or the wait of the write still in flight.
func (c *Canary) judge(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	worst, since := c.worst, now.Add(-c.cfg.Interval)
	if c.inFlight != nil {
		worst = max(worst, now.Sub(c.inFlight.at))
		since = c.inFlight.at
	}
	c.streak = Judge(c.streak, worst, c.wrote, c.cfg.Slow, since)
	c.st.SlowIntervals = c.streak.N
	c.worst, c.wrote = 0, c.inFlight != nil
}

// OnRow is binlog.Config.OnCanary: a canary row arrived on the stream.
// Rows of other instances (another sidecar on the same server) match no
// pending write and are ignored.
func (c *Canary) OnRow(seq uint64, writtenUS int64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.pending {
		if w.seq != seq || w.writtenUS != writtenUS {
			continue
		}
		d := now.Sub(w.at)
		v := ms(d)
		c.st.LastDeliveryMS = &v
		c.st.DeliveryHist.Observe(d)
		c.delivWin.add(d)
		c.ivDelivery = append(c.ivDelivery, d)
		c.lastDeliv = now
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		return
	}
}

// Status returns the canary's figures now.
func (c *Canary) Status() Status {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.CommitHist, s.DeliveryHist = s.CommitHist.Clone(), s.DeliveryHist.Clone()
	s.CommitMS, s.DeliveryMS = Summarize(c.commitWin.samples()), Summarize(c.delivWin.samples())
	if c.inFlight != nil {
		v := ms(now.Sub(c.inFlight.at))
		s.InFlightMS = &v
	}
	return s
}

// TakeInterval returns the figures since the previous call, for
// stream.stats, and starts a new interval.
func (c *Canary) TakeInterval() stream.CanaryInterval {
	c.mu.Lock()
	defer c.mu.Unlock()
	iv := stream.CanaryInterval{Writes: c.ivWrites, CommitMS: Summarize(c.ivCommit), DeliveryMS: Summarize(c.ivDelivery),
		State: c.st.State, Reason: c.st.Reason}
	c.ivCommit, c.ivDelivery, c.ivWrites = c.ivCommit[:0], c.ivDelivery[:0], 0
	return iv
}

// HealthView is what the commit.slow rule reads.
func (c *Canary) HealthView() health.CanaryView {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	v := health.CanaryView{State: c.st.State, Reason: c.st.Reason, Threshold: c.cfg.Slow,
		SlowIntervals: c.streak.N, SlowSince: c.streak.Since, Slow: c.streak.Slow(), Seq: c.st.Seq}
	if pe := new(PrivilegeError); errors.As(c.lastErr, &pe) {
		v.Missing, v.Fix = "privilege "+pe.Privilege, pe.Fix
	}
	if c.st.LastCommitMS != nil {
		v.LastCommit = time.Duration(*c.st.LastCommitMS * float64(time.Millisecond))
	}
	if c.inFlight != nil {
		v.InFlight = now.Sub(c.inFlight.at)
	}
	return v
}

// Lag is the stream's lag as the canary measures it, exact to the
// millisecond: the age of the oldest committed write whose row has not
// arrived yet (the stream is behind by at least that), else the delivery
// latency of the latest row, while it is recent (3 intervals). ok is false
// when the canary has no recent evidence (skipped, failing, just started):
// the binlog timestamps' rule applies then.
func (c *Canary) Lag(now time.Time) (seconds float64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastDeliv.IsZero() {
		// No row ever arrived (statement-based binlog, filtered schema):
		// an undelivered write is no evidence of lag.
		return 0, false
	}
	for _, w := range c.pending {
		if w.committed {
			return now.Sub(w.at).Seconds(), true
		}
	}
	if c.st.LastDeliveryMS == nil || now.Sub(c.lastDeliv) > 3*c.cfg.Interval {
		return 0, false
	}
	return *c.st.LastDeliveryMS / 1000, true
}
