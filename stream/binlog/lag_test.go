package binlog

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

// TestSource_lagUnderSteadyLoad: a writer commits continuously against a
// real primary while the binlog end is read once a second, as the health
// poll does. A stream that keeps up reads lag 0 (not the 0.0–0.99 s that
// one-second header timestamps would show); once the stream stops while the
// server keeps writing, lag is the age of the newest event and grows.
func TestSource_lagUnderSteadyLoad(t *testing.T) {
	testdb.Require(t)
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))")
	r := startSource(t, p, Config{})
	testwait.Until(t, "stream connected", 30*time.Second, func() bool { return r.meter.Snapshot().Connected })

	ctx, cancel := context.WithCancel(context.Background())
	var writer sync.WaitGroup
	c := p.Conn(t)
	var commits atomic.Int64
	writer.Go(func() {
		for ctx.Err() == nil && commits.Load() < 200000 {
			if _, err := c.Execute("INSERT INTO sbtest.t (v) VALUES (REPEAT('x', 100))"); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			commits.Add(1)
		}
	})
	defer func() { cancel(); writer.Wait() }()

	// Steady load: sample the lag every 100 ms over 5 s, feeding the
	// meter the server's end once a second.
	var samples, zero int
	nonZero := map[float64]int{}
	lastEnd := time.Time{}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if time.Since(lastEnd) >= time.Second {
			r.meter.SetServerEnd(masterPos(t, p))
			lastEnd = time.Now()
		}
		s := r.meter.Snapshot()
		if s.LagSeconds == nil {
			t.Fatalf("lag unknown under load: %s", s.LagUnknown)
		}
		samples++
		if *s.LagSeconds == 0 {
			zero++
		} else {
			nonZero[*s.LagSeconds]++
		}
	}
	t.Logf("steady load: %d commits so far; %d of %d lag samples 0, the others %v", commits.Load(), zero, samples, nonZero)
	// The rare exception is a sample taken just after a second boundary
	// while the stream is a batch behind the end read at the last poll.
	if zero < samples*8/10 {
		t.Errorf("lag under steady load on a current stream: %d of %d samples 0, want at least 80%%; others %v", zero, samples, nonZero)
	}

	// The stream stops; the server goes on writing and the poll goes on
	// reading its end: lag is the newest event's age, and it grows.
	r.stop(t)
	r.meter.SetServerEnd(masterPos(t, p))
	first := r.meter.Snapshot()
	if first.LagSeconds == nil {
		t.Fatalf("lag unknown after the stream stopped: %s", first.LagUnknown)
	}
	testwait.Until(t, "two more seconds of server writes", 30*time.Second, func() bool {
		return time.Since(first.LastEventTime) > 2*time.Second+time.Duration(*first.LagSeconds*float64(time.Second))
	})
	r.meter.SetServerEnd(masterPos(t, p))
	later := r.meter.Snapshot()
	if later.LagSeconds == nil || *later.LagSeconds <= *first.LagSeconds || *later.LagSeconds < 2 {
		t.Errorf("lag with the stream stopped: first %v, later %v (%s); want it to grow past 2 s", *first.LagSeconds, later.LagSeconds, later.LagUnknown)
	}
	t.Logf("stream stopped: lag %.1f s, then %.1f s", *first.LagSeconds, *later.LagSeconds)
}
