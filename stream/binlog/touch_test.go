package binlog

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestTranslator_touchInsideTransaction: while one transaction streams in
// slowly (small events on a slow link) or in large events (1 MiB each), the
// meter hears of it often enough that the stream never looks stalled.
func TestTranslator_touchInsideTransaction(t *testing.T) {
	file, events := loadTestdata(t)
	// The first rows event of the first transaction.
	k := -1
	for i, e := range events {
		if rowsKinds[e[4]].op != 0 {
			k = i
			break
		}
	}
	if k < 0 {
		t.Fatal("no rows event in testdata")
	}
	big := event(1, 200, 0, 0, make([]byte, 1<<20), false) // an event of a type not decoded, 1 MiB

	for _, tc := range []struct {
		name string
		ev   []byte
		step time.Duration // between events
	}{
		{"slow small events", events[k], 10 * time.Millisecond},
		{"1 MiB events", big, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const hb = 200 * time.Millisecond
			now := time.Unix(1700000000, 0)
			m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: hb, Now: func() time.Time { return now }})
			tr := newTranslator(m, zerolog.Nop(), nil)
			tr.clock = func() time.Duration { return now.Sub(time.Unix(0, 0)) }
			tr.startSession(stream.Position{File: file, Pos: 4})
			m.Connected()
			for _, e := range events[:k+1] {
				if err := tr.handle(e); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 300 {
				now = now.Add(tc.step)
				if err := tr.handle(tc.ev); err != nil {
					t.Fatal(err)
				}
				if tr.group == outside {
					t.Fatalf("event %d ended the transaction", i)
				}
				if s := m.Snapshot(); s.Stalled() {
					t.Fatalf("stalled after %d events (%v) of one open transaction; last received %v ago",
						i+1, time.Duration(i+1)*tc.step, s.At.Sub(s.LastReceived))
				}
			}
		})
	}
}
