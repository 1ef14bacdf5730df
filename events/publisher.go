package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
	"github.com/binlog-sidecar/binlog-sidecar/internal/regfile"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Defaults for Options, and the JetStream stream the publisher creates when
// it is missing: file storage, limits retention (old messages go first),
// kept 7 days or up to 1 GiB, duplicates by Nats-Msg-Id dropped for 2
// minutes. An existing stream is used as it is.
const (
	DefaultSubjectPrefix   = "mysql.health"
	DefaultStream          = "MYSQL_HEALTH"
	DefaultMaxPending      = 1024
	DefaultMaxPendingBytes = 64 << 20
	DefaultMaxSpoolBytes   = spool.DefaultMaxBytes
	DefaultInFlight        = 256
	DefaultAckTimeout      = 5 * time.Second
	DefaultStreamMaxAge    = 7 * 24 * time.Hour
	DefaultStreamMaxBytes  = 1 << 30
	DefaultDuplicateWindow = 2 * time.Minute
)

// Reconnect and retry backoff (busBackoff): exponential from the minimum to
// the cap, with jitter so a fleet of sidecars does not reconnect in step
// after an outage.
const (
	backoffMin = 250 * time.Millisecond
	backoffMax = 5 * time.Second
	// errorLogEvery rate-limits repeated error lines of one kind.
	errorLogEvery = 30 * time.Second
)

// ErrUndelivered is returned (wrapped) by Close when events were left
// undelivered; they stay in the spool and go out after the next start.
var ErrUndelivered = errors.New("events left undelivered")

// Options configure a Publisher.
type Options struct {
	// URLs of the NATS servers; tls:// URLs use TLS.
	URLs      []string
	CredsFile string // NATS credentials file, optional
	// User and Password authenticate the connection, optional (the
	// embedded server's generated credentials). Never logged.
	User, Password string
	TLSCAFile      string // CA to verify the servers' certificates, optional
	// SubjectPrefix starts every subject (default DefaultSubjectPrefix).
	SubjectPrefix string
	// Stream is the JetStream stream, created if missing; empty: core NATS only.
	Stream string
	// DataDir holds the spool, in DataDir/spool.
	DataDir string
	// MaxPending bounds the stream.stats events held in memory before they
	// are spooled (default DefaultMaxPending); MaxPendingBytes bounds the
	// bytes of every kind (default DefaultMaxPendingBytes). Problem events
	// count only toward the bytes: a burst of them (one per missing replica
	// of a large inventory) must reach the spool whole.
	MaxPending      int
	MaxPendingBytes int
	// MaxSpoolBytes bounds the spool on disk (default DefaultMaxSpoolBytes).
	MaxSpoolBytes int64
	// InFlight bounds the messages sent and not yet acknowledged (default DefaultInFlight).
	InFlight int
	// AckTimeout bounds the wait for a JetStream ack or a core NATS flush,
	// and each JetStream API call (default DefaultAckTimeout).
	AckTimeout time.Duration
	// Cluster and Instance name the subjects' middle tokens; give the same
	// names as the Builder's.
	Cluster, Instance string
}

// Stats are the publisher's figures for metrics.
type Stats struct {
	// Published counts events the server acknowledged, by short type; every
	// type of Types is present.
	Published map[string]uint64
	// Pending counts events produced and not yet acknowledged: Queued + Spooled.
	Pending int
	Queued  int // in memory, not yet in the spool
	Spooled int // in the spool, including those in flight
	// SpoolBytes is the size of the spool files.
	SpoolBytes int64
	// Dropped counts events dropped to keep memory and disk bounded, and
	// events lost to a damaged spool (each logged).
	Dropped   uint64
	Connected bool
	JetStream bool // publishing to JetStream (false: core NATS)
	// DeadLettered counts events that can never be delivered as they are
	// (over the server's max_payload, a subject refused, no permission),
	// kept aside in DataDir/dead-letter.jsonl, by type and reason; every
	// type of Types and reason of DeadLetterReasons is present.
	DeadLettered map[DeadLetterKey]uint64 `json:"-"`
	// DeadLetteredTotal is the sum of DeadLettered (for /status).
	DeadLetteredTotal uint64
}

// Sink is where events go: a Publisher, or LogOnly when there is no bus.
type Sink interface {
	// Publish queues e; it never blocks on the network or the disk.
	Publish(e Event)
	Stats() Stats
	// Close delivers what it can before ctx is done.
	Close(ctx context.Context) error
}

var _ Sink = (*Publisher)(nil)

// Publisher sends events to NATS without ever blocking its callers and
// without losing events: Publish puts the encoded event in a bounded memory
// queue; a writer goroutine moves it to the spool on disk (fsynced); a
// sender goroutine reads the spool in order, publishes and, once the server
// acknowledged, acks the spool. See the package documentation.
type Publisher struct {
	opts  Options
	log   zerolog.Logger
	spool *spool.Spool
	// appendSpool is spool.Append; tests replace it to make writes fail.
	appendSpool func([]spool.Record) (int, error)

	mu      sync.Mutex // guards q, writing, dropped, closed, started and nc
	q       queue
	writing int // taken by the writer, not yet in the spool
	// writingBytes is the size of what the writer took.
	writingBytes int
	dropped      uint64
	closed       bool
	started      bool
	dropLog      lograte.Limiter
	dead         *deadLetters
	denied       denials
	pubMu        sync.Mutex // guards pubCount
	pubCount     map[string]uint64

	nc       *nats.Conn
	js       jetstream.JetStream
	jsMode   atomic.Bool
	conns    atomic.Uint64 // connects and reconnects so far
	sawJS    bool          // touched by the sender only
	jsWarned bool          // touched by the sender only
	errLog   lograte.Limiter
	connLog  lograte.Limiter
	cancel   context.CancelFunc
	memCh    chan struct{} // an event entered the memory queue
	spoolCh  chan struct{} // records entered the spool
	connCh   chan struct{} // the connection came up
	drainCh  chan struct{} // closed by Close
	wDone    chan struct{} // the writer returned
	sDone    chan struct{} // the sender returned
}

// New opens the spool in opts.DataDir and returns a Publisher that queues
// events until Start. Events left in the spool by an earlier run are
// delivered first once it starts.
func New(opts Options, log zerolog.Logger) (*Publisher, error) {
	if opts.SubjectPrefix == "" {
		opts.SubjectPrefix = DefaultSubjectPrefix
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	opts.MaxPending = max(opts.MaxPending, 2)
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if opts.MaxSpoolBytes <= 0 {
		opts.MaxSpoolBytes = DefaultMaxSpoolBytes
	}
	if opts.InFlight <= 0 {
		opts.InFlight = DefaultInFlight
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	log = log.With().Str("component", "events").Logger()
	sp, err := spool.Open(filepath.Join(opts.DataDir, "spool"), spool.Options{MaxBytes: opts.MaxSpoolBytes, Log: log})
	if err != nil {
		return nil, fmt.Errorf("new publisher: %w", err)
	}
	p := &Publisher{
		opts: opts, log: log, spool: sp,
		pubCount: map[string]uint64{},
		memCh:    make(chan struct{}, 1), spoolCh: make(chan struct{}, 1), connCh: make(chan struct{}, 1),
		drainCh: make(chan struct{}), wDone: make(chan struct{}), sDone: make(chan struct{}),
		dropLog: lograte.Limiter{Every: errorLogEvery}, errLog: lograte.Limiter{Every: errorLogEvery}, connLog: lograte.Limiter{Every: errorLogEvery},
	}
	p.appendSpool = sp.Append
	p.dead = newDeadLetters(opts.DataDir)
	for _, t := range Types() {
		p.pubCount[t] = 0
	}
	if n := sp.Unread(); n > 0 {
		p.log.Info().Int("events", n).Msg("spooled events from an earlier run")
	}
	return p, nil
}

// Start connects to NATS and starts the writer and the sender. The
// connection is retried forever in the background, so Start fails only on
// bad options (e.g. an unreadable credentials file). The goroutines are not
// stopped by ctx being cancelled but by Close, so that a shutdown signal
// still leaves Close its deadline to flush.
func (p *Publisher) Start(ctx context.Context) error {
	// nats.go reads both files with os.ReadFile: refuse a named pipe (a
	// read that never returns) or a device such as /dev/zero (one that
	// never ends) before handing them over.
	for _, f := range []string{p.opts.CredsFile, p.opts.TLSCAFile} {
		if f == "" {
			continue
		}
		if err := regfile.Check(f); err != nil {
			return fmt.Errorf("start publisher: %w", err)
		}
	}
	nopts := []nats.Option{
		nats.Name("binlog-sidecar/" + p.opts.Cluster + "/" + p.opts.Instance),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return backoff(attempts) }),
		// No client-side buffer while disconnected: a publish fails at once
		// and the event waits in the spool, which is bounded and durable.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(nc *nats.Conn) { p.connected(nc, "nats connected") }),
		nats.ReconnectHandler(func(nc *nats.Conn) { p.connected(nc, "nats reconnected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !p.drained() { // Close disconnects on purpose
				p.log.Warn().Err(p.redactErr(err)).Msg("nats disconnected")
			}
		}),
		// Every failed attempt, rate-limited: a bad URL, certificate or
		// credentials would otherwise go unnoticed while events pile up.
		// Permission violations arrive here, not from the publish: the
		// sender dead-letters the records whose subject was refused.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.denied.record(err)
			if p.errLog.Allow() {
				p.log.Warn().Err(err).Msg("nats error")
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if p.connLog.Allow() {
				p.log.Warn().Err(p.redactErr(err)).Str("urls", RedactURLs(strings.Join(p.opts.URLs, ","))).Msg("nats connect failed")
			}
		}),
	}
	if p.opts.CredsFile != "" {
		nopts = append(nopts, credsOption(p.opts.CredsFile))
	}
	if p.opts.User != "" {
		nopts = append(nopts, nats.UserInfo(p.opts.User, p.opts.Password))
	}
	if p.opts.TLSCAFile != "" {
		nopts = append(nopts, rootCAsOption(p.opts.TLSCAFile))
	}
	nc, err := nats.Connect(strings.Join(p.opts.URLs, ","), nopts...)
	if err != nil {
		return fmt.Errorf("start publisher: connect nats: %w", p.redactErr(err))
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(p.opts.AckTimeout))
	if err != nil {
		nc.Close()
		return fmt.Errorf("start publisher: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.started {
		nc.Close()
		return errors.New("start publisher: already started or closed")
	}
	p.nc, p.js, p.started = nc, js, true
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go p.writeLoop(ctx)
	go p.sendLoop(ctx)
	return nil
}

// JetStream is the publisher's JetStream handle on its connection, for
// other writers to the same bus (the fleet status); nil before Start. The
// connection reconnects on its own, so the handle stays valid until Close.
func (p *Publisher) JetStream() jetstream.JetStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.js
}

func (p *Publisher) connected(nc *nats.Conn, msg string) {
	// Not ConnectedUrlRedacted: it shows a bare token (nats://token@host).
	p.log.Info().Str("url", RedactURLs(nc.ConnectedUrl())).Msg(msg)
	p.conns.Add(1)
	notify(p.connCh)
}

// Publish queues e and returns at once: it encodes e (so the caller may
// change e's maps afterwards) and appends it to the memory queue. When the
// queue is full it drops the oldest stream.stats event, or if there is none
// the oldest event, and counts it in Stats.Dropped. Publish after Close
// drops e.
func (p *Publisher) Publish(e Event) {
	body, err := Encode(e)
	if err != nil {
		p.log.Error().Err(err).Str("type", e.ShortType()).Str("id", e.ID).Msg("event details not encodable")
	}
	typ := e.ShortType()
	it := item{data: encodeMsg(Subject(p.opts.SubjectPrefix, p.opts.Cluster, p.opts.Instance, typ), e.ID, typ, body), droppable: e.Droppable()}

	p.mu.Lock()
	var dropped []item
	if p.closed {
		dropped = []item{it}
	} else {
		dropped = p.q.push(it, p.bounds())
	}
	p.dropped += uint64(len(dropped))
	total, closed := p.dropped, p.closed
	logDrop := len(dropped) > 0 && p.dropLog.Allow()
	p.mu.Unlock()

	if logDrop {
		p.log.Warn().Uint64("dropped_total", total).Bool("closed", closed).Msg("event dropped")
	}
	notify(p.memCh)
}

// bounds are the memory queue's limits, less what the writer holds.
// Called with p.mu held.
func (p *Publisher) bounds() bounds {
	return bounds{items: p.opts.MaxPending - p.writing, bytes: p.opts.MaxPendingBytes - p.writingBytes}
}

// writeLoop moves events from memory to the spool until Close has drained
// the memory queue or ctx is cancelled.
func (p *Publisher) writeLoop(ctx context.Context) {
	defer close(p.wDone)
	draining := false
	for {
		select {
		case <-p.memCh:
		case <-p.drainCh:
			draining = true
		case <-ctx.Done():
			return
		}
		for attempt := 1; ctx.Err() == nil; {
			p.mu.Lock()
			// At most half the bound at a time: Publish may fill the rest.
			batch := p.q.take(p.opts.MaxPending / 2)
			p.writing, p.writingBytes = len(batch), 0
			for _, it := range batch {
				p.writingBytes += len(it.data)
			}
			p.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			batch = p.spoolable(batch)
			recs := records(batch)
			n, err := p.appendSpool(recs)
			p.mu.Lock()
			p.writing, p.writingBytes = 0, 0
			dropped := p.q.requeue(batch[n:], p.bounds())
			p.dropped += uint64(len(dropped))
			p.mu.Unlock()
			if n > 0 {
				notify(p.spoolCh)
			}
			if err == nil {
				attempt = 1
				continue
			}
			if p.errLog.Allow() {
				p.log.Error().Err(err).Int("queued", len(batch)-n).Msg("spool write failed")
			}
			sleep(ctx, backoff(attempt))
			attempt++
		}
		if draining {
			return
		}
	}
}

// Stats returns the current figures.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	queued, dropped, nc := p.q.len()+p.writing, p.dropped, p.nc
	p.mu.Unlock()
	spooled := p.spool.Pending() // never waits for a spool write
	p.pubMu.Lock()
	pub := maps.Clone(p.pubCount)
	p.pubMu.Unlock()
	dead := p.dead.snapshot()
	var deadTotal uint64
	for _, n := range dead {
		deadTotal += n
	}
	return Stats{
		Published: pub, Pending: queued + spooled, Queued: queued, Spooled: spooled,
		SpoolBytes: p.spool.Bytes(), Dropped: dropped + p.spool.Dropped() + p.spool.Lost(),
		Connected: nc != nil && nc.IsConnected(), JetStream: p.jsMode.Load(),
		DeadLettered: dead, DeadLetteredTotal: deadTotal,
	}
}

// Close stops taking events, writes the memory queue to the spool and
// sends what it can until ctx is done; what is left stays in the spool for
// the next start, and Close then returns an error wrapping ErrUndelivered.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	close(p.drainCh)

	var errs []error
	if started {
		select {
		case <-p.sDone:
		case <-ctx.Done():
		}
		p.cancel()
		<-p.wDone
		<-p.sDone
		p.nc.Close()
	}
	// The writer may have stopped with events still queued (the deadline
	// passed while it was backing off after spool write errors, or in a
	// slow fsync); they must reach the spool too.
	if err := p.spoolRest(); err != nil {
		errs = append(errs, err)
	}
	st := p.Stats()
	errs = append(errs, p.spool.Close())
	if st.Pending > 0 {
		errs = append(errs, fmt.Errorf("close publisher: %d %w", st.Pending, ErrUndelivered))
	}
	return errors.Join(errs...)
}

// spoolRest writes what is left in the memory queue to the spool in one
// Append, once the writer has stopped. What cannot be written is lost:
// it is logged and counted in Dropped.
func (p *Publisher) spoolRest() error {
	p.mu.Lock()
	batch := p.q.take(p.q.len())
	p.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	batch = p.spoolable(batch)
	n, err := p.appendSpool(records(batch))
	if n == len(batch) {
		return err // nil, or an error dropping for the bound
	}
	lost := len(batch) - n
	p.mu.Lock()
	p.dropped += uint64(lost)
	total := p.dropped
	p.mu.Unlock()
	p.log.Error().Err(err).Int("lost", lost).Uint64("dropped_total", total).Msg("events lost on close: spool write failed")
	return fmt.Errorf("close publisher: %d events lost: %w", lost, err)
}

func records(batch []item) []spool.Record {
	recs := make([]spool.Record, len(batch))
	for i, it := range batch {
		recs[i] = spool.Record{Data: it.data, Droppable: it.droppable}
	}
	return recs
}

// spoolable returns the items the spool can take: one over its record
// limit (which no event the Builder makes comes near) is dead-lettered
// instead, so that it never blocks the writer.
func (p *Publisher) spoolable(batch []item) []item {
	out := batch[:0:0]
	for _, it := range batch {
		if len(it.data) > spool.MaxRecord {
			p.deadLetter(it.data, ReasonPayloadTooLarge,
				fmt.Errorf("%d bytes, over the spool's record limit of %d", len(it.data), spool.MaxRecord))
			continue
		}
		out = append(out, it)
	}
	return out
}

// deadLetter keeps a record that can never be delivered aside (see
// deadLetters), counts it, and says so loudly: an event is lost to its
// consumers.
func (p *Publisher) deadLetter(data []byte, reason string, cause error) {
	dl, err := p.dead.add(data, reason, cause)
	ev := p.log.Error().Str("reason", reason).Err(cause).Str("type", dl.Type).Str("id", dl.ID).
		Str("subject", dl.Subject).Int("bytes", dl.Bytes).Str("file", p.dead.path)
	if err != nil {
		ev = ev.AnErr("dead_letter_error", err)
	}
	ev.Msg("event can never be delivered: dead-lettered, delivery goes on with the next")
}

// encodeMsg packs what the sender needs into one spool record: the
// subject, id and type (none can hold a newline) and the JSON body.
func encodeMsg(subject, id, typ string, body []byte) []byte {
	b := make([]byte, 0, len(subject)+len(id)+len(typ)+3+len(body))
	b = append(append(append(append(append(append(b, subject...), '\n'), id...), '\n'), typ...), '\n')
	return append(b, body...)
}

func decodeMsg(b []byte) (subject, id, typ string, body []byte, ok bool) {
	parts := bytes.SplitN(b, []byte{'\n'}, 4)
	if len(parts) != 4 {
		return "", "", "", nil, false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), parts[3], true
}

// backoff is the wait before the attempt'th retry.
func backoff(attempt int) time.Duration {
	b := stream.Backoff{Min: backoffMin, Max: backoffMax, Jitter: true}
	return b.After(attempt)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) { _ = stream.SleepContext(ctx, d) }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
