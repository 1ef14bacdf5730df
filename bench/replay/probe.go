//go:build !nosidecar

package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// probe measures event-to-counted latency: a row is written with its
// microsecond timestamp every interval; the stream's OnCommit reports when
// the transaction with that row's GTID was counted.
type probe struct {
	mu sync.Mutex
	// recent holds the GTID sequence numbers counted lately and when, for
	// rows counted before the writer learned their GTID.
	recent  [4096]counted
	n       int
	lastSeq uint64
	pending []marker // written, not yet counted, in GTID order
	lat     []time.Duration
}

type counted struct {
	seq uint64
	at  int64 // Unix µs
}

type marker struct {
	seq     uint64
	written int64 // Unix µs, the value in the row
}

// onCommit is binlog.Config.OnCommit.
func (p *probe) onCommit(g stream.GTID) {
	if g.Kind != stream.GTIDMariaDB || g.Domain != 0 {
		return
	}
	now := time.Now().UnixMicro()
	p.mu.Lock()
	p.recent[p.n%len(p.recent)] = counted{g.Seq, now}
	p.n++
	p.lastSeq = g.Seq
	for len(p.pending) > 0 && p.pending[0].seq <= g.Seq {
		p.lat = append(p.lat, time.Duration(now-p.pending[0].written)*time.Microsecond)
		p.pending = p.pending[1:]
	}
	p.mu.Unlock()
}

// written records a row with GTID sequence seq written at w.
func (p *probe) written(seq uint64, w int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.lastSeq {
		p.pending = append(p.pending, marker{seq, w})
		return
	}
	for i := 0; i < min(p.n, len(p.recent)); i++ { // counted already: when?
		c := p.recent[(p.n-1-i)%len(p.recent)]
		if c.seq < seq {
			break
		}
		if c.seq == seq {
			p.lat = append(p.lat, time.Duration(c.at-w)*time.Microsecond)
			return
		}
	}
}

// write writes one row every interval until ctx ends.
func (p *probe) write(ctx context.Context, o options) error {
	c, err := client.ConnectWithContext(ctx, o.addr, o.probeUser, o.probePassword, "sbtest", 5*time.Second)
	if err != nil {
		return fmt.Errorf("probe: connect: %w", err)
	}
	defer c.Close()
	if _, err := c.Execute("CREATE TABLE IF NOT EXISTS latency (id BIGINT PRIMARY KEY, written_us BIGINT NOT NULL)"); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	tick := time.NewTicker(o.probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		w := time.Now().UnixMicro()
		if _, err := c.Execute(fmt.Sprintf("INSERT INTO latency VALUES (%d, %d)", w, w)); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		r, err := c.Execute("SELECT @@last_gtid")
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		g, _ := r.GetString(0, 0)
		seq, err := strconv.ParseUint(g[strings.LastIndexByte(g, '-')+1:], 10, 64)
		if err != nil || !strings.HasPrefix(g, "0-") {
			return fmt.Errorf("probe: @@last_gtid %q: want a GTID of domain 0", g)
		}
		p.written(seq, w)
	}
}

// summary is nil without samples.
func (p *probe) summary() *latency {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lat) == 0 {
		return nil
	}
	l := slices.Clone(p.lat)
	slices.Sort(l)
	q := func(f float64) float64 {
		i := int(math.Ceil(f*float64(len(l)))) - 1
		return float64(l[max(i, 0)].Microseconds()) / 1000
	}
	return &latency{Samples: len(l), P50Ms: q(0.50), P99Ms: q(0.99), MaxMs: q(1)}
}
