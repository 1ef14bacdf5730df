// Command replay reads one binlog file from a MariaDB primary through one
// reader and prints one line of JSON with what it read. It is the reader
// half of `make bench` (bench/run.sh); see bench/README.md.
//
// Modes:
//
//	sidecar  the project's stream (stream/binlog.Source feeding a stream.Meter)
//	framing  the floor: COM_BINLOG_DUMP, a 1 MiB buffered reader, the packet
//	         header and the event header, nothing else
//	raw      go-mysql BinlogSyncer with RawModeEnabled (no event parsing)
//	full     go-mysql BinlogSyncer with default parsing, rows decoded
//	canal    go-mysql canal, rows decoded into canal.RowsEvent
//
// Every reader starts at -file:-start. With -end > 0 it stops once it has
// read up to that offset (the size of the file: a replay); with -end 0 it
// stops at the first real ROTATE, i.e. when the server closes the file (a
// live tail). Either way it checks that it read every byte from -start to
// the end of the file and exits 1 otherwise.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// result is the JSON line a reader prints.
type result struct {
	Mode  string `json:"mode"`
	File  string `json:"file"`
	Start uint32 `json:"start"`
	// End is the offset the reader stopped at (the file size when the
	// file was read to its ROTATE).
	End uint32 `json:"end"`
	// Events counts the events the reader was handed, fake ROTATE,
	// artificial FORMAT_DESCRIPTION and heartbeats excluded. canal hands
	// its handler only rows, XID, GTID and ROTATE events.
	Events uint64 `json:"events"`
	// Bytes counts whole events (header, body, checksum) as written to the
	// file; for canal, which hides event sizes of the events it does not
	// hand over, it is the distance the position advanced.
	Bytes uint64 `json:"bytes"`
	// Rows counts changed rows, an UPDATE of one row counting 1.
	Rows uint64 `json:"rows"`
	// WallSeconds runs from before the connection to after Close.
	WallSeconds float64 `json:"wall_s"`
	// Latency (sidecar with -probe-every): from writing a row to the
	// stream having counted its transaction.
	Latency *latency `json:"latency,omitempty"`
}

// latency summarises the probe rows' event-to-counted times.
type latency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

type options struct {
	mode     string
	addr     string
	user     string
	password string
	file     string
	start    uint32
	end      uint32
	serverID uint32
	timeout  time.Duration
	// maxDelay is the sidecar's Config.MaxDelay.
	maxDelay time.Duration
	// probe: a row every probeEvery written as probeUser (sidecar only).
	probeEvery               time.Duration
	probeUser, probePassword string
}

type reader func(ctx context.Context, o options) (result, error)

// readers maps -mode to its implementation; sidecar.go adds "sidecar".
var readers = map[string]reader{
	"framing": readFraming,
	"raw":     readSyncer(true),
	"full":    readSyncer(false),
	"canal":   readCanal,
}

func main() {
	var o options
	var start, end, serverID uint
	flag.StringVar(&o.mode, "mode", "raw", "reader: sidecar, raw, full or canal")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:3306", "primary host:port")
	flag.StringVar(&o.user, "user", "repl", "replication user")
	flag.StringVar(&o.password, "password", "repl", "replication password")
	flag.StringVar(&o.file, "file", "", "binlog file name to read (required)")
	flag.UintVar(&start, "start", 4, "offset to start at")
	flag.UintVar(&end, "end", 0, "offset to stop at (the file size); 0: stop at the file's real ROTATE")
	flag.UintVar(&serverID, "server-id", 0, "server_id to register with; 0: a fixed id per mode")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.DurationVar(&o.maxDelay, "max-delay", 100*time.Millisecond, "sidecar: SIDECAR_STREAM_MAX_DELAY")
	flag.DurationVar(&o.probeEvery, "probe-every", 0, "sidecar: write a timestamped row this often and report when each was counted; 0: off")
	flag.StringVar(&o.probeUser, "probe-user", "bench", "sidecar: user that writes the probe rows (into sbtest.latency)")
	flag.StringVar(&o.probePassword, "probe-password", "bench", "sidecar: its password")
	flag.Parse()
	o.start, o.end, o.serverID = uint32(start), uint32(end), uint32(serverID)

	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "replay %s: %v\n", o.mode, err)
		os.Exit(1)
	}
}

func run(o options) error {
	read, ok := readers[o.mode]
	if !ok {
		return fmt.Errorf("unknown mode %q", o.mode)
	}
	if o.file == "" {
		return errors.New("-file is required")
	}
	if o.start < 4 {
		return fmt.Errorf("-start %d: must be at least 4", o.start)
	}
	if o.end != 0 && o.end <= o.start {
		return fmt.Errorf("-end %d: must be past -start %d", o.end, o.start)
	}
	if o.serverID == 0 {
		o.serverID = defaultServerID[o.mode]
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	t0 := time.Now()
	res, err := read(ctx, o)
	res.WallSeconds = time.Since(t0).Seconds()
	res.Mode, res.File, res.Start = o.mode, o.file, o.start
	if err != nil {
		return err
	}
	// The whole file, no more and no less.
	if o.end != 0 && res.End != o.end {
		return fmt.Errorf("stopped at %d, want %d", res.End, o.end)
	}
	if want := uint64(res.End - o.start); res.Bytes != want {
		return fmt.Errorf("read %d bytes, want %d (%s from %d to %d)", res.Bytes, want, o.file, o.start, res.End)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// defaultServerID gives each mode its own server_id, so that no reader
// displaces another or a replica (lab-notes §3.5).
var defaultServerID = map[string]uint32{
	"sidecar": 4000000101,
	"raw":     4000000102,
	"full":    4000000103,
	"canal":   4000000104,
	"framing": 4000000105,
}
