package events

import (
	"context"
	"maps"
	"sync"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// logOnly is the Sink of SIDECAR_NATS_URL=none: each event is one log line.
type logOnly struct {
	log zerolog.Logger
	mu  sync.Mutex
	pub map[string]uint64
}

var _ Sink = (*logOnly)(nil)

// LogOnly returns a Sink that writes each event as one log line (the whole
// event under "event") instead of publishing it: info events at info,
// warnings at warn, critical ones at error. A logged event counts as
// published; nothing is ever pending or dropped.
func LogOnly(log zerolog.Logger) Sink {
	l := &logOnly{log: log.With().Str("component", "events").Logger(), pub: map[string]uint64{}}
	for _, t := range Types() {
		l.pub[t] = 0
	}
	return l
}

func (l *logOnly) Publish(e Event) {
	body, err := Encode(e)
	level := zerolog.InfoLevel
	var c Common
	if e.Data != nil {
		c = e.Data.Base()
	}
	switch c.Severity {
	case health.SeverityWarning:
		level = zerolog.WarnLevel
	case health.SeverityCritical:
		level = zerolog.ErrorLevel
	}
	l.log.WithLevel(level).Err(err).Str("type", e.ShortType()).Str("id", e.ID).Str("subject", e.Subject).
		Str("summary", c.Summary).RawJSON("event", body).Msg("event")
	l.mu.Lock()
	l.pub[e.ShortType()]++
	l.mu.Unlock()
}

func (l *logOnly) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Published: maps.Clone(l.pub)}
}

func (l *logOnly) Close(context.Context) error { return nil }
