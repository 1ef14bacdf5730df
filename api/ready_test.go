package api

import (
	"reflect"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

func TestReadiness(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		give        stream.Snapshot
		wantReady   bool
		wantReasons []string
	}{
		{
			name:      "connected, heartbeat 1s ago",
			give:      stream.Snapshot{At: t0, HeartbeatPeriod: time.Second, Connected: true, ConnectedSince: t0.Add(-time.Minute), LastReceived: t0.Add(-time.Second)},
			wantReady: true,
		},
		{
			name:      "connected just now, nothing received yet",
			give:      stream.Snapshot{At: t0, HeartbeatPeriod: time.Second, Connected: true, ConnectedSince: t0.Add(-2 * time.Second)},
			wantReady: true,
		},
		{
			name:        "stalled",
			give:        stream.Snapshot{At: t0, HeartbeatPeriod: time.Second, Connected: true, ConnectedSince: t0.Add(-time.Minute), LastReceived: t0.Add(-4 * time.Second)},
			wantReasons: []string{"stream stalled: no event or heartbeat for 4s (limit 3s, 3 heartbeat periods)"},
		},
		{
			name:        "down with hint",
			give:        stream.Snapshot{At: t0, HeartbeatPeriod: time.Second, LastError: "binlog_format is STATEMENT", Hint: "SET GLOBAL binlog_format=ROW"},
			wantReasons: []string{"not connected to the server: binlog_format is STATEMENT (fix: SET GLOBAL binlog_format=ROW)"},
		},
		{
			name:        "never connected",
			give:        stream.Snapshot{At: t0, HeartbeatPeriod: time.Second},
			wantReasons: []string{"not connected to the server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, reasons := Readiness(tt.give)
			if ready != tt.wantReady || !reflect.DeepEqual(reasons, tt.wantReasons) {
				t.Errorf("Readiness = %v %q, want %v %q", ready, reasons, tt.wantReady, tt.wantReasons)
			}
		})
	}
}
