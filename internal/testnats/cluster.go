package testnats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

// CreateStream creates or updates a stream on a new cluster: it retries
// until JetStream has elected its meta leader, for at most 90 s.
func CreateStream(t testing.TB, ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	testwait.Until(t, "a JetStream meta leader and stream "+cfg.Name, 90*time.Second, func() bool {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(sctx, cfg)
		return err == nil
	})
}

// monitorTimeout bounds one read of a node's monitoring endpoint.
const monitorTimeout = 5 * time.Second

// Clients are the names of the client connections a cluster node holds
// now (its /connz), as the clients gave them (nats.Name).
func (s *Server) Clients(ctx context.Context) ([]string, error) {
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := s.monitorJSON(ctx, "/connz?limit=100000", &connz); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(connz.Connections))
	for _, c := range connz.Connections {
		names = append(names, c.Name)
	}
	return names, nil
}

// Varz is the part of a node's /varz the tests and the benchmark read.
type Varz struct {
	CPU      float64 `json:"cpu"` // percent of one core, as the server samples it
	Mem      int64   `json:"mem"` // resident bytes
	InMsgs   int64   `json:"in_msgs"`
	OutMsgs  int64   `json:"out_msgs"`
	InBytes  int64   `json:"in_bytes"`
	OutBytes int64   `json:"out_bytes"`
}

// Varz reads a cluster node's /varz.
func (s *Server) Varz(ctx context.Context) (Varz, error) {
	var v Varz
	err := s.monitorJSON(ctx, "/varz", &v)
	return v, err
}

func (s *Server) monitorJSON(ctx context.Context, path string, v any) error {
	if s.monitor == 0 {
		return errors.New("testnats: no monitoring port (a cluster node has one)")
	}
	ctx, cancel := context.WithTimeout(ctx, monitorTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MonitorURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("testnats: %s%s: %w", s.name, path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("testnats: %s%s: %w", s.name, path, err)
	}
	return nil
}

// Leader is the server_name of stream's JetStream leader, empty while it
// has none.
func Leader(ctx context.Context, js jetstream.JetStream, stream string) (string, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}

// LeadStream makes node stream's leader by asking the current leader to
// step down until the election picks node, at most attempts times (the
// server picks the new leader; nats-server 2.9 takes no preference). It
// returns the leader it ended with.
func LeadStream(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, stream, node string, attempts int) (string, error) {
	leader, err := waitLeader(ctx, js, stream, "")
	for i := 0; err == nil && leader != node && i < attempts; i++ {
		if _, err = nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil); err != nil {
			break
		}
		leader, err = waitLeader(ctx, js, stream, leader)
	}
	return leader, err
}

// waitLeader polls until stream has a leader other than old (any leader
// when old is empty), or ctx ends.
func waitLeader(ctx context.Context, js jetstream.JetStream, stream, old string) (string, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, monitorTimeout)
		leader, err := Leader(rctx, js, stream)
		cancel()
		if err == nil && leader != "" && leader != old {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testnats: no new leader of %s (last error: %v): %w", stream, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Embedded starts the sidecar's embedded server (package bus) on a free
// loopback port with its store in a temporary directory, stops it at
// cleanup, and returns its client URL and a connection with the
// sidecar's credentials, the only one that may write; a client without
// credentials connects as its anonymous reader.
func Embedded(t testing.TB, ctx context.Context) (url string, sidecar *nats.Conn) {
	t.Helper()
	if testing.Short() {
		t.Skip("testnats: -short starts no embedded nats server")
	}
	e, err := bus.StartEmbedded(ctx, bus.Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatalf("testnats: embedded: %v", err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	user, password := e.Credentials()
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(user, password))
	if err != nil {
		t.Fatalf("testnats: connect to the embedded server: %v", err)
	}
	t.Cleanup(nc.Close)
	return e.ClientURL(), nc
}

// StoredMessages reads every message stream holds, by sequence number, in
// order: no consumer, so a test sees what the stream stored, not what a
// consumer would be given.
func StoredMessages(t testing.TB, ctx context.Context, stream jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*jetstream.RawStreamMsg, 0, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s message %d: %v", info.Config.Name, seq, err)
		}
		out = append(out, m)
	}
	return out
}
