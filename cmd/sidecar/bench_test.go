package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/bus"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// BenchmarkRun_Bus replays the same binlog through the whole daemon with the
// event bus up and with it down (a NATS URL nothing listens on), to show
// that a missing bus never slows the stream: events wait in the spool, the
// stream does not wait for them. Reported as stream-MB/s over the last two
// thirds of the file (start-up, which differs by the bus connection, is not
// part of it); compare the two sub-benchmarks:
//
//	go test -run '^$' -bench Run_Bus -benchtime 5x ./cmd/sidecar
func BenchmarkRun_Bus(b *testing.B) {
	testdb.Require(b)
	p := testdb.StartPrimary(b, testdb.Options{Name: "bbus", Extra: []string{"--binlog-annotate-row-events=OFF"}})
	p.Exec(b, "CREATE TABLE sbtest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200))")
	p.Exec(b, "FLUSH BINARY LOGS")
	file, _ := p.MasterStatus(b)
	row := "('" + strings.Repeat("x", 190) + "')"
	stmt := "INSERT INTO sbtest.t (v) VALUES " + strings.Repeat(row+",", 499) + row
	for i := 0; i < 800; i++ { // 400,000 rows, about 90 MB of binlog
		p.Exec(b, stmt)
		p.Exec(b, "UPDATE sbtest.t SET v = REVERSE(v) WHERE id % 50 = "+strconv.Itoa(i%50)+" AND id > "+strconv.Itoa(i*500))
	}
	p.Exec(b, "FLUSH BINARY LOGS")
	var size uint64
	for _, f := range p.BinlogFiles(b) {
		if f.Name == file {
			size = f.Size
		}
	}

	emb, err := bus.StartEmbedded(context.Background(), bus.Options{Addr: "127.0.0.1:0", StoreDir: b.TempDir()}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Shutdown(context.Background())
	user, password := emb.Credentials() // the daemon publishes as the sidecar
	upURL := strings.Replace(emb.ClientURL(), "://", "://"+user+":"+password+"@", 1)

	for _, mode := range []struct{ name, url string }{
		{"bus_down", "nats://127.0.0.1:1"},
		{"bus_up", upURL},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var bytes uint64
			var took time.Duration
			for i := 0; i < b.N; i++ {
				n, d := replayOnce(b, p.Addr, mode.url, fmt.Sprintf("%s:4", file), size)
				bytes, took = bytes+n, took+d
			}
			b.ReportMetric(float64(bytes)/1e6/took.Seconds(), "stream-MB/s")
		})
	}
}

// replayOnce runs the daemon from start until it has counted the whole
// file, then stops it. It returns the bytes streamed between the first and
// the last observation and the time between them.
func replayOnce(b *testing.B, addr, natsURL, start string, size uint64) (uint64, time.Duration) {
	b.StopTimer()
	httpAddr := freeAddr(b)
	env := []string{
		"SIDECAR_MYSQL_ADDR=" + addr, "SIDECAR_MYSQL_USER=repl", "SIDECAR_MYSQL_PASSWORD=repl",
		"SIDECAR_INSTANCE=bench", "SIDECAR_START=" + start, "SIDECAR_STATS_INTERVAL=1s",
		"SIDECAR_HTTP_ADDR=" + httpAddr, "SIDECAR_NATS_URL=" + natsURL,
		"SIDECAR_DATA_DIR=" + b.TempDir(), "SIDECAR_LOG_LEVEL=error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, io.Discard, io.Discard) }()
	deadline := time.Now().Add(2 * time.Minute)
	var first uint64
	var firstAt time.Time
	for {
		n := streamedBytes("http://" + httpAddr + "/metrics")
		now := time.Now()
		// Time from a third of the file on: the first moments of a run
		// overlap the daemon's own start-up (first health poll, the bus
		// connection), which differs between the two modes.
		if n > size/3 && firstAt.IsZero() {
			first, firstAt = n, now
		}
		if n >= size-4 {
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			return n - first, now.Sub(firstAt)
		}
		if now.After(deadline) {
			b.Fatal("the daemon did not stream the whole file within 2 minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func streamedBytes(url string) uint64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "binlog_sidecar_stream_bytes_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return uint64(f)
		}
	}
	return 0
}
