package kv

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// checkEvery is how often the writer looks for a change of state; a
// change is put at once, the figures at least every period.
const checkEvery = time.Second

// putTimeout bounds one bind or put: the writer then tries again at the
// next check, with the latest document. A put sent while the bucket's
// stream has no leader (a cluster node was lost, an election runs) gets
// no answer at all, so it is short: the next put reaches the new leader
// soon after the election.
const putTimeout = RequestTimeout

// errorLogEvery rate-limits the writer's failure lines.
const errorLogEvery = 30 * time.Second

// Writer puts the sidecar's status into the bucket whenever its state
// changes and at least every Every. It runs in its own goroutine and
// reads the latest report and snapshot at each check, so a slow or absent
// bus delays only the next put (latest value wins), never the stream or
// the health loop.
type Writer struct {
	JS                jetstream.JetStream
	Bucket            string
	Every             time.Duration
	Cluster, Instance string
	SidecarServerID   uint32
	Report            func() health.Report
	Stream            func() stream.Snapshot
	Log               zerolog.Logger
}

// Run puts until ctx is done; it always returns nil (failures are logged
// and retried).
func (w *Writer) Run(ctx context.Context) error {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	var (
		kv       jetstream.KeyValue
		last     fleet.Document
		lastAt   time.Time
		lastSeen uint64 // events counted at the last put
		failing  bool
		failLog  = lograte.Limiter{Every: errorLogEvery}
	)
	key := Key(w.Cluster, w.Instance)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		snap := w.Stream()
		now := time.Now()
		rate := 0.0
		if !lastAt.IsZero() && snap.EventsTotal() >= lastSeen {
			rate = float64(snap.EventsTotal()-lastSeen) / now.Sub(lastAt).Seconds()
		}
		doc := FromReport(w.Cluster, w.Instance, w.SidecarServerID, w.Report(), snap, rate)
		doc.At = now
		if !lastAt.IsZero() && now.Sub(lastAt) < w.Every && fleet.SameState(last, doc) {
			continue
		}
		err := w.put(ctx, &kv, key, doc)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if failLog.Allow() {
				w.Log.Warn().Err(err).Str("bucket", w.Bucket).Msg("fleet status not put, retrying")
			}
			failing = true
			continue
		}
		if failing {
			w.Log.Info().Str("bucket", w.Bucket).Msg("fleet status put again")
			failing = false
			failLog.Reset()
		}
		last, lastAt, lastSeen = doc, now, snap.EventsTotal()
	}
}

func (w *Writer) put(ctx context.Context, kv *jetstream.KeyValue, key string, doc fleet.Document) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	if *kv == nil {
		b, err := Open(ctx, w.JS, w.Bucket, w.Every)
		if err != nil {
			return err
		}
		*kv = b
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = (*kv).Put(ctx, key, body)
	return err
}

// FromReport is the status document of a report and stream snapshot:
// /status without evidence, dump threads or checks.
func FromReport(cluster, instance string, sidecarID uint32, rep health.Report, snap stream.Snapshot, perSecond float64) fleet.Document {
	d := fleet.Document{
		Cluster: cluster, Instance: instance, At: rep.At, Health: rep.Health.String(),
		Server: fleet.Server{Flavor: rep.Server.Flavor, Version: rep.Server.Version,
			ServerID: rep.Server.ServerID, ServerUUID: rep.Server.ServerUUID},
		SidecarServerID: sidecarID,
		Stream: fleet.Stream{Connected: snap.Connected, PerSecond: perSecond, LagSeconds: snap.LagSeconds,
			Position: fleet.Position{File: snap.Position.File, Pos: snap.Position.Pos, GTID: snap.Position.GTID}},
		Replicas:  make([]fleet.Replica, 0, len(rep.Replicas)),
		Inventory: make([]fleet.InventoryItem, 0, len(rep.Inventory.Entries)),
		Problems:  make([]fleet.Problem, 0, len(rep.Problems)),
	}
	for _, r := range rep.Replicas {
		d.Replicas = append(d.Replicas, fleet.Replica{Address: r.Address, ServerID: r.ServerID, Status: r.Status, Expected: r.Expected})
	}
	for _, e := range rep.Inventory.Entries {
		d.Inventory = append(d.Inventory, fleet.InventoryItem{Address: e.Address, SemiSync: e.SemiSync, IPs: e.IPs})
	}
	for _, p := range rep.Problems {
		d.Problems = append(d.Problems, fleet.Problem{Type: p.Type, Subject: p.Subject, Severity: string(p.Severity),
			Since: p.Since, Summary: p.Summary})
	}
	return d
}
