package testnats

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds the wait for the server to be ready; reached only
// when it cannot start, never by a loaded machine being slow.
const readyTimeout = time.Minute

// logTailLines is how much of the server's log a failed test shows.
const logTailLines = 40

// Server is one nats-server process with a fixed port and store directory
// that survive Kill and Start.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	conf string // configuration file, or empty
	// name and monitor are a cluster node's server_name and monitoring
	// port (StartCluster); empty and 0 otherwise.
	name    string
	monitor int
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd exited and was reaped
	// killing is set while an exit is ours (Kill, the test's end); a
	// process that exits without it died unexpectedly.
	killing atomic.Bool
	// died says how the process ended when it died unexpectedly.
	died atomic.Pointer[string]
}

// Require returns the nats-server binary, or skips (fails under CI=1).
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("testnats: -short runs no nats-server process (make unit); make test runs them")
	}
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nats-server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nats-server not found (apt-get install nats-server): %v", err)
			}
			t.Skipf("nats-server not found (apt-get install nats-server): %v", err)
		}
	}
	return bin
}

// Start runs nats-server -js on a free loopback port with its store in a
// temporary directory, waits until it is ready, and kills it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.Start()
	return s
}

// StartConfig is Start with a nats-server configuration file holding
// conf (e.g. "max_payload: 1048576"); the command-line flags for port,
// address, JetStream and store still apply.
func StartConfig(t testing.TB, conf string) *Server {
	t.Helper()
	s := New(t)
	s.conf = filepath.Join(s.dir, "server.conf")
	if err := os.WriteFile(s.conf, []byte(conf+"\n"), 0o600); err != nil {
		t.Fatalf("testnats: write config: %v", err)
	}
	s.Start()
	return s
}

// New is Start without starting: the port and store are chosen, so a
// client can be pointed at URL() while the bus is still down; Start
// brings it up. At the test's end the server is killed, and if the test
// failed or the server died unexpectedly (which fails the test) the tail
// of its log is printed into the test output.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), port: freePort(t)}
	t.Cleanup(s.Kill)
	t.Cleanup(s.report) // runs before the Kill above
	return s
}

// URL is the client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Name is a cluster node's server_name (n1, n2, ...), as JetStream
// names stream leaders; empty for a single server.
func (s *Server) Name() string { return s.name }

// PID is the running process's id, 0 when it is not running.
func (s *Server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// MonitorURL is a cluster node's HTTP monitoring endpoint (/varz,
// /connz, ...); empty for a single server.
func (s *Server) MonitorURL() string {
	if s.monitor == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", s.monitor)
}

// StoreDir is the JetStream store directory, kept across restarts.
func (s *Server) StoreDir() string { return s.dir }

// Start (re)starts the process on the same port and store and waits until
// it is ready: its own "Server is ready" line in its log (a connect alone
// could reach another process that took the port) and a connect.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("testnats: already running")
	}
	args := []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir, "-l", s.logPath()}
	if s.conf != "" {
		args = append([]string{"-c", s.conf}, args...)
	}
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testnats: start: %v", err)
	}
	s.killing.Store(false)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if !s.killing.Load() {
			how := cmd.ProcessState.String()
			s.died.Store(&how)
		}
		close(done)
	}()
	s.cmd, s.done = cmd, done
	ready := fmt.Sprintf("[%d] ", cmd.Process.Pid)
	for deadline := time.Now().Add(readyTimeout); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			s.t.Fatalf("testnats: nats-server on %s exited while starting (%s); its log ends:\n%s", s.URL(), cmd.ProcessState, s.logTail())
		default:
		}
		if s.logged(ready, "Server is ready") {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
			if err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("testnats: nats-server on %s not ready after %s; its log ends:\n%s", s.URL(), readyTimeout, s.logTail())
		}
	}
}

// Kill sends SIGKILL and reaps the process: no shutdown, no flush, like a
// crash. It does nothing when the server is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.killing.Store(true)
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// report runs at the test's end, before the server is killed: a server
// that died unexpectedly fails the test, and for it or any failed test
// the tail of its log goes into the test output.
func (s *Server) report() {
	died := s.died.Load()
	if died == nil && !s.t.Failed() {
		return
	}
	why := "the test failed"
	if died != nil {
		why = "nats-server exited unexpectedly (" + *died + ")"
		s.t.Errorf("testnats: %s: %s", s.URL(), why)
	}
	s.t.Logf("testnats: nats-server on %s: %s; its log (%s) ends:\n%s", s.URL(), why, s.logPath(), s.logTail())
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "server.log") }

// logged reports whether the log has a line starting with prefix (the
// process id, which every line carries) that contains msg.
func (s *Server) logged(prefix, msg string) bool {
	b, _ := os.ReadFile(s.logPath())
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, msg) {
			return true
		}
	}
	return false
}

// logTail returns the last logTailLines lines of the server's log, which
// holds every run of the process (Kill and Start append to it).
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(len(lines)-logTailLines, 0):], []byte("\n")))
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds; on these machines that has not happened.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnats: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartCluster starts n nats-server processes with JetStream as one
// cluster, routed to each other on loopback (each its own port, store,
// server name and HTTP monitoring port), and kills them at cleanup. The
// caller waits for JetStream's meta leader as it needs (creating a stream
// with n replicas succeeds once there is one). Kill and Start act on one
// node.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = freePort(t)
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*Server, n)
	for i := range nodes {
		s := New(t)
		s.conf = filepath.Join(s.dir, "server.conf")
		s.name, s.monitor = fmt.Sprintf("n%d", i+1), freePort(t)
		conf := fmt.Sprintf("server_name: %s\nhttp: 127.0.0.1:%d\ncluster {\n  name: testnats\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			s.name, s.monitor, routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("testnats: write config: %v", err)
		}
		nodes[i] = s
	}
	for _, s := range nodes {
		s.Start()
	}
	return nodes
}

// URLs are the client URLs of servers, comma-separated, as
// SIDECAR_NATS_URL takes them.
func URLs(servers []*Server) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// JetStream connects a client to url for the rest of the test (closed at
// its cleanup) and returns its JetStream context; a failure ends the test.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("testnats: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testnats: jetstream: %v", err)
	}
	return js
}
