package stream

import (
	"context"
	"math/rand/v2"
	"time"
)

// Default bounds of a Backoff whose fields are left zero.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
)

// Backoff yields exponentially growing waits between retries, doubling from
// Min up to Max: every retry loop of the sidecar uses it. It is not safe for
// concurrent use; each retry loop owns one.
//
// Jitter draws each wait from the upper half of its range, so that a fleet
// of sidecars that lost the same bus does not reconnect in step. The
// stream's reconnects go without: one sidecar talks to one server, so there
// is no herd to spread, and deterministic waits keep its tests exact.
type Backoff struct {
	Min, Max time.Duration
	Jitter   bool

	next time.Duration
}

// Next returns the wait before the next attempt and doubles the one after.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.bounds()
	if b.next < lo {
		b.next = lo
	}
	d := b.next
	if b.next < hi {
		b.next *= 2
		if b.next > hi || b.next <= 0 { // <= 0: overflow
			b.next = hi
		}
	}
	return b.jitter(d)
}

// After is the wait before the attempt'th retry (1 for the first), for a
// caller that counts attempts itself (a NATS reconnect handler); it leaves
// the sequence of Next alone.
func (b *Backoff) After(attempt int) time.Duration {
	lo, hi := b.bounds()
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		if d > hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	return b.jitter(min(d, hi))
}

func (b *Backoff) jitter(d time.Duration) time.Duration {
	if !b.Jitter || d <= 0 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Reset starts the sequence again from Min, after a success.
func (b *Backoff) Reset() { b.next = 0 }

func (b *Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// SleepContext waits for d or until ctx is done, whichever comes first. It
// returns ctx.Err() when the wait was cut short, nil otherwise.
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
