// Package kv keeps the fleet's status documents in a NATS JetStream
// key-value bucket: the sidecar's writer puts its own document, `sidecar
// fleet` reads and watches everyone's. The model (what a document holds,
// what is stale, the findings) is package fleet's.
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
)

// DefaultBucket is SIDECAR_NATS_KV_BUCKET's default.
const DefaultBucket = "MYSQL_HEALTH_STATUS"

// ttlPeriods is the bucket's TTL in put periods: a key is stale after
// fleet.StaleAfter periods and removed a little later, so a reader sees it
// stale before it vanishes.
const ttlPeriods = 2 * fleet.StaleAfter

// Key is the bucket key of a sidecar: <cluster>.<instance>, each made one
// subject token.
func Key(cluster, instance string) string {
	return events.Token(cluster) + "." + events.Token(instance)
}

// Open binds the bucket, creating it when missing: one value per key
// (history 1), file storage, a TTL of a few put periods, and on a server
// that supports them (nats-server 2.11+) delete markers when a key
// expires, so that watchers are told. An existing bucket is used as it is
// (an operator may have created it with replicas on a cluster).
func Open(ctx context.Context, js jetstream.JetStream, bucket string, every time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		if err != nil {
			return nil, fmt.Errorf("bind key-value bucket %s: %w", bucket, err)
		}
		return kv, nil
	}
	cfg := jetstream.KeyValueConfig{Bucket: bucket, History: 1, TTL: ttlPeriods * every, Storage: jetstream.FileStorage,
		Description: "binlog-sidecar fleet status, one key per sidecar", LimitMarkerTTL: ttlPeriods * every}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		cfg.LimitMarkerTTL = 0 // an older server: readers judge staleness by age alone
		kv, err = js.CreateKeyValue(ctx, cfg)
	}
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		kv, err = js.KeyValue(ctx, bucket) // another sidecar was first
	}
	if err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// RequestTimeout bounds each request Read makes. A stream whose leader
// was lost answers nothing until its replicas elected a new one (seconds
// on nats-server 2.9), so a request sent meanwhile waits out its whole
// timeout: a short one lets the next read reach the new leader soon after
// the election instead of waiting for a long deadline.
const RequestTimeout = 2 * time.Second

// Read returns every key of the bucket as it is now, with the keys
// removed (deleted, or expired with a delete marker) marked Gone. Values
// that are not a status document are counted in bad, not returned. It
// creates no consumer: the keys come from the stream's subject list and
// each value from a direct read of the subject's last message, which is
// what an anonymous client of the embedded server may do and what keeps
// working on a cluster while a consumer could not be placed. Each request
// is bounded by RequestTimeout as well as by ctx.
func Read(ctx context.Context, js jetstream.JetStream, bucket string) (entries []fleet.Entry, bad int, err error) {
	stream, err := bucketStream(ctx, js, bucket)
	if err != nil {
		return nil, 0, err
	}
	return readStream(ctx, stream, bucket)
}

// bucketStream binds the bucket's stream (one request).
func bucketStream(ctx context.Context, js jetstream.JetStream, bucket string) (stream jetstream.Stream, err error) {
	err = within(ctx, func(ctx context.Context) (err error) {
		stream, err = js.Stream(ctx, "KV_"+bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read key-value bucket %s: %w", bucket, err)
	}
	return stream, nil
}

// readStream is Read on a bound stream: the subject list, then each
// subject's last message.
func readStream(ctx context.Context, stream jetstream.Stream, bucket string) (entries []fleet.Entry, bad int, err error) {
	var info *jetstream.StreamInfo
	prefix := "$KV." + bucket + "."
	err = within(ctx, func(ctx context.Context) (err error) {
		info, err = stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list key-value bucket %s: %w", bucket, err)
	}
	subjects := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		subjects = append(subjects, subj)
	}
	slices.Sort(subjects)
	msgs, errs := lastMessages(ctx, stream, subjects)
	st := NewState()
	for i, subj := range subjects {
		if errors.Is(errs[i], jetstream.ErrMsgNotFound) {
			continue // expired meanwhile
		}
		if errs[i] != nil {
			return nil, 0, fmt.Errorf("read key-value bucket %s: %w", bucket, errs[i])
		}
		st.apply(strings.TrimPrefix(subj, prefix), operation(msgs[i].Header), msgs[i].Time, msgs[i].Data)
	}
	return st.Entries(), st.Bad, nil
}

// readParallel is how many messages a read asks for at once: the servers
// answer each direct read on its own, so a thousand keys take a sixteenth
// of the time of one request after another.
const readParallel = 16

// lastMessages reads each subject's last message, readParallel at a time;
// msgs[i] and errs[i] are subjects[i]'s.
func lastMessages(ctx context.Context, stream jetstream.Stream, subjects []string) (msgs []*jetstream.RawStreamMsg, errs []error) {
	return inParallel(ctx, len(subjects), func(ctx context.Context, i int) (*jetstream.RawStreamMsg, error) {
		return stream.GetLastMsgForSubject(ctx, subjects[i])
	})
}

// inParallel makes n reads, readParallel at a time, each bounded by
// RequestTimeout; msgs[i] and errs[i] are read i's.
func inParallel(ctx context.Context, n int, read func(context.Context, int) (*jetstream.RawStreamMsg, error)) (msgs []*jetstream.RawStreamMsg, errs []error) {
	msgs, errs = make([]*jetstream.RawStreamMsg, n), make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(readParallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = within(ctx, func(ctx context.Context) (err error) {
					msgs[i], err = read(ctx, i)
					return err
				})
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return msgs, errs
}

// within runs one request with RequestTimeout.
func within(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	return f(ctx)
}

// operation is a stored message's key-value operation, from its headers
// as nats.go's watcher reads them: a delete or purge, or a server's delete
// marker when the TTL removed the key.
func operation(h nats.Header) jetstream.KeyValueOp {
	switch h.Get("KV-Operation") {
	case "DEL":
		return jetstream.KeyValueDelete
	case "PURGE":
		return jetstream.KeyValuePurge
	}
	switch h.Get(jetstream.MarkerReasonHeader) {
	case "MaxAge", "Purge":
		return jetstream.KeyValuePurge
	case "Remove":
		return jetstream.KeyValueDelete
	}
	return jetstream.KeyValuePut
}

// State is the bucket as a watcher has seen it so far: the last value of
// every key, kept (marked Gone) when the key is removed so that a view can
// still show what the silent sidecar last said.
type State struct {
	keys  map[string]fleet.Entry
	order []string
	// Bad counts values that were not a status document.
	Bad int
}

// NewState is an empty State.
func NewState() *State { return &State{keys: map[string]fleet.Entry{}} }

// Apply records one update of the watcher.
func (s *State) Apply(e jetstream.KeyValueEntry) {
	s.apply(e.Key(), e.Operation(), e.Created(), e.Value())
}

func (s *State) apply(key string, op jetstream.KeyValueOp, created time.Time, value []byte) {
	prev, seen := s.keys[key]
	if !seen {
		s.order = append(s.order, key)
	}
	next := fleet.Entry{Key: key, Updated: created}
	switch op {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		next.Doc, next.Gone = prev.Doc, true
		if seen {
			next.Updated = prev.Updated // when it last spoke, not when it was removed
		}
	default:
		var d fleet.Document
		if err := json.Unmarshal(value, &d); err != nil {
			s.Bad++
			if seen {
				return
			}
			delete(s.keys, key)
			s.order = s.order[:len(s.order)-1]
			return
		}
		next.Doc = &d
	}
	s.keys[key] = next
}

// Update takes a fresh Read of the bucket: a key absent from it (its
// value and its marker expired, or no marker on an older server) or read
// as removed keeps the document last seen, marked Gone, so that a view
// still shows what the silent sidecar last said.
func (s *State) Update(entries []fleet.Entry) {
	fresh := map[string]bool{}
	for _, e := range entries {
		fresh[e.Key] = true
		prev, seen := s.keys[e.Key]
		if !seen {
			s.order = append(s.order, e.Key)
		}
		if e.Gone && e.Doc == nil && seen {
			e.Doc, e.Updated = prev.Doc, prev.Updated
		}
		s.keys[e.Key] = e
	}
	for k, e := range s.keys {
		if !fresh[k] && !e.Gone {
			e.Gone = true
			s.keys[k] = e
		}
	}
}

// Entries are the keys in the order first seen.
func (s *State) Entries() []fleet.Entry {
	out := make([]fleet.Entry, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.keys[k])
	}
	return out
}
