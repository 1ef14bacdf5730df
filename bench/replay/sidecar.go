//go:build !nosidecar

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
	"github.com/binlog-sidecar/binlog-sidecar/stream/binlog"
)

func init() { readers["sidecar"] = readSidecar }

// readSidecar runs the project's stream exactly as the daemon builds it,
// minus logging, and reads the figures back from its meter. A replay stops
// at file:end; a live tail stops at the start of the next file, which the
// position reaches when the server rotates.
func readSidecar(ctx context.Context, o options) (result, error) {
	stop, err := stopAt(o)
	if err != nil {
		return result{}, err
	}
	meter := stream.NewMeter(stream.MeterOptions{HeartbeatPeriod: time.Second})
	var pr *probe
	if o.probeEvery > 0 {
		pr = &probe{}
	}
	src := newSidecarSource(o, stop, meter, pr)
	if err := runSidecar(ctx, o, src, pr); err != nil {
		return result{}, err
	}
	return sidecarResult(ctx, o, stop, meter.Snapshot(), pr)
}

// stopAt is where the stream stops: file:end for a replay, the start of
// the next file for a live tail.
func stopAt(o options) (stream.Position, error) {
	if o.end != 0 {
		return stream.Position{File: o.file, Pos: o.end}, nil
	}
	next, err := nextFile(o.file)
	if err != nil {
		return stream.Position{}, err
	}
	return stream.Position{File: next, Pos: 4}, nil
}

// newSidecarSource builds the stream from o, reporting commits to pr when
// there is a probe.
func newSidecarSource(o options, stop stream.Position, meter *stream.Meter, pr *probe) *binlog.Source {
	var onCommit func(stream.GTID)
	if pr != nil {
		onCommit = pr.onCommit
	}
	return binlog.New(binlog.Config{
		Addr:            o.addr,
		User:            o.user,
		Password:        o.password,
		Flavor:          "mariadb",
		ServerID:        o.serverID,
		HeartbeatPeriod: time.Second,
		Start:           stream.Position{File: o.file, Pos: o.start}.String(),
		StopAt:          &stop,
		MaxDelay:        o.maxDelay,
		OnCommit:        onCommit,
	}, meter, zerolog.Nop())
}

// runSidecar runs src, and the probe's writer when there is one, until the
// stream stops. Run retries every failure forever (the daemon must not
// crash-loop); a benchmark must fail loudly instead, at the first failed
// session.
func runSidecar(ctx context.Context, o options, src *binlog.Source, pr *probe) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	probeErr := make(chan error, 1)
	if pr != nil {
		pctx, stopProbe := context.WithCancel(ctx)
		defer stopProbe()
		go func() { probeErr <- pr.write(pctx, o) }()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("run binlog source: %w", err)
			}
			if e := src.LastError(); e != nil {
				return fmt.Errorf("binlog stream failed: %w", e)
			}
			return nil
		case e := <-probeErr:
			if e != nil {
				cancel()
				<-done
				return e
			}
		case <-tick.C:
			if e := src.LastError(); e != nil {
				cancel()
				<-done
				return fmt.Errorf("binlog stream failed: %w", e)
			}
		}
	}
}

// sidecarResult is what the meter counted, and where the stream ended,
// checked against stop.
func sidecarResult(ctx context.Context, o options, stop stream.Position, snap stream.Snapshot, pr *probe) (result, error) {
	var res result
	if snap.Reconnects != 0 {
		return res, fmt.Errorf("binlog stream reconnected %d times; the timing is not comparable", snap.Reconnects)
	}
	if pr != nil {
		res.Latency = pr.summary()
	}
	res.Events = snap.EventsTotal() - snap.Events[stream.EventHeartbeat]
	res.Bytes = snap.Bytes
	res.Rows = snap.Rows.Total()
	next, err := nextFile(o.file)
	if err != nil {
		return res, err
	}
	switch {
	case snap.Position.File == o.file:
		res.End = snap.Position.Pos
	case snap.Position.Compare(stream.Position{File: next, Pos: 4}) != 0:
		return res, fmt.Errorf("stopped at %s, want %s", snap.Position, stop)
	case o.end != 0:
		// The file's ROTATE was read, so the stream reached its end,
		// which is -end; the byte count below checks nothing was missed.
		res.End = o.end
	default:
		// Live: the file ended where the server says it did.
		size, err := fileSize(ctx, o)
		if err != nil {
			return res, err
		}
		res.End = size
	}
	return res, nil
}

// nextFile is the name the server rotates to: bp-bin.000007 → bp-bin.000008.
func nextFile(name string) (string, error) {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseUint(name[i+1:], 10, 32)
	if i < 0 || err != nil {
		return "", fmt.Errorf("binlog file %q has no numeric extension", name)
	}
	ext := strconv.FormatUint(n+1, 10)
	if pad := len(name) - i - 1 - len(ext); pad > 0 {
		ext = strings.Repeat("0", pad) + ext
	}
	return name[:i+1] + ext, nil
}

// fileSize reads the size of o.file from SHOW BINARY LOGS.
func fileSize(ctx context.Context, o options) (uint32, error) {
	c, err := client.ConnectWithContext(ctx, o.addr, o.user, o.password, "", 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("connect for SHOW BINARY LOGS: %w", err)
	}
	defer c.Quit()
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return 0, fmt.Errorf("show binary logs: %w", err)
	}
	for i := range r.Values {
		name, _ := r.GetString(i, 0)
		if name == o.file {
			size, err := r.GetUint(i, 1)
			return uint32(size), err
		}
	}
	return 0, fmt.Errorf("show binary logs: %s not listed", o.file)
}
