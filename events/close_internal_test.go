package events

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
)

// deadNATS is a loopback URL where nothing listens.
func deadNATS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "nats://" + l.Addr().String()
}

// When Close's deadline passes while the writer backs off after spool
// write errors, the events still in memory are written to the spool by
// Close, not lost; when even that write fails, they count as dropped.
func TestPublisher_CloseSpoolsMemoryQueue(t *testing.T) {
	tests := []struct {
		name      string
		heals     bool // the disk works again once Close's deadline passed
		wantSpool int
		wantDrop  uint64
	}{
		{"disk heals", true, 20, 0},
		{"disk stays broken", false, 0, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := New(Options{URLs: []string{deadNATS(t)}, Stream: "S", DataDir: dir, Cluster: "c", Instance: "i"}, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			real := p.appendSpool
			p.appendSpool = func(recs []spool.Record) (int, error) {
				if ctx.Err() == nil || !tt.heals {
					return 0, errors.New("disk full")
				}
				return real(recs)
			}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			b := NewBuilder("c", "i")
			for range 20 {
				p.Publish(b.Lifecycle(TypeSidecarStarted, "x", nil))
			}
			err = p.Close(ctx)
			st := p.Stats()
			if st.Dropped != tt.wantDrop || st.Pending != tt.wantSpool {
				t.Errorf("after close: dropped %d, pending %d; want %d, %d (err %v)", st.Dropped, st.Pending, tt.wantDrop, tt.wantSpool, err)
			}
			if tt.wantSpool > 0 && !errors.Is(err, ErrUndelivered) {
				t.Errorf("close: got %v, want ErrUndelivered", err)
			}
			if tt.wantDrop > 0 && (err == nil || errors.Is(err, ErrUndelivered)) {
				t.Errorf("close: got %v, want an error saying events were lost", err)
			}
			sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if got := sp.Unread(); got != tt.wantSpool {
				t.Errorf("spool after close: %d events, want %d", got, tt.wantSpool)
			}
		})
	}
}
