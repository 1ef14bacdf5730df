// Package lograte lets a repeated log line through at most once per
// interval: a failure that repeats at every poll, publish or reconnect
// shows in the log without flooding it, and a new or changed failure shows
// at once. The publisher, the spool, the binlog stream, the fleet
// writer and the HTTP connection cap share it, so the rule is written once.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets a log line through at most once per Every. A line whose key
// differs from the last one let through passes at once, and so does the
// first line after Reset (a failure streak ended). The zero value lets
// every line through; it is safe for concurrent use and must not be copied
// after first use.
type Limiter struct {
	Every time.Duration

	mu   sync.Mutex
	now  func() time.Time // tests; nil is time.Now
	last time.Time        // when a line was last let through; zero: never since Reset
	key  string
}

// Allow reports whether a line may be logged now; if so, it counts as
// logged.
func (l *Limiter) Allow() bool { return l.AllowKey("") }

// AllowKey is Allow for a line that says what failed (e.g. the error
// text): a key other than the last one let through passes at once.
func (l *Limiter) AllowKey(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	if !l.last.IsZero() && key == l.key && now.Sub(l.last) < l.Every {
		return false
	}
	l.last, l.key = now, key
	return true
}

// Reset lets the next line through: what was failing recovered, so the
// next failure is news.
func (l *Limiter) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.key = time.Time{}, ""
}
