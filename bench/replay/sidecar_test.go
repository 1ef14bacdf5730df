//go:build !nosidecar

package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

// TestReadSidecar_replay: a closed binlog file read to -end gives every
// byte from -start, every row and the end offset asked for.
func TestReadSidecar_replay(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE DATABASE r")
	p.Exec(t, "CREATE TABLE r.t (id INT PRIMARY KEY)")
	for i := range 20 {
		p.Exec(t, "INSERT INTO r.t VALUES (?)", i)
	}
	p.Exec(t, "FLUSH BINARY LOGS")
	f := p.BinlogFiles(t)[0]

	o := options{mode: "sidecar", addr: p.Addr, user: "repl", password: "repl", file: f.Name,
		start: 4, end: uint32(f.Size), serverID: 4000000101, maxDelay: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := readSidecar(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.End != uint32(f.Size) || res.Bytes != f.Size-4 || res.Rows != 20 || res.Events == 0 || res.Latency != nil {
		t.Errorf("got end %d, bytes %d, rows %d, events %d, latency %v; want end %d, bytes %d, rows 20, events > 0, no latency",
			res.End, res.Bytes, res.Rows, res.Events, res.Latency, f.Size, f.Size-4)
	}
}

// TestReadSidecar_liveWithProbe: a live tail (-end 0) with the probe on
// stops when the server rotates, at the size SHOW BINARY LOGS gives, and
// reports the probe rows' latency.
func TestReadSidecar_liveWithProbe(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "DROP TABLE IF EXISTS sbtest.latency") // the template has the database
	file, _ := p.MasterStatus(t)

	o := options{mode: "sidecar", addr: p.Addr, user: "repl", password: "repl", file: file,
		start: 4, serverID: 4000000101, maxDelay: 100 * time.Millisecond,
		probeEvery: 20 * time.Millisecond, probeUser: "bench", probePassword: "bench"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type outcome struct {
		res result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := readSidecar(ctx, o)
		done <- outcome{res, err}
	}()
	testwait.Until(t, "probe rows written", time.Minute, func() bool {
		rows := p.Query(t, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest' AND TABLE_NAME = 'latency'")
		if len(rows) == 0 || rows[0]["n"] != "1" {
			return false
		}
		n, _ := strconv.Atoi(p.Query(t, "SELECT COUNT(*) AS n FROM sbtest.latency")[0]["n"])
		return n >= 5
	})
	p.Exec(t, "FLUSH BINARY LOGS")
	out := <-done
	if out.err != nil {
		t.Fatal(out.err)
	}
	var size uint64
	for _, f := range p.BinlogFiles(t) {
		if f.Name == file {
			size = f.Size
		}
	}
	if res := out.res; uint64(res.End) != size || res.Bytes != size-4 || res.Latency == nil || res.Latency.Samples == 0 {
		t.Errorf("got end %d, bytes %d, latency %+v; want end %d, bytes %d, latency samples", res.End, res.Bytes, res.Latency, size, size-4)
	}
}

// TestReadSidecar_failsLoudly: a session that fails (a wrong password) ends
// the read with the stream's error instead of retrying.
func TestReadSidecar_failsLoudly(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	file, _ := p.MasterStatus(t)
	o := options{mode: "sidecar", addr: p.Addr, user: "repl", password: "wrong", file: file,
		start: 4, serverID: 4000000101}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := readSidecar(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "binlog stream failed") {
		t.Errorf("got %v, want binlog stream failed", err)
	}
}
