package main

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// Without a bus (SIDECAR_NATS_URL=none: the log-only sink) or with the
// bucket set empty, no fleet status writer runs.
func TestFleetWriter_NoneWritesNothing(t *testing.T) {
	cfg, err := loadConfig([]string{"SIDECAR_INSTANCE=x", "SIDECAR_NATS_URL=none", "SIDECAR_DATA_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	report := func() health.Report { return health.Report{} }
	snap := func() stream.Snapshot { return stream.Snapshot{} }
	if w := fleetWriter(cfg, events.LogOnly(zerolog.Nop()), report, snap, zerolog.Nop()); w != nil {
		t.Error("a fleet writer with SIDECAR_NATS_URL=none")
	}
	pub, err := events.New(events.Options{URLs: []string{"nats://127.0.0.1:1"}, DataDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.KVBucket = ""
	if w := fleetWriter(cfg, pub, report, snap, zerolog.Nop()); w != nil {
		t.Error("a fleet writer with SIDECAR_NATS_KV_BUCKET empty")
	}
	cfg.NATS.KVBucket = "B"
	if w := fleetWriter(cfg, pub, report, snap, zerolog.Nop()); w == nil || w.Bucket != "B" || w.SidecarServerID != cfg.ServerID {
		t.Errorf("writer %+v, want one for bucket B with the sidecar's server_id", w)
	}
}
