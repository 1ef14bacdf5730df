package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// bound is how long a test waits for something that must happen; it is a
// bound on a hung test, never a measured figure.
const bound = 30 * time.Second

// running starts a Server on a free loopback port and stops it at the end
// of the test, checking that it shut down cleanly.
func running(t *testing.T, opts ...Option) (*Server, string) {
	t.Helper()
	s := New("", testSources(), zerolog.Nop(), opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v at shutdown, want nil", err)
			}
		case <-time.After(bound):
			t.Errorf("Serve did not return within %s of shutdown", bound)
		}
	})
	return s, ln.Addr().String()
}

func testSources() Sources {
	return Sources{
		Stream: func() stream.Snapshot { return stream.Snapshot{} },
		Health: func() health.Report { return health.Report{Health: health.StatusOK} },
		Bus:    func() events.Stats { return events.Stats{} },
		Live:   func() error { return nil },
	}
}

// testLimits are the defaults with the one under test changed.
func testLimits(change func(*Limits)) Limits {
	l := DefaultLimits()
	change(&l)
	return l
}

// keepAlive opens a connection, makes one request on it and leaves it open
// and idle, as a keep-alive client does.
func keepAlive(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	fmt.Fprint(c, "GET /livez HTTP/1.1\r\nHost: sidecar\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: %d, close %v; want 200 on a kept connection", resp.StatusCode, resp.Close)
	}
	return c
}

// getOnce makes a request on a fresh connection.
func getOnce(addr, path string) (int, error) {
	client := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// closedByServer reports whether the server closed c: a read ends with EOF
// (or a reset) rather than the test's own deadline.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(bound))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// Idle keep-alive connections are closed after the idle timeout, so a full
// connection cap frees itself and /livez gets through.
func TestServer_IdleConnectionsClosedAndLivezGetsThrough(t *testing.T) {
	const maxConns = 4
	s, addr := running(t, WithLimits(testLimits(func(l *Limits) {
		l.MaxConns, l.IdleTimeout = maxConns, 300*time.Millisecond
	})))
	idle := make([]net.Conn, maxConns)
	for i := range idle {
		idle[i] = keepAlive(t, addr)
	}
	if code, err := getOnce(addr, "/livez"); err != nil || code != 200 {
		t.Fatalf("/livez with the cap full of idle connections: %d, %v; want 200 once they time out", code, err)
	}
	for i, c := range idle {
		if !closedByServer(c) {
			t.Errorf("idle connection %d was not closed by the server", i)
		}
	}
	if _, peak := s.conns.stats(); peak > maxConns {
		t.Errorf("%d connections were open at once, want at most %d", peak, maxConns)
	}
}

// Connections beyond the cap wait until one closes; they are served then.
func TestServer_ConnectionCap(t *testing.T) {
	const maxConns = 4
	s, addr := running(t, WithLimits(testLimits(func(l *Limits) { l.MaxConns = maxConns })))
	idle := make([]net.Conn, maxConns)
	for i := range idle {
		idle[i] = keepAlive(t, addr)
	}
	type result struct {
		code int
		err  error
	}
	extra := make(chan result, 1)
	go func() {
		code, err := getOnce(addr, "/livez")
		extra <- result{code, err}
	}()
	// While the cap is full the extra request waits. A wait that ends early
	// would prove the cap missing; one that lasts proves nothing, so this
	// check can only fail for a real reason.
	select {
	case r := <-extra:
		t.Fatalf("request beyond the cap answered (%d, %v) while %d connections were open", r.code, r.err, maxConns)
	case <-time.After(500 * time.Millisecond):
	}
	idle[0].Close() // a slot frees: the extra connection is accepted
	if r := <-extra; r.err != nil || r.code != 200 {
		t.Fatalf("request beyond the cap: %d, %v; want 200 after a slot freed", r.code, r.err)
	}
	if _, peak := s.conns.stats(); peak > maxConns {
		t.Errorf("%d connections were open at once, want at most %d", peak, maxConns)
	}
}

// bigHeader is a request whose headers take n bytes in all, unfinished
// unless finish is set.
func bigHeader(n int, finish bool) []byte {
	head := "GET /livez HTTP/1.1\r\nHost: sidecar\r\nX-Big: "
	b := []byte(head + strings.Repeat("a", n-len(head)))
	if finish {
		b = append(b[:len(b)-4], "\r\n\r\n"...)
	}
	return b
}

// Request headers over 16 KiB get 431 from a real client's point of view;
// headers just under the limit are served.
func TestServer_HeaderLimit(t *testing.T) {
	_, addr := running(t)
	client := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		name  string
		bytes int
		want  int
	}{
		{"15 KiB", 15 << 10, 200},
		{"16 KiB and a bit", 16<<10 + 100, 431},
		{"64 KiB", 64 << 10, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/livez", nil)
			// The request line and Host take about 60 bytes of the total.
			req.Header.Set("X-Big", strings.Repeat("a", tt.bytes-100))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s of headers: %d, want %d", tt.name, resp.StatusCode, tt.want)
			}
		})
	}
}

// Many clients each sending 1 MB of unfinished headers get 431 at the
// limit and are disconnected; the server does not hold their megabytes.
func TestServer_HugeHeadersDoNotBalloonMemory(t *testing.T) {
	const clients = 64
	_, addr := running(t)
	payload := bigHeader(1_000_000, false)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var written, answered sync.WaitGroup
	codes := make(chan string, clients)
	for range clients {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		written.Add(1)
		answered.Add(1)
		go func() { // read while writing, as the server answers mid-request
			defer answered.Done()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				codes <- err.Error()
				return
			}
			resp.Body.Close()
			codes <- resp.Status
		}()
		go func() {
			defer written.Done()
			c.Write(payload) // fails once the server has answered and closed
		}()
	}
	written.Wait()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	answered.Wait()
	close(codes)
	for code := range codes {
		if !strings.HasPrefix(code, "431") {
			t.Errorf("1 MB of headers answered %q, want 431", code)
		}
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 24<<20 {
		t.Errorf("the heap grew by %d MiB holding %d clients' headers, want far less than their 64 MB", grew>>20, clients)
	}
}

// A client that trickles its headers is cut at the read-header timeout
// before it finishes.
func TestServer_SlowHeadersCut(t *testing.T) {
	_, addr := running(t, WithLimits(testLimits(func(l *Limits) { l.ReadHeaderTimeout = 500 * time.Millisecond })))
	c, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bound))
	fmt.Fprint(c, "GET /livez HTTP/1.1\r\nHost: sidecar\r\nX-Slow: ")
	cut := make(chan error, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		cut <- err
	}()
	// 200 bytes, one every 50 ms: far longer than the timeout, and bounded.
	for i := 0; i < 200; i++ {
		select {
		case err := <-cut:
			if strings.HasPrefix(err.Error(), "answered") {
				t.Fatalf("the slow client was %v, want the connection cut", err)
			}
			return // cut before the headers were complete
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := c.Write([]byte("a")); err != nil {
			return // cut: the server closed the connection
		}
	}
	fmt.Fprint(c, "\r\n\r\n")
	t.Fatalf("the slow client finished its headers (%v), want it cut first", <-cut)
}

// Only GET and HEAD, on every path: anything else is 405 with Allow.
func TestServer_MethodsOtherThanGetAndHeadRefused(t *testing.T) {
	_, addr := running(t)
	client := &http.Client{Timeout: bound}
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/livez", 200},
		{"HEAD", "/livez", 200},
		{"HEAD", "/metrics", 200},
		{"POST", "/livez", 405},
		{"PUT", "/status", 405},
		{"DELETE", "/metrics", 405},
		{"POST", "/no-such-path", 405},
		{"TRACE", "/", 405},
		{"GET", "/no-such-path", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, strings.NewReader(""))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
		if tt.want == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q, want \"GET, HEAD\"", tt.method, tt.path, resp.Header.Get("Allow"))
		}
	}
}

// Shutdown completes with the cap full, a client waiting beyond it and a
// client stuck mid-headers: the stuck one is cut after the grace period.
func TestServer_ShutdownWithCapFull(t *testing.T) {
	const maxConns = 2
	s := New("", testSources(), zerolog.Nop(), WithLimits(testLimits(func(l *Limits) {
		l.MaxConns, l.ReadHeaderTimeout, l.ReadTimeout = maxConns, time.Hour, time.Hour
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	keepAlive(t, addr)
	stuck, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	fmt.Fprint(stuck, "GET /livez HTTP/1.1\r\nHost: sid")
	waiting, err := net.DialTimeout("tcp", addr, bound) // in the accept queue
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	deadline := time.Now().Add(bound)
	for open, _ := s.conns.stats(); open < maxConns; open, _ = s.conns.stats() {
		if time.Now().After(deadline) {
			t.Fatal("the stuck connection was never accepted")
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil after cutting the stuck client", err)
		}
	case <-time.After(bound):
		t.Fatalf("Serve did not return within %s of shutdown", bound)
	}
	if !closedByServer(stuck) {
		t.Error("the stuck client was not disconnected at shutdown")
	}
}
