package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
)

// jsRecheckEvery is how often the sender, publishing with core NATS
// because JetStream was not enabled, asks again whether it is (it also
// asks after every reconnect).
var jsRecheckEvery = 30 * time.Second

// sender is the sender goroutine's state.
type sender struct {
	p        *Publisher
	pending  []spool.Record  // read from the spool, not yet acknowledged, in order
	failures int             // consecutive failed rounds
	dead     map[uint64]bool // pending records dead-lettered, by seq
	// In core NATS mode with a stream configured: when to ask for
	// JetStream again, and the connection count at the last ask.
	jsCheckAt time.Time
	jsConns   uint64
}

// sendLoop publishes the spool in order until Close finds everything
// delivered or ctx is cancelled. After any failure it resends from the
// oldest unacknowledged record (JetStream drops the duplicates by
// Nats-Msg-Id), so the order on each subject is the order of Publish.
func (p *Publisher) sendLoop(ctx context.Context) {
	defer close(p.sDone)
	s := &sender{p: p, dead: map[uint64]bool{}}
	for ctx.Err() == nil && !s.finished() {
		if !p.nc.IsConnected() {
			select {
			case <-p.connCh:
			case <-ctx.Done():
			case <-time.After(time.Second): // in case a notification was missed
			}
			continue
		}
		s.jsConns = p.conns.Load()
		js, err := p.prepare(ctx)
		if err == nil && js == nil && p.opts.Stream != "" {
			s.jsCheckAt = time.Now().Add(jsRecheckEvery)
		}
		if err == nil {
			err = s.pump(ctx, js)
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		s.failures++
		if p.errLog.Allow() {
			p.log.Warn().Err(err).Int("failures", s.failures).Int("in_flight", len(s.pending)).Msg("publish failed")
		}
		sleep(ctx, backoff(s.failures))
	}
}

// finished reports whether Close asked to stop and everything is delivered.
func (s *sender) finished() bool {
	select {
	case <-s.p.wDone:
	default:
		return false
	}
	return s.p.drained() && len(s.pending) == 0 && s.p.spool.Unread() == 0
}

func (p *Publisher) drained() bool {
	select {
	case <-p.drainCh:
		return true
	default:
		return false
	}
}

// pump sends until an error, or until finished (nil). In core NATS mode
// with a stream configured it also returns nil when it is time to ask for
// JetStream again (every jsRecheckEvery, and after a reconnect), so that
// the sender switches to JetStream as soon as the server has it.
func (s *sender) pump(ctx context.Context, js jetstream.JetStream) error {
	p := s.p
	var recheck <-chan time.Time
	var reconnected <-chan struct{}
	if js == nil && p.opts.Stream != "" {
		t := time.NewTimer(time.Until(s.jsCheckAt))
		defer t.Stop()
		recheck, reconnected = t.C, p.connCh
	}
	for {
		if recheck != nil && (!time.Now().Before(s.jsCheckAt) || p.conns.Load() != s.jsConns) {
			return nil
		}
		if len(s.pending) < p.opts.InFlight {
			recs, err := p.spool.Read(p.opts.InFlight - len(s.pending))
			s.pending = append(s.pending, recs...)
			if errors.Is(err, spool.ErrCorrupt) {
				// Damage found at run time (Open cuts a torn tail off):
				// the spool skipped past it and counted the loss in
				// Dropped. Say so loudly, and keep delivering the rest.
				p.log.Error().Err(err).Msg("spool corrupt: events lost")
				continue
			}
			if err != nil {
				return err
			}
		}
		if len(s.pending) == 0 {
			if s.finished() {
				return nil
			}
			wake := p.drainCh
			if p.drained() {
				wake = p.wDone
			}
			select {
			case <-p.spoolCh:
			case <-wake:
			case <-recheck:
			case <-reconnected:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		msgs, reason, cause := s.messages()
		if len(msgs) == 0 { // the oldest record can never be published
			s.kill(0, reason, cause)
			s.acked(1)
			continue
		}
		var n int
		var err error
		if js != nil {
			n, err = s.sendJS(ctx, js, msgs)
		} else {
			n, err = s.sendCore(msgs)
		}
		if n > 0 {
			s.acked(n)
		}
		if err != nil {
			return err
		}
	}
}

// messages builds the messages of the pending records, from the oldest,
// up to the first one that can never be published as it is (a subject the
// server would refuse, more bytes than the server's max_payload, a record
// that does not decode); for that one it returns why.
func (s *sender) messages() ([]*nats.Msg, string, error) {
	msgs := make([]*nats.Msg, 0, len(s.pending))
	for _, r := range s.pending {
		m, reason, err := s.p.natsMsg(r)
		if reason != "" {
			return msgs, reason, err
		}
		msgs = append(msgs, m)
	}
	return msgs, "", nil
}

// kill dead-letters pending record i: it is acknowledged with the records
// around it (delivery goes on) but never counted as published.
func (s *sender) kill(i int, reason string, cause error) {
	s.p.deadLetter(s.pending[i].Data, reason, cause)
	s.dead[s.pending[i].Seq] = true
}

// sendJS publishes msgs (the first pending records) asynchronously and
// waits for the acks in order; it returns how many from the front were
// done: acknowledged, or dead-lettered for an error no retry can cure.
func (s *sender) sendJS(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (int, error) {
	start := time.Now()
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	var pubErr error
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithExpectStream(s.p.opts.Stream))
		if err != nil {
			pubErr = fmt.Errorf("publish: %w", err)
			break
		}
		futs = append(futs, f)
	}
	for i, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			reason := permanentReason(err)
			if reason == "" && s.p.denied.since(msgs[i].Subject, start) {
				reason, err = ReasonPermission, fmt.Errorf("%w (the server refused a publish to %s)", err, msgs[i].Subject)
			}
			if reason == "" {
				return i, fmt.Errorf("publish ack: %w", err)
			}
			s.kill(i, reason, err)
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	if reason := permanentReason(pubErr); reason != "" {
		s.kill(len(futs), reason, pubErr)
		return len(futs) + 1, nil
	}
	return len(futs), pubErr
}

// sendCore publishes msgs (the first pending records) and flushes: a
// successful flush means the server has them all, except those it refused
// for want of permission (reported asynchronously; dead-lettered when the
// report came before the flush's answer).
func (s *sender) sendCore(msgs []*nats.Msg) (int, error) {
	start := time.Now()
	n := len(msgs)
	var reason string
	var pubErr error
	for i, m := range msgs {
		if err := s.p.nc.PublishMsg(m); err != nil {
			if reason = permanentReason(err); reason == "" {
				return 0, fmt.Errorf("publish: %w", err)
			}
			n, pubErr = i, err
			break
		}
	}
	if err := s.p.nc.FlushTimeout(s.p.opts.AckTimeout); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	for i, m := range msgs[:n] {
		if s.p.denied.since(m.Subject, start) {
			s.kill(i, ReasonPermission, fmt.Errorf("%w: the server refused a publish to %s", nats.ErrPermissionViolation, m.Subject))
		}
	}
	if reason != "" {
		s.kill(n, reason, pubErr)
		n++
	}
	return n, nil
}

// acked records that the first n pending records were acknowledged.
func (s *sender) acked(n int) {
	p := s.p
	err := p.spool.Ack(s.pending[n-1].Seq)
	done := s.pending[:n]
	s.pending = append(s.pending[:0:0], s.pending[n:]...)
	if err != nil && p.errLog.Allow() {
		// Not fatal: the records go out again after a restart, as duplicates.
		p.log.Error().Err(err).Msg("spool ack failed")
	}
	p.pubMu.Lock()
	for _, r := range done {
		if s.dead[r.Seq] {
			delete(s.dead, r.Seq)
			continue
		}
		_, _, typ, _, _ := decodeMsg(r.Data)
		p.pubCount[typ]++
	}
	p.pubMu.Unlock()
	if s.failures > 0 {
		p.log.Info().Int("failures", s.failures).Msg("publishing recovered")
		s.failures = 0
	}
}

// prepare decides between JetStream and core NATS for this round and makes
// sure the stream exists. It returns nil for core NATS. Once JetStream was
// seen it is waited for rather than given up: just after a server restart
// JetStream answers "not enabled" for a moment, and core publishes then
// would count as delivered without being stored. Before it was seen (a
// server without JetStream, or one still starting when the sidecar did),
// core NATS is used and prepare runs again every jsRecheckEvery and after
// every reconnect (see pump).
func (p *Publisher) prepare(ctx context.Context) (jetstream.JetStream, error) {
	if p.opts.Stream == "" {
		p.jsMode.Store(false)
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	if _, err := p.js.AccountInfo(ctx); err != nil {
		if !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("jetstream account info: %w", err)
		}
		if p.sawJS {
			return nil, fmt.Errorf("jetstream unavailable: %w", err)
		}
		if !p.jsWarned {
			p.log.Warn().Err(err).Dur("recheck_every", jsRecheckEvery).
				Msg("jetstream not available, publishing with core nats until it is")
			p.jsWarned = true
		}
		p.jsMode.Store(false)
		return nil, nil
	}
	_, err := p.js.Stream(ctx, p.opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: p.opts.Stream, Subjects: []string{p.opts.SubjectPrefix + ".>"},
			Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxAge: DefaultStreamMaxAge, MaxBytes: DefaultStreamMaxBytes, Duplicates: DefaultDuplicateWindow,
		})
		if err == nil {
			p.log.Info().Str("stream", p.opts.Stream).Msg("jetstream stream created")
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another sidecar was first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream stream %s: %w", p.opts.Stream, err)
	}
	if p.jsWarned && !p.sawJS {
		p.log.Info().Str("stream", p.opts.Stream).Msg("jetstream available, switching from core nats")
	}
	p.sawJS = true
	p.jsMode.Store(true)
	return p.js, nil
}

// natsMsg builds the message of a spool record, or says why it can never
// be published as it is (a reason and the error).
func (p *Publisher) natsMsg(r spool.Record) (*nats.Msg, string, error) {
	subject, id, _, body, ok := decodeMsg(r.Data)
	if !ok {
		return nil, ReasonMalformed, fmt.Errorf("spool record %d does not decode", r.Seq)
	}
	if !validSubject(subject) {
		return nil, ReasonInvalidSubject, fmt.Errorf("spool record %d: %w: %q", r.Seq, nats.ErrBadSubject, subject)
	}
	m := nats.NewMsg(subject)
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set("Content-Type", "application/cloudevents+json")
	m.Data = body
	if limit, size := p.nc.MaxPayload(), int64(m.Size()-len(m.Subject)); limit > 0 && size > limit {
		return nil, ReasonPayloadTooLarge, fmt.Errorf("%w: %d bytes with headers, the server's max_payload is %d", nats.ErrMaxPayload, size, limit)
	}
	return m, "", nil
}
