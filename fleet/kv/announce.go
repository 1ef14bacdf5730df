package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// ProblemsBucket is the bucket where `sidecar fleet --publish` records
// each finding's state, next to the status bucket: <bucket>_PROBLEMS.
func ProblemsBucket(bucket string) string { return bucket + "_PROBLEMS" }

// recordAttempts bounds the compare-and-set retries of one transition
// when other publishers write the same record at once.
const recordAttempts = 8

// record is a finding's state as the publishers agreed on it.
type record struct {
	State   health.State  `json:"state"`
	Since   time.Time     `json:"since"`
	Finding fleet.Finding `json:"finding"`
}

// Announcer publishes the findings' transitions (firing, resolved) as
// problem events on <prefix>.fleet.<type>. Several may run: each records
// a transition in the problems bucket with compare-and-set, so all agree on
// its revision, and publishes with Nats-Msg-Id <problem id>:<state>:<revision>,
// so JetStream keeps one copy of each transition (within the stream's
// duplicate window). A recorded transition waits in a queue, in order,
// until the bus acknowledged it: a finding that resolves and fires again
// while the bus is away still yields both events.
type Announcer struct {
	JS      jetstream.JetStream
	Records jetstream.KeyValue
	Builder *events.Builder
	Prefix  string
	// active is each finding as last recorded: firing ones only.
	active  map[string]fleet.Finding
	pending []pendingEvent
	// Published and Duplicates count events stored and events JetStream
	// reported as duplicates (another publisher was first).
	Published, Duplicates int
}

// pendingEvent is a recorded transition not yet acknowledged by the bus.
type pendingEvent struct {
	id    string
	rev   uint64
	since time.Time
	f     fleet.Finding
	state health.State
}

// Transition is one event an Announcer sent.
type Transition struct {
	Finding   fleet.Finding
	State     health.State
	Duplicate bool
}

// Load takes the findings recorded as firing as active, so that a
// publisher that starts after a finding fired still resolves it.
func (a *Announcer) Load(ctx context.Context) error {
	a.active = map[string]fleet.Finding{}
	lister, err := a.Records.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", a.Records.Bucket(), err)
	}
	for key := range lister.Keys() {
		e, err := a.Records.Get(ctx, key)
		if err != nil {
			continue // removed meanwhile
		}
		var r record
		if json.Unmarshal(e.Value(), &r) == nil && r.State == health.StateFiring {
			a.active[key] = r.Finding
		}
	}
	return nil
}

// Sync records what changed since the last Sync (findings new in now
// fire, findings gone from it resolve) and publishes every recorded
// transition not yet acknowledged, in order. It returns the transitions
// acknowledged and the first error (the rest is retried at the next Sync).
func (a *Announcer) Sync(ctx context.Context, now []fleet.Finding) ([]Transition, error) {
	if a.active == nil {
		a.active = map[string]fleet.Finding{}
	}
	current := map[string]fleet.Finding{}
	for _, f := range now {
		current[f.ProblemID()] = f
	}
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	change := func(id string, f fleet.Finding, state health.State) {
		rev, since, err := a.record(ctx, id, f, state)
		if err != nil {
			note(err)
			return
		}
		a.pending = append(a.pending, pendingEvent{id: id, rev: rev, since: since, f: f, state: state})
		if state == health.StateFiring {
			a.active[id] = f
		} else {
			delete(a.active, id)
		}
	}
	for _, f := range now {
		if id := f.ProblemID(); !hasKey(a.active, id) {
			change(id, f, health.StateFiring)
		}
	}
	for id, f := range a.active {
		if !hasKey(current, id) {
			change(id, f, health.StateResolved)
		}
	}
	var sent []Transition
	for len(a.pending) > 0 {
		p := a.pending[0]
		dup, err := a.publish(ctx, p)
		if err != nil {
			note(err)
			break
		}
		a.pending = a.pending[1:]
		sent = append(sent, Transition{Finding: p.f, State: p.state, Duplicate: dup})
	}
	return sent, firstErr
}

func hasKey(m map[string]fleet.Finding, k string) bool { _, ok := m[k]; return ok }

// publish sends one recorded transition with the agreed id.
func (a *Announcer) publish(ctx context.Context, p pendingEvent) (duplicate bool, err error) {
	body, err := events.Encode(a.Builder.FromFleet(events.FleetTransition{Finding: p.f, State: p.state, Since: p.since}))
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", p.f.Type, err)
	}
	msg := nats.NewMsg(events.FleetSubject(a.Prefix, p.f.Type))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s:%s:%d", p.id, p.state, p.rev))
	ack, err := a.JS.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("publish %s %s: %w", p.f.Type, p.state, err)
	}
	if ack.Duplicate {
		a.Duplicates++
	} else {
		a.Published++
	}
	return ack.Duplicate, nil
}

// record sets the finding's record to state with compare-and-set, or
// returns the revision another publisher set it at.
func (a *Announcer) record(ctx context.Context, id string, f fleet.Finding, state health.State) (uint64, time.Time, error) {
	var lastErr error
	for range recordAttempts {
		e, err := a.Records.Get(ctx, id)
		var r record
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, time.Time{}, fmt.Errorf("read %s/%s: %w", a.Records.Bucket(), id, err)
		default:
			if json.Unmarshal(e.Value(), &r) == nil && r.State == state {
				return e.Revision(), r.Since, nil // another publisher was first
			}
		}
		next := record{State: state, Since: time.Now().UTC(), Finding: f}
		if state == health.StateResolved && !r.Since.IsZero() {
			next.Since = r.Since // a resolved problem keeps when it started
		}
		body, _ := json.Marshal(next)
		var rev uint64
		if e == nil {
			rev, err = a.Records.Create(ctx, id, body)
		} else {
			rev, err = a.Records.Update(ctx, id, body, e.Revision())
		}
		if err == nil {
			return rev, next.Since, nil
		}
		lastErr = err // another publisher wrote first: read again
	}
	return 0, time.Time{}, fmt.Errorf("record %s/%s: %w", a.Records.Bucket(), id, lastErr)
}

// OpenProblems binds the problems bucket, creating it when missing (one
// value per key, no TTL: a record lives as long as its problem matters).
func OpenProblems(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	name := ProblemsBucket(bucket)
	b, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		b, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: jetstream.FileStorage,
			Description: "binlog-sidecar fleet findings, as the publishers agreed on them"})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			b, err = js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", name, err)
	}
	return b, nil
}
