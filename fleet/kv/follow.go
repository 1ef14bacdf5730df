package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
)

// ResyncEvery is how often a Follower reads the whole bucket again rather
// than only what changed: a key whose value expired without a delete
// marker (nats-server before 2.11) leaves no message behind, and only a
// whole read tells it is gone (meanwhile its age makes it stale).
const ResyncEvery = time.Minute

// Follower keeps the bucket's state up to date for a reader that looks
// every second (the live view, --publish) at the cost of what changed,
// not of the whole fleet: after a first whole Read it asks only for the
// messages stored since, by sequence, one direct read each (the next
// message of the bucket at or after a sequence, so that the values
// already replaced cost nothing), and reads everything again every
// ResyncEvery. Like Read it creates no consumer. A Follower is used by
// one goroutine.
type Follower struct {
	JS     jetstream.JetStream
	Bucket string

	st       *State
	stream   jetstream.Stream // bound at each whole read
	next     uint64           // the first sequence not read yet; 0 before the first whole read
	resyncAt time.Time
}

// Entries reads what changed since the last call (everything at the first
// and every ResyncEvery) and returns every key as the reader knows it, in
// the order first seen: removed keys, and keys absent from a whole read,
// keep their last document, marked Gone. On an error the state is kept
// and the next call goes on from where this one stopped.
func (f *Follower) Entries(ctx context.Context) ([]fleet.Entry, error) {
	if f.st == nil {
		f.st = NewState()
	}
	if f.next == 0 || !time.Now().Before(f.resyncAt) {
		if err := f.resync(ctx); err != nil {
			return nil, err
		}
		return f.st.Entries(), nil
	}
	if err := f.follow(ctx); err != nil {
		return nil, err
	}
	return f.st.Entries(), nil
}

// resync reads the whole bucket. The last sequence is taken before the
// values are read, so that a value put meanwhile is read again by the
// next follow rather than missed.
func (f *Follower) resync(ctx context.Context) error {
	var stream jetstream.Stream
	err := within(ctx, func(ctx context.Context) (err error) {
		stream, err = f.JS.Stream(ctx, "KV_"+f.Bucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("read key-value bucket %s: %w", f.Bucket, err)
	}
	entries, _, err := Read(ctx, f.JS, f.Bucket)
	if err != nil {
		return err
	}
	f.st.Update(entries)
	f.stream, f.next, f.resyncAt = stream, stream.CachedInfo().State.LastSeq+1, time.Now().Add(ResyncEvery)
	return nil
}

// follow applies every message stored at or after f.next, in order.
func (f *Follower) follow(ctx context.Context) error {
	prefix := "$KV." + f.Bucket + "."
	for {
		var m *jetstream.RawStreamMsg
		err := within(ctx, func(ctx context.Context) (err error) {
			m, err = f.stream.GetMsg(ctx, f.next, jetstream.WithGetMsgSubject(prefix+">"))
			return err
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil // nothing newer (yet)
		}
		if err != nil {
			return fmt.Errorf("read key-value bucket %s: %w", f.Bucket, err)
		}
		f.st.apply(strings.TrimPrefix(m.Subject, prefix), operation(m.Header), m.Time, m.Data)
		f.next = m.Sequence + 1
	}
}
