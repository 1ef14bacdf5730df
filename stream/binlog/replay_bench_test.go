package binlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// BenchmarkReplay streams one sysbench binlog file from a real server
// (lab-notes 4.1 recipe, scaled down) through go-mysql's raw syncer, the
// sidecar's Source, and go-mysql's full decoder, in the same process on the
// same machine, and reports MB/s and CPU per event of each. Each op replays
// the whole file. Needs mariadbd and sysbench; size with -replay-tx.
func BenchmarkReplay(b *testing.B) {
	if _, err := exec.LookPath("sysbench"); err != nil {
		b.Skip("sysbench not installed")
	}
	p := testdb.StartPrimary(b, testdb.Options{Name: "bp", Extra: []string{
		"--binlog-annotate-row-events=OFF", "--innodb-flush-log-at-trx-commit=2"}})
	opts := []string{"--db-driver=mysql", "--mysql-socket=" + p.Socket, "--mysql-user=bench",
		"--mysql-password=bench", "--mysql-db=sbtest", "--tables=4", "--table-size=10000"}
	run := func(args ...string) {
		out, err := exec.Command("sysbench", append(append([]string{"oltp_write_only"}, opts...), args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("sysbench %v: %v\n%s", args, err, out)
		}
	}
	run("prepare", "--threads=2")
	p.Exec(b, "FLUSH BINARY LOGS")
	file, _ := p.MasterStatus(b)
	run("run", "--threads=2", fmt.Sprintf("--events=%d", replayTx), "--time=0")
	p.Exec(b, "FLUSH BINARY LOGS")
	var size uint64
	for _, f := range p.BinlogFiles(b) {
		if f.Name == file {
			size = f.Size
		}
	}
	events := countEvents(b, filepath.Join(p.DataDir, file))
	b.Logf("replaying %s: %d bytes, %d events", file, size, events)

	readers := []struct {
		name string
		read func(b *testing.B)
	}{
		{"go-mysql-raw", func(b *testing.B) { syncerReplay(b, p, file, size, true) }},
		{"sidecar", func(b *testing.B) { sidecarReplay(b, p, file, size) }},
		{"go-mysql-full", func(b *testing.B) { syncerReplay(b, p, file, size, false) }},
	}
	for _, r := range readers {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			cpu0 := cpuTime()
			start := time.Now()
			for b.Loop() {
				r.read(b)
			}
			n := float64(b.N) * float64(events)
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/n, "cpu-ns/event")
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "wall-ns/event")
			// Process-wide peak: meaningful when one reader runs per
			// process (-bench 'BenchmarkReplay/sidecar').
			b.ReportMetric(float64(maxRSS())/1024, "peak-RSS-MiB")
		})
	}
}

// replayTx is the number of sysbench transactions of BenchmarkReplay.
var replayTx = 20000

// countEvents counts a binlog file's events by walking the headers.
func countEvents(b *testing.B, path string) int {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	if _, err := r.Discard(4); err != nil {
		b.Fatal(err)
	}
	n := 0
	hdr := make([]byte, headerLen)
	for {
		if _, err := io.ReadFull(r, hdr); err == io.EOF {
			return n
		} else if err != nil {
			b.Fatal(err)
		}
		n++
		if _, err := r.Discard(int(binary.LittleEndian.Uint32(hdr[9:])) - headerLen); err != nil {
			b.Fatal(err)
		}
	}
}

func maxRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss // KiB on Linux
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syncerReplay is lab-notes 4.2 reader (a) or (b).
func syncerReplay(b *testing.B, p *testdb.Server, file string, size uint64, raw bool) {
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4000000100, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(p.Port),
		User: "repl", Password: "repl", RawModeEnabled: raw, DisableRetrySync: true,
		Logger: slog.New(slog.DiscardHandler),
	})
	defer s.Close()
	st, err := s.StartSync(mysql.Position{Name: file, Pos: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows := 0
	for {
		e, err := st.GetEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if re, ok := e.Event.(*replication.RowsEvent); ok {
			rows += len(re.Rows)
		}
		if e.Header.Timestamp != 0 && uint64(e.Header.LogPos) >= size {
			return
		}
	}
}

func sidecarReplay(b *testing.B, p *testdb.Server, file string, size uint64) {
	stop := stream.Position{File: file, Pos: uint32(size)}
	m := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second})
	src := New(Config{Addr: p.Addr, User: "sidecar", Password: "sidecar", ServerID: 4000000101,
		Start: fmt.Sprintf("%s:4", file), StopAt: &stop}, m, zerolog.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := src.Run(ctx); err != nil || ctx.Err() != nil {
		b.Fatalf("Run = %v (ctx %v)", err, ctx.Err())
	}
	if got := m.Snapshot().Bytes; got != size-4 {
		b.Fatalf("counted %d bytes, want %d", got, size-4)
	}
}
