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
// messages stored since, by sequence, readParallel at a time (one direct
// read per sequence), and reads everything again every ResyncEvery. Like Read it creates no consumer. A Follower is used by
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
	stream, err := bucketStream(ctx, f.JS, f.Bucket)
	if err != nil {
		return err
	}
	last := stream.CachedInfo().State.LastSeq
	entries, _, err := readStream(ctx, stream, f.Bucket)
	if err != nil {
		return err
	}
	f.st.Update(entries)
	f.stream, f.next, f.resyncAt = stream, last+1, time.Now().Add(ResyncEvery)
	return nil
}

// follow applies every message stored since f.next, in order. It asks
// the stream's leader for its last sequence, then, readParallel at a
// time, for each sequence up to it the bucket's next message at or after
// it: a value replaced since costs an answer that points past it. A
// direct read may be answered by a replica that is behind; its "nothing
// at or after" ends this call at that sequence, to be asked again at the
// next (a message it does return is never ahead of one it skipped). When
// more sequences passed than there are keys, a whole read is cheaper.
func (f *Follower) follow(ctx context.Context) error {
	var info *jetstream.StreamInfo
	err := within(ctx, func(ctx context.Context) (err error) {
		info, err = f.stream.Info(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("read key-value bucket %s: %w", f.Bucket, err)
	}
	last := info.State.LastSeq
	if last < f.next {
		return nil
	}
	if last-f.next >= uint64(max(len(f.st.keys), readParallel)) {
		return f.resync(ctx)
	}
	prefix := "$KV." + f.Bucket + "."
	first := f.next
	msgs, errs := inParallel(ctx, int(last-first+1), func(ctx context.Context, i int) (*jetstream.RawStreamMsg, error) {
		return f.stream.GetMsg(ctx, first+uint64(i), jetstream.WithGetMsgSubject(prefix+">"))
	})
	for i, m := range msgs {
		switch seq := first + uint64(i); {
		case seq < f.next:
			continue // an earlier answer pointed past it
		case errors.Is(errs[i], jetstream.ErrMsgNotFound):
			return nil
		case errs[i] != nil:
			return fmt.Errorf("read key-value bucket %s: %w", f.Bucket, errs[i])
		}
		f.st.apply(strings.TrimPrefix(m.Subject, prefix), operation(m.Header), m.Time, m.Data)
		f.next = m.Sequence + 1
	}
	return nil
}
